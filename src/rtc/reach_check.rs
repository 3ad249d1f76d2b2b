//! The network check's reasoning (the `/network` page): what one browser's ICE gathering, with the relay's
//! STUN/TURN servers, says about the calls it can make.
//!
//! The glue (`rtc::gathering`) gathers candidates on a throwaway connection and hands each one here as a
//! [`Gathered`] (its line, the server URL it came from, how a relay candidate reaches its TURN server,
//! when it arrived). This module parses it, groups it by server with an estimate of the round-trip time
//! ([`server_readings`]), and turns what was reached into a [`Verdict`] in words ([`verdict`]). Pure: no
//! `web_sys`, no Leptos, no clock.

use peerlab_protocol::IceSummary;

use super::diagnosis::Found;
use super::negotiation::CandidateType;
use super::negotiation::RelayTransport;

/// How long the check waits for servers to answer before it judges. A STUN or TURN server that answers
/// at all does so within a second or two even far away; over blocked UDP the browser keeps retrying for
/// about 40 s, which nobody should have to wait for.
pub const GATHER_DEADLINE_MS: u32 = 10_000;

/// One candidate the check gathered.
#[derive(Clone, Debug, PartialEq)]
pub struct Gathered {
    pub kind: CandidateType,
    /// `udp` or `tcp`: how the other side would reach this candidate.
    pub protocol: String,
    /// An IP address, or an mDNS name (`….local`) behind which the browser hides a local address.
    pub address: String,
    pub port: Option<u16>,
    /// The STUN or TURN server it came from (`RTCPeerConnectionIceEvent.url`); `None` for host candidates.
    pub url: Option<String>,
    /// How a relay candidate reaches its TURN server.
    pub relay: Option<RelayTransport>,
    /// Milliseconds from the start of gathering to this candidate.
    pub at_ms: f64,
}

impl Gathered {
    /// Reads a `candidate:` line; `None` for a line without a known type. A relay candidate whose
    /// browser does not report `relayProtocol` takes the transport its TURN URL names.
    pub fn parse(
        line: &str,
        url: Option<String>,
        relay: Option<RelayTransport>,
        at_ms: f64,
    ) -> Option<Self> {
        let line = line.trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        let kind = words
            .iter()
            .position(|w| *w == "typ")
            .and_then(|i| words.get(i + 1))
            .and_then(|w| CandidateType::parse(w))?;
        let url = url.filter(|u| !u.is_empty());
        let relay = match kind {
            CandidateType::Relay => relay.or_else(|| url.as_deref().map(transport_of_url)),
            _ => None,
        };
        Some(Gathered {
            kind,
            protocol: words.get(2).unwrap_or(&"?").to_ascii_lowercase(),
            address: words.get(4).unwrap_or(&"?").to_string(),
            port: words.get(5).and_then(|p| p.parse().ok()),
            url,
            relay,
            at_ms,
        })
    }
}

/// The transport a TURN URL names (`turns:` is TLS, `?transport=tcp` TCP, anything else UDP).
fn transport_of_url(url: &str) -> RelayTransport {
    let summary = IceSummary::from_urls([url]);
    if summary.turn_tls {
        RelayTransport::Tls
    } else if summary.turn_tcp {
        RelayTransport::Tcp
    } else {
        RelayTransport::Udp
    }
}

/// The kind of server a URL names, which sets how many round trips its first answer takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    Stun,
    Turn(RelayTransport),
}

impl ServerKind {
    /// `None` for a URL that is neither `stun:` nor `turn:`/`turns:`.
    pub fn of(url: &str) -> Option<Self> {
        let summary = IceSummary::from_urls([url]);
        if summary.stun {
            Some(ServerKind::Stun)
        } else if summary.has_turn() {
            Some(ServerKind::Turn(transport_of_url(url)))
        } else {
            None
        }
    }

