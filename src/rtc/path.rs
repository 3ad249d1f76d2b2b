//! The network path a connection takes, in words a person understands, from the candidate pair ICE
//! selected (`rtc::stats::SelectedPair`): straight across one network, through the home routers after
//! STUN found the public addresses, or relayed by a TURN server (and how this side reaches it).
//!
//! The chat and the room show the same words, with the pair behind them. Pure: no `web_sys`, no Leptos.

use super::negotiation::{CandidateType, RelayTransport};
use super::stats::{CandidateInfo, SelectedPair};

/// The path a connection's data takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetworkPath {
    /// Host candidate to host candidate: both ends on one network.
    Direct,
    /// A server-reflexive or peer-reflexive candidate on either end and no relay: the routers let the
    /// traffic through after STUN (or the other side's checks) found the public address.
    ThroughRouters,
    /// A relay candidate on either end: a TURN server carries the traffic. The transport is how this
    /// side reaches it when this side is the relayed one, else UDP (the other side's is not reported).
    Relayed(RelayTransport),
}

impl NetworkPath {
    /// The path of `pair`, or `None` while the browser has not said what either end is.
    pub fn of(pair: &SelectedPair) -> Option<Self> {
        let (local, remote) = (pair.local.kind?, pair.remote.kind?);
        let reflexive = |k| matches!(k, CandidateType::Srflx | CandidateType::Prflx);
        Some(if local == CandidateType::Relay {
            NetworkPath::Relayed(pair.local.relay_protocol.unwrap_or(RelayTransport::Udp))
        } else if remote == CandidateType::Relay {
            NetworkPath::Relayed(RelayTransport::Udp)
        } else if reflexive(local) || reflexive(remote) {
            NetworkPath::ThroughRouters
        } else {
            NetworkPath::Direct
        })
    }

    /// What the page says.
    pub fn words(self) -> &'static str {
        match self {
            NetworkPath::Direct => "direct (same network)",
            NetworkPath::ThroughRouters => "direct through your routers (STUN)",
            NetworkPath::Relayed(RelayTransport::Udp) => "relayed by the TURN server (UDP)",
            NetworkPath::Relayed(RelayTransport::Tcp) => "relayed by the TURN server (TCP)",
            NetworkPath::Relayed(RelayTransport::Tls) => "relayed by the TURN server (TLS)",
        }
    }

    /// The stable token of `data-path` attributes, for tests.
    pub fn token(self) -> &'static str {
        match self {
            NetworkPath::Direct => "host",
            NetworkPath::ThroughRouters => "srflx",
            NetworkPath::Relayed(RelayTransport::Udp) => "relay-udp",
            NetworkPath::Relayed(RelayTransport::Tcp) => "relay-tcp",
            NetworkPath::Relayed(RelayTransport::Tls) => "relay-tls",
        }
    }
}

/// A connection's path and the pair behind it, as a conversation or a tile shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathReading {
    pub path: NetworkPath,
    /// The pair in one line, e.g. "10.1.0.2:50000 (host, udp) ↔ 203.0.113.2:49160 (relay, udp)".
    pub pair: String,
}

impl PathReading {
    /// The reading of `pair`, or `None` while the browser has not said what either end is.
    pub fn of(pair: &SelectedPair) -> Option<Self> {
        Some(PathReading {
            path: NetworkPath::of(pair)?,
            pair: describe_pair(pair),
        })
    }
}

/// The pair in one line, this side first: "10.1.0.2:50000 (host, udp) ↔ 203.0.113.2:49160 (relay, udp)".
/// A local relay candidate also says how it reaches the TURN server: "(relay, udp, TURN over tcp)".
pub fn describe_pair(pair: &SelectedPair) -> String {
    format!(
        "{} ↔ {}",
        describe_end(&pair.local),
        describe_end(&pair.remote)
    )
}