    /// Round trips between the first packet to the server and its first candidate: a STUN binding is one;
    /// a TURN allocation two (the first request is refused with a challenge for the credentials), plus the
    /// TCP handshake over TCP, plus a TLS 1.3 handshake over TLS.
    pub fn round_trips(self) -> f64 {
        match self {
            ServerKind::Stun => 1.0,
            ServerKind::Turn(RelayTransport::Udp) => 2.0,
            ServerKind::Turn(RelayTransport::Tcp) => 3.0,
            ServerKind::Turn(RelayTransport::Tls) => 4.0,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ServerKind::Stun => "STUN",
            ServerKind::Turn(RelayTransport::Udp) => "TURN over UDP",
            ServerKind::Turn(RelayTransport::Tcp) => "TURN over TCP",
            ServerKind::Turn(RelayTransport::Tls) => "TURN over TLS",
        }
    }
}

/// What one configured server did during the check.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerReading {
    pub url: String,
    pub kind: ServerKind,
    /// Candidates that came from it.
    pub candidates: usize,
    /// Milliseconds from the start of gathering to its first candidate; `None`: it never answered.
    pub answered_ms: Option<f64>,
    /// The round-trip time estimated from that: the time since the first host candidate (when the
    /// browser's sockets were ready to send) divided by the round trips its answer takes. An estimate,
    /// good to tens of milliseconds; no browser reports the real figure for a server without a call.
    pub rtt_ms: Option<f64>,
}

/// One reading per configured STUN/TURN URL, in the order given (URLs of other schemes are left out),
/// then one per URL that candidates named but nobody configured (a browser that spells a URL its own
/// way); their kind comes from the URL too.
pub fn server_readings(configured: &[String], gathered: &[Gathered]) -> Vec<ServerReading> {
    let sockets_ready = gathered
        .iter()
        .filter(|g| g.kind == CandidateType::Host)
        .map(|g| g.at_ms)
        .fold(None, |min: Option<f64>, t| {
            Some(min.map_or(t, |m| m.min(t)))
        })
        .unwrap_or(0.0);
    let mut urls: Vec<&str> = configured.iter().map(String::as_str).collect();
    for g in gathered {
        if let Some(url) = g.url.as_deref() {
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
    }
    urls.into_iter()
        .filter_map(|url| {
            let kind = ServerKind::of(url)?;
            let from_it: Vec<&Gathered> = gathered
                .iter()
                .filter(|g| g.url.as_deref() == Some(url))
                .collect();
            let answered_ms = from_it
                .iter()
                .map(|g| g.at_ms)
                .fold(None, |min: Option<f64>, t| {
                    Some(min.map_or(t, |m| m.min(t)))
                });
            Some(ServerReading {
                url: url.to_owned(),
                kind,
                candidates: from_it.len(),
                answered_ms,
                rtt_ms: answered_ms.map(|t| ((t - sockets_ready).max(0.0)) / kind.round_trips()),
            })
        })
        .collect()
}

/// The best way out this browser found, from the kinds of candidate gathered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reached {
    /// Only this device's own addresses.
    HostOnly,
    /// A STUN server saw the public address (server-reflexive candidates).
    Stun,
    /// A TURN server gave a relay address over UDP.
    TurnUdp,
    /// A TURN server gave a relay address over TCP or TLS only.
    TurnTcp,
}

impl Reached {
    /// The stable token of `data-reached`, for tests.
    pub fn token(self) -> &'static str {
        match self {
            Reached::HostOnly => "host-only",
            Reached::Stun => "stun",
            Reached::TurnUdp => "turn-udp",
            Reached::TurnTcp => "turn-tcp",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Reached::HostOnly => "Host only",
            Reached::Stun => "STUN works (server-reflexive address)",
            Reached::TurnUdp => "TURN over UDP works",
            Reached::TurnTcp => "TURN over TCP works",
        }
    }
}

/// What that means for calls to people on other networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outlook {
    /// A relay over UDP: every call can be carried.
    Works,
    /// A relay over TCP or TLS only: calls are carried, UDP seems blocked here.
    WorksOverTcp,
    /// STUN works and no TURN server is configured: fine behind most routers, not behind symmetric ones.
    NeedsTurn,
    /// STUN works but the configured TURN server gave no relay address.
    TurnSilent,
    /// No STUN or TURN server is configured: same-network calls only.
    SameNetworkOnly,
    /// Nothing answered over UDP and no TURN over TCP or TLS is configured.
    UdpBlocked,
    /// Nothing answered, TURN over TCP or TLS included.
    NothingAnswered,
}