fn describe_end(end: &CandidateInfo) -> String {
    let kind = end.kind.map_or("?", CandidateType::as_str);
    let protocol = if end.protocol.is_empty() {
        "?"
    } else {
        end.protocol.as_str()
    };
    match end.relay_protocol {
        Some(over) => format!(
            "{} ({kind}, {protocol}, TURN over {})",
            end.address,
            over.as_str()
        ),
        None => format!("{} ({kind}, {protocol})", end.address),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One end, written as "type" or "type/relayProtocol".
    fn end(spec: &str, address: &str) -> CandidateInfo {
        let (kind, over) = spec.split_once('/').unwrap_or((spec, ""));
        CandidateInfo {
            kind: CandidateType::parse(kind),
            address: address.into(),
            protocol: "udp".into(),
            relay_protocol: RelayTransport::parse(over),
        }
    }

    fn pair(local: &str, remote: &str) -> SelectedPair {
        SelectedPair {
            local: end(local, "10.1.0.2:50000"),
            remote: end(remote, "203.0.113.2:49160"),
        }
    }

    /// `expected` is "token: words", or "none".
    fn check(local: &str, remote: &str, expected: &str) {
        let got = NetworkPath::of(&pair(local, remote)).map_or("none".to_owned(), |p| {
            format!("{}: {}", p.token(), p.words())
        });
        assert_eq!(got, expected, "{local} ↔ {remote}");
    }

    #[test]
    fn the_path_follows_the_candidate_types_of_both_ends() {
        check("host", "host", "host: direct (same network)");
        check(
            "srflx",
            "srflx",
            "srflx: direct through your routers (STUN)",
        );
        check("host", "srflx", "srflx: direct through your routers (STUN)");
        check("prflx", "host", "srflx: direct through your routers (STUN)");
        check("host", "prflx", "srflx: direct through your routers (STUN)");
        check(
            "relay/udp",
            "srflx",
            "relay-udp: relayed by the TURN server (UDP)",
        );
        check(
            "relay/tcp",
            "relay",
            "relay-tcp: relayed by the TURN server (TCP)",
        );
        check(
            "relay/tls",
            "host",
            "relay-tls: relayed by the TURN server (TLS)",
        );
        // Only the other side is relayed: its transport is not reported, and the relayed leg is UDP.
        check(
            "srflx",
            "relay",
            "relay-udp: relayed by the TURN server (UDP)",
        );
        // A relay candidate whose transport the browser did not report reaches its server the default way.
        check(
            "relay",
            "host",
            "relay-udp: relayed by the TURN server (UDP)",
        );
        check("unknown", "host", "none");
        check("host", "", "none");
    }

    #[test]
    fn a_relay_candidates_transport_stays_on_this_side() {
        use crate::rtc::{Candidate, Signal};
        let signal = Signal::Candidate(Candidate {
            candidate: "candidate:3 1 udp 1 198.51.100.2 3478 typ relay".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            username_fragment: None,
            relay_protocol: Some(RelayTransport::Tcp),
        });
        let json = serde_json::to_string(&signal).unwrap();
        assert!(!json.to_lowercase().contains("relay_protocol"), "{json}");
        assert!(!json.contains("relayProtocol"), "{json}");
        let Signal::Candidate(received) = serde_json::from_str::<Signal>(&json).unwrap() else {
            panic!("a candidate comes back as a candidate");
        };
        assert_eq!(received.relay_protocol, None);
    }

    #[test]
    fn the_pair_reads_this_side_first_with_types_and_protocols() {
        assert_eq!(
            describe_pair(&pair("host", "relay")),
            "10.1.0.2:50000 (host, udp) ↔ 203.0.113.2:49160 (relay, udp)"
        );
        assert_eq!(
            describe_pair(&pair("relay/tcp", "srflx")),
            "10.1.0.2:50000 (relay, udp, TURN over tcp) ↔ 203.0.113.2:49160 (srflx, udp)"
        );
        let reading = PathReading::of(&pair("srflx", "srflx")).unwrap();
        assert_eq!(reading.path, NetworkPath::ThroughRouters);
        assert!(reading.pair.contains('↔'), "{}", reading.pair);
    }
}