impl Outlook {
    /// The stable token of `data-outlook`, for tests.
    pub fn token(self) -> &'static str {
        match self {
            Outlook::Works => "works",
            Outlook::WorksOverTcp => "works-over-tcp",
            Outlook::NeedsTurn => "needs-turn",
            Outlook::TurnSilent => "turn-silent",
            Outlook::SameNetworkOnly => "same-network-only",
            Outlook::UdpBlocked => "udp-blocked",
            Outlook::NothingAnswered => "nothing-answered",
        }
    }

    /// What a person reads.
    pub fn words(self) -> &'static str {
        match self {
            Outlook::Works => {
                "Calls to other networks will work: where no direct path exists, the TURN server relays them over UDP."
            }
            Outlook::WorksOverTcp => {
                "Calls to other networks will work, relayed over TCP by the TURN server: UDP seems blocked here, which costs some delay but no connection."
            }
            Outlook::NeedsTurn => {
                "Calls to other networks will work through most home routers. Behind a symmetric NAT (common on mobile and office networks) or a firewall that blocks UDP they will need a TURN server, and this relay hands out none."
            }
            Outlook::TurnSilent => {
                "Calls through most home routers will work, but the TURN server gave no relay address (not reachable from here, or it refused the credentials), so calls behind symmetric NATs or strict firewalls will fail."
            }
            Outlook::SameNetworkOnly => {
                "This relay hands out no STUN or TURN server: calls will work only between devices on the same network."
            }
            Outlook::UdpBlocked => {
                "Calls to other networks will fail because UDP is blocked and no TURN over TCP is configured: no STUN or TURN server answered over UDP."
            }
            Outlook::NothingAnswered => {
                "Calls to other networks will fail: no STUN or TURN server answered, not even TURN over TCP. This network blocks them, or the servers are down."
            }
        }
    }
}

/// The check's conclusion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub reached: Reached,
    pub outlook: Outlook,
}

/// Judges what was reached, given the servers the relay handed out and the candidates gathered (by the
/// deadline or the end of gathering). The best way out wins: a relay over UDP, a relay over TCP/TLS, a
/// public address, own addresses only.
pub fn verdict(servers: IceSummary, found: Found) -> Verdict {
    let (reached, outlook) = if found.relay_udp {
        (Reached::TurnUdp, Outlook::Works)
    } else if found.relay_tcp || found.relay_tls {
        (Reached::TurnTcp, Outlook::WorksOverTcp)
    } else if found.srflx {
        let outlook = if servers.has_turn() {
            Outlook::TurnSilent
        } else {
            Outlook::NeedsTurn
        };
        (Reached::Stun, outlook)
    } else {
        let outlook = if !servers.stun && !servers.has_turn() {
            Outlook::SameNetworkOnly
        } else if !servers.has_turn_over_tcp() {
            Outlook::UdpBlocked
        } else {
            Outlook::NothingAnswered
        };
        (Reached::HostOnly, outlook)
    };
    Verdict { reached, outlook }
}

/// The kinds found among `gathered`, as the failure diagnosis counts them.
pub fn found_in(gathered: &[Gathered]) -> Found {
    let mut found = Found::default();
    for g in gathered {
        found.add(g.kind, g.relay);
    }
    found
}

/// Where the check is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckPhase {
    /// Joining a private room on the relay to be handed its ICE servers.
    FetchingServers,
    /// Gathering candidates, until gathering completes or [`GATHER_DEADLINE_MS`].
    Gathering,
    /// Judged.
    Done(Verdict),
    /// The check could not run; the text says why and what to do.
    Failed(String),
}

impl CheckPhase {
    /// The stable token of `data-phase`, for tests.
    pub fn token(&self) -> &'static str {
        match self {
            CheckPhase::FetchingServers => "fetching-servers",
            CheckPhase::Gathering => "gathering",
            CheckPhase::Done(_) => "done",
            CheckPhase::Failed(_) => "failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(urls: &[&str]) -> IceSummary {
        IceSummary::from_urls(urls.iter().copied())
    }

    fn found(kinds: &str) -> Found {
        let mut f = Found::default();
        for word in kinds.split_whitespace() {
            match word {
                "host" => f.add(CandidateType::Host, None),
                "srflx" => f.add(CandidateType::Srflx, None),
                "relay-udp" => f.add(CandidateType::Relay, Some(RelayTransport::Udp)),
                "relay-tcp" => f.add(CandidateType::Relay, Some(RelayTransport::Tcp)),
                "relay-tls" => f.add(CandidateType::Relay, Some(RelayTransport::Tls)),
                other => panic!("unknown kind {other}"),
            }
        }
        f
    }

    const STUN: &str = "stun:203.0.113.2:3478";
    const TURN_UDP: &str = "turn:203.0.113.2:3478?transport=udp";
    const TURN_TCP: &str = "turn:203.0.113.2:3478?transport=tcp";
    const TURNS: &str = "turns:203.0.113.2:5349";

    #[test]
    fn the_best_way_out_decides_and_the_servers_given_explain_a_missing_one() {
        let table: &[(&[&str], &str, &str, &str)] = &[
            // Nothing configured: own addresses, same network only.
            (&[], "host", "host-only", "same-network-only"),
            (&[], "", "host-only", "same-network-only"),
            // STUN answered: most routers are fine, symmetric ones need TURN (none configured).
            (&[STUN], "host srflx", "stun", "needs-turn"),
            // STUN answered but the TURN server gave nothing.
            (&[STUN, TURN_UDP], "host srflx", "stun", "turn-silent"),
            // TURN over UDP works, with or without TCP configured, with or without srflx.
            (
                &[STUN, TURN_UDP],
                "host srflx relay-udp",
                "turn-udp",
                "works",
            ),
            (
                &[TURN_UDP, TURN_TCP],
                "host relay-udp relay-tcp",
                "turn-udp",
                "works",
            ),
            (
                &[STUN, TURN_UDP, TURN_TCP],
                "host relay-udp",
                "turn-udp",
                "works",
            ),
            // Only TCP (or TLS) got through to the TURN server: UDP blocked, calls still relayed.
            (
                &[STUN, TURN_UDP, TURN_TCP],
                "host relay-tcp",
                "turn-tcp",
                "works-over-tcp",
            ),
            (
                &[STUN, TURNS],
                "host relay-tls",
                "turn-tcp",
                "works-over-tcp",
            ),
            // Nothing answered over UDP and nothing over TCP is configured.
            (&[STUN], "host", "host-only", "udp-blocked"),
            (&[STUN, TURN_UDP], "host", "host-only", "udp-blocked"),
            // TCP was configured and did not answer either.
            (
                &[STUN, TURN_UDP, TURN_TCP],
                "host",
                "host-only",
                "nothing-answered",
            ),
            (&[TURNS], "host", "host-only", "nothing-answered"),
        ];
        for (urls, kinds, reached, outlook) in table {
            let v = verdict(servers(urls), found(kinds));
            assert_eq!(
                (v.reached.token(), v.outlook.token()),
                (*reached, *outlook),
                "servers {urls:?}, found {kinds:?}"
            );
        }
    }

    #[test]
    fn every_outlook_says_whether_calls_will_work() {
        for o in [
            Outlook::Works,
            Outlook::WorksOverTcp,
            Outlook::NeedsTurn,
            Outlook::TurnSilent,
            Outlook::SameNetworkOnly,
            Outlook::UdpBlocked,
            Outlook::NothingAnswered,
        ] {
            assert!(o.words().contains("will"), "{o:?}");
        }
        assert!(Outlook::UdpBlocked
            .words()
            .contains("will fail because UDP is blocked and no TURN over TCP is configured"));
    }

    #[test]
    fn candidate_lines_are_read_with_their_server() {
        let host = Gathered::parse(
            "candidate:1 1 udp 2122260223 192.168.1.20 54321 typ host generation 0",
            None,
            None,
            3.0,
        )
        .unwrap();
        assert_eq!(host.kind, CandidateType::Host);
        assert_eq!(
            (host.protocol.as_str(), host.address.as_str(), host.port),
            ("udp", "192.168.1.20", Some(54321))
        );
        assert_eq!((host.url, host.relay), (None, None));

        let mdns = Gathered::parse(
            "candidate:2 1 UDP 2122 4f2c.local 5000 typ host",
            Some(String::new()),
            None,
            1.0,
        )
        .unwrap();
        assert_eq!(
            (mdns.protocol.as_str(), mdns.address.as_str()),
            ("udp", "4f2c.local")
        );
        assert_eq!(mdns.url, None, "an empty URL is no URL");

        // A relay candidate without relayProtocol takes its URL's transport; with it, the browser's word.
        let line =
            "candidate:3 1 udp 41885439 203.0.113.2 49160 typ relay raddr 198.51.100.7 rport 3000";
        let relay = Gathered::parse(line, Some(TURN_TCP.into()), None, 40.0).unwrap();
        assert_eq!(relay.relay, Some(RelayTransport::Tcp));
        let told = Gathered::parse(line, Some(TURN_TCP.into()), Some(RelayTransport::Udp), 40.0);
        assert_eq!(told.unwrap().relay, Some(RelayTransport::Udp));
        // A srflx candidate never carries a relay transport.
        let srflx = Gathered::parse(
            "candidate:4 1 udp 1686052607 198.51.100.7 3000 typ srflx raddr 10.0.0.2 rport 5000",
            Some(STUN.into()),
            Some(RelayTransport::Udp),
            12.0,
        )
        .unwrap();
        assert_eq!((srflx.kind, srflx.relay), (CandidateType::Srflx, None));

        assert_eq!(
            Gathered::parse("candidate:5 1 udp 1 1.2.3.4 5 typ weird", None, None, 0.0),
            None
        );
        assert_eq!(Gathered::parse("", None, None, 0.0), None);
    }

    #[test]
    fn each_server_gets_its_answer_time_and_an_rtt_by_its_round_trips() {
        let g = |line: &str, url: Option<&str>, at: f64| {
            Gathered::parse(line, url.map(str::to_owned), None, at).unwrap()
        };
        let gathered = vec![
            g("candidate:1 1 udp 1 10.0.0.2 5000 typ host", None, 10.0),
            g(
                "candidate:9 1 tcp 1 10.0.0.2 9 typ host tcptype active",
                None,
                12.0,
            ),
            g(
                "candidate:2 1 udp 1 198.51.100.7 3000 typ srflx",
                Some(STUN),
                30.0,
            ),
            // A TURN server also reports the public address it saw.
            g(
                "candidate:3 1 udp 1 198.51.100.7 3000 typ srflx",
                Some(TURN_UDP),
                31.0,
            ),
            g(
                "candidate:4 1 udp 1 203.0.113.2 49160 typ relay",
                Some(TURN_UDP),
                50.0,
            ),
            g(
                "candidate:5 1 udp 1 203.0.113.2 49170 typ relay",
                Some(TURN_TCP),
                70.0,
            ),
            // A URL the browser spelled differently from the configuration still shows.
            g(
                "candidate:6 1 udp 1 198.51.100.7 3001 typ srflx",
                Some("stun:other:3478"),
                20.0,
            ),
        ];
        let configured = vec![
            STUN.to_owned(),
            TURN_UDP.to_owned(),
            TURN_TCP.to_owned(),
            TURNS.to_owned(),
            "https://example.org".to_owned(),
        ];
        let readings = server_readings(&configured, &gathered);
        let brief: Vec<(&str, usize, Option<f64>, Option<f64>)> = readings
            .iter()
            .map(|r| (r.url.as_str(), r.candidates, r.answered_ms, r.rtt_ms))
            .collect();
        assert_eq!(
            brief,
            vec![
                // Sockets were ready at 10 ms: STUN took one round trip of 20 ms.
                (STUN, 1, Some(30.0), Some(20.0)),
                // TURN over UDP: its first candidate at 31 ms, two round trips.
                (TURN_UDP, 2, Some(31.0), Some(10.5)),
                // TURN over TCP: three round trips (TCP handshake, challenge, allocation).
                (TURN_TCP, 1, Some(70.0), Some(20.0)),
                // Never answered.
                (TURNS, 0, None, None),
                ("stun:other:3478", 1, Some(20.0), Some(10.0)),
            ]
        );
        assert_eq!(readings[2].kind, ServerKind::Turn(RelayTransport::Tcp));
        assert_eq!(readings[3].kind.label(), "TURN over TLS");
        let kinds = found_in(&gathered);
        assert!(
            kinds.host && kinds.srflx && kinds.relay_udp && kinds.relay_tcp && !kinds.relay_tls
        );
    }
}
