//! Why a connection could not be made, and what would fix it, from what ICE gathered: which STUN/TURN
//! servers the connection was given, which kinds of local candidate this side found (and how its relay
//! candidates reach the TURN server), which kinds the other side sent, and whether gathering finished.
//!
//! [`diagnose`] is one ordered list of rules, the most specific and actionable first; the chat and the
//! room show its [`ConnectionProblem`] in the same words. [`Observer`] keeps one connection's evidence as
//! its events arrive and decides when the connection fails; [`Observers`] keeps one per member, replaced
//! with the member's connection. [`Reach`] is what a relay's [`IceSummary`] allows before any call is made
//! (the home page). Pure: no `web_sys`, no Leptos, no clock.

use std::collections::BTreeMap;

use peerlab_protocol::IceSummary;

use super::negotiation::CandidateType;
use super::negotiation::RelayTransport;

/// The app's page on running a TURN server beside the relay (`pages::turn_help`); every problem links to it.
pub const TURN_HELP_HREF: &str = "/help/turn-server";

/// The network check (`pages::network`): what this browser reaches with the relay's servers; every problem
/// links to it too.
pub const NETWORK_CHECK_HREF: &str = "/network";

/// The kinds of candidate one side found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// An address of the device's own network interface.
    pub host: bool,
    /// A public address seen by a STUN server (or learnt from the other side's checks).
    pub srflx: bool,
    /// Relay addresses, by how this side reaches the TURN server. The other side's transport is not
    /// signaled; its relay candidates count as UDP.
    pub relay_udp: bool,
    pub relay_tcp: bool,
    pub relay_tls: bool,
}

impl Found {
    /// Counts one candidate in.
    pub fn add(&mut self, kind: CandidateType, relay: Option<RelayTransport>) {
        match kind {
            CandidateType::Host => self.host = true,
            CandidateType::Srflx | CandidateType::Prflx => self.srflx = true,
            CandidateType::Relay => match relay.unwrap_or(RelayTransport::Udp) {
                RelayTransport::Udp => self.relay_udp = true,
                RelayTransport::Tcp => self.relay_tcp = true,
                RelayTransport::Tls => self.relay_tls = true,
            },
        }
    }

    /// Whether any relay candidate was found.
    pub fn relay(&self) -> bool {
        self.relay_udp || self.relay_tcp || self.relay_tls
    }

    /// Whether any candidate was found at all.
    pub fn any(&self) -> bool {
        self.host || self.srflx || self.relay()
    }

    /// Whether a STUN or TURN server answered over UDP.
    fn answered_over_udp(&self) -> bool {
        self.srflx || self.relay_udp
    }
}

/// Everything [`diagnose`] reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// The STUN/TURN servers the connection was given.
    pub servers: IceSummary,
    /// What this side gathered.
    pub local: Found,
    /// What the other side sent.
    pub remote: Found,
    /// Whether this side's gathering is settled: it finished, or the connection failed. Until then a
    /// missing kind may still come, so the rules about what this side lacks wait. A failure settles it:
    /// ICE gives up after ten seconds or more, by when every server that answers at all has answered,
    /// while the browser may keep gathering open for a server that never does (a TURN allocation over
    /// blocked UDP is retried for about 40 s).
    pub settled: bool,
}

/// The likely cause of a connection that could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionProblem {
    /// The relay hands out no STUN or TURN server.
    NoIceServers,
    /// STUN only, and it never answered: this side found nothing but host candidates.
    HostOnly,
    /// No STUN or TURN answer over UDP, and no TURN over TCP or TLS to fall back on.
    UdpBlocked,
    /// TURN was configured and gave this side no relay candidate.
    NoRelay,
    /// The other side sent no candidate at all.
    NoRemoteCandidates,
    /// The other side sent only host candidates.
    RemoteHostOnly,
    /// Both sides found public addresses, the routers would not let the traffic through, and there is
    /// no TURN server.
    NeedsTurn,
    /// The other side got no relay candidate, and the direct paths failed.
    RemoteNoRelay,
    /// Both sides had relay candidates and still could not connect.
    RelayFailed,
    /// None of the above fits what was gathered.
    NoPath,
}

impl ConnectionProblem {
    /// The stable token of `data-cause` attributes, for tests.
    pub fn token(self) -> &'static str {
        match self {
            ConnectionProblem::NoIceServers => "no-ice-servers",
            ConnectionProblem::HostOnly => "host-only",
            ConnectionProblem::UdpBlocked => "udp-blocked",
            ConnectionProblem::NoRelay => "no-relay",
            ConnectionProblem::NoRemoteCandidates => "no-remote-candidates",
            ConnectionProblem::RemoteHostOnly => "remote-host-only",
            ConnectionProblem::NeedsTurn => "needs-turn",
            ConnectionProblem::RemoteNoRelay => "remote-no-relay",
            ConnectionProblem::RelayFailed => "relay-failed",
            ConnectionProblem::NoPath => "no-path",
        }
    }

    /// What most likely went wrong.
    pub fn cause(self) -> &'static str {
        match self {
            ConnectionProblem::NoIceServers => {
                "This relay hands out no STUN or TURN server, so only people on the same network can connect."
            }
            ConnectionProblem::HostOnly => {
                "The STUN server never answered, so this device found only its own local addresses: this network seems to block UDP to it."
            }
            ConnectionProblem::UdpBlocked => {
                "Neither the STUN nor the TURN server answered over UDP, so this network seems to block UDP, and this relay offers no TURN server over TCP."
            }
            ConnectionProblem::NoRelay => {
                "The TURN server gave this device no relay address: it cannot be reached from here, or it refused the credentials."
            }
            ConnectionProblem::NoRemoteCandidates => {
                "No network address arrived from the other side, so there was nothing to try."
            }
            ConnectionProblem::RemoteHostOnly => {
                "The other side found only its own local addresses: no STUN or TURN server answered it, so its network probably blocks UDP."
            }
            ConnectionProblem::NeedsTurn => {
                "Both sides found their public addresses, but the routers between you did not let the traffic through (a symmetric NAT or a strict firewall), and this relay hands out no TURN server to carry it."
            }
            ConnectionProblem::RemoteNoRelay => {
                "The other side got no relay address from the TURN server, and the direct paths between you did not work."
            }
            ConnectionProblem::RelayFailed => {
                "Both sides had a relay address on the TURN server and the connection still failed: the TURN server may refuse to relay between them."
            }
            ConnectionProblem::NoPath => {
                "None of the network paths between you worked, and what was gathered points to no single cause."
            }
        }
    }

    /// What would fix it, and who can do that.
    pub fn fix(self) -> &'static str {
        match self {
            ConnectionProblem::NoIceServers | ConnectionProblem::NeedsTurn => {
                "Whoever runs the relay can configure a TURN server (--turn-url with --turn-secret); it carries calls between any two networks."
            }
            ConnectionProblem::HostOnly => {
                "Try another network, or have the relay hand out a TURN server over TCP or TLS, which gets through firewalls that block UDP."
            }
            ConnectionProblem::UdpBlocked => {
                "Have the relay also hand out its TURN server over TCP (a turn: URL ending in ?transport=tcp) or TLS (turns:), which gets through firewalls that let only TCP out."
            }
            ConnectionProblem::NoRelay | ConnectionProblem::RemoteNoRelay => {
                "Check that the TURN server is running and reachable from both networks, and that it shares its secret with the relay (coturn's static-auth-secret is the relay's --turn-secret)."
            }
            ConnectionProblem::NoRemoteCandidates => {
                "Ask the other person to reload the page; if it happens again, their browser may block WebRTC (a privacy extension or a policy)."
            }
            ConnectionProblem::RemoteHostOnly => {
                "The other person can try another network; a TURN server over TCP or TLS gets through most firewalls that block UDP."
            }
            ConnectionProblem::RelayFailed => {
                "Check the TURN server's peer rules: it must be allowed to relay to its own relay addresses (coturn's denied-peer-ip must not cover them)."
            }
            ConnectionProblem::NoPath => {
                "The app retries by itself; if it keeps failing, a TURN server over TCP or TLS gives the most ways through."
            }
        }
    }
}

/// The likely cause, from the evidence. The rules run in order and the first that fits wins: nothing
/// configured; this side's own gathering (once it finished), most specific first; then what the other
/// side sent; then the relay itself.
pub fn diagnose(e: &Evidence) -> ConnectionProblem {
    let (servers, local, remote) = (e.servers, e.local, e.remote);
    if !servers.stun && !servers.has_turn() {
        return ConnectionProblem::NoIceServers;
    }
    if e.settled {
        if !servers.has_turn() && !local.srflx {
            return ConnectionProblem::HostOnly;
        }
        if servers.has_turn()
            && !servers.has_turn_over_tcp()
            && !local.answered_over_udp()
            && !local.relay()
        {
            return ConnectionProblem::UdpBlocked;
        }
        if servers.has_turn() && !local.relay() {
            return ConnectionProblem::NoRelay;
        }
    }
    if !remote.any() {
        return ConnectionProblem::NoRemoteCandidates;
    }
    if !remote.srflx && !remote.relay() {
        return ConnectionProblem::RemoteHostOnly;
    }
    if !servers.has_turn() {
        return ConnectionProblem::NeedsTurn;
    }
    if !remote.relay() {
        return ConnectionProblem::RemoteNoRelay;
    }
    if local.relay() {
        return ConnectionProblem::RelayFailed;
    }
    ConnectionProblem::NoPath
}

/// One thing that happened to a connection, as far as the diagnosis cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observation {
    /// This side gathered a candidate; a relay one says how it reaches the TURN server.
    LocalCandidate {
        kind: CandidateType,
        relay: Option<RelayTransport>,
    },
    /// A candidate of the other side was handed to ICE.
    RemoteCandidate(CandidateType),
    /// This side's gathering finished.
    GatheringComplete,
    /// ICE (`iceConnectionState`) or the whole connection (`connectionState`) failed. Either counts:
    /// Chromium's `iceConnectionState` can stay `disconnected` while `connectionState` says `failed`.
    Failed,
    /// ICE or the connection is connected (again).
    Connected,
}

/// One connection's evidence, and the problem to show. The problem is decided when the connection fails
/// and stays until it connects again, through the automatic restarts in between. Evidence accumulates over the
/// restarts of one connection: a restart on the same networks finds the same kinds of address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observer {
    evidence: Evidence,
    /// The connection failed and has not connected since.
    failed: bool,
    problem: Option<ConnectionProblem>,
}

impl Observer {
    /// An observer of a connection given `servers`.
    pub fn new(servers: IceSummary) -> Self {
        Observer {
            evidence: Evidence {
                servers,
                ..Evidence::default()
            },
            ..Observer::default()
        }
    }

    /// Folds in one observation; returns whether the problem to show changed.
    pub fn observe(&mut self, observation: Observation) -> bool {
        let before = self.problem;
        match observation {
            Observation::LocalCandidate { kind, relay } => self.evidence.local.add(kind, relay),
            Observation::RemoteCandidate(kind) => self.evidence.remote.add(kind, None),
            Observation::GatheringComplete => {
                self.evidence.settled = true;
                // A failure decided before gathering finished is decided again with the whole picture.
                if self.failed {
                    self.problem = Some(diagnose(&self.evidence));
                }
            }
            Observation::Failed => {
                self.failed = true;
                self.evidence.settled = true;
                self.problem = Some(diagnose(&self.evidence));
            }
            Observation::Connected => {
                self.failed = false;
                self.problem = None;
            }
        }
        self.problem != before
    }

    /// The problem to show, if the connection failed and has not recovered.
    pub fn problem(&self) -> Option<ConnectionProblem> {
        self.problem
    }

    /// What has been gathered so far.
    pub fn evidence(&self) -> &Evidence {
        &self.evidence
    }
}

/// One [`Observer`] per member, for a page with several connections (chat, room). A member's new
/// connection (another generation) starts a new observer.
#[derive(Clone, Debug)]
pub struct Observers<K> {
    by_key: BTreeMap<K, (u64, Observer)>,
}

impl<K> Default for Observers<K> {
    fn default() -> Self {
        Observers {
            by_key: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone> Observers<K> {
    /// Folds `observation` into the observer of `key`'s connection `generation`, made with `servers()`
    /// when this is the connection's first observation; returns whether its problem changed.
    pub fn observe(
        &mut self,
        key: &K,
        generation: u64,
        servers: impl FnOnce() -> IceSummary,
        observation: Observation,
    ) -> bool {
        match self.by_key.get_mut(key) {
            Some((current, observer)) if *current == generation => observer.observe(observation),
            held => {
                // A problem of the member's previous connection no longer applies: that is a change too.
                let had_problem = held.is_some_and(|(_, o)| o.problem().is_some());
                let mut observer = Observer::new(servers());
                let changed = observer.observe(observation) || had_problem;
                self.by_key.insert(key.clone(), (generation, observer));
                changed
            }
        }
    }

    /// The problem to show for `key`.
    pub fn problem(&self, key: &K) -> Option<ConnectionProblem> {
        self.by_key.get(key).and_then(|(_, o)| o.problem())
    }

    /// Forgets `key` (its connection closed).
    pub fn forget(&mut self, key: &K) {
        self.by_key.remove(key);
    }
}

/// Whether calls to other networks can work with a relay's STUN/TURN settings, before any call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// No STUN or TURN server: one network only.
    SameNetwork,
    /// STUN but no TURN: through most home routers, not through symmetric NATs or UDP-blocking firewalls.
    Stun,
    /// A TURN server: through strict NATs too (and through UDP-blocking firewalls if it speaks TCP or TLS).
    Turn,
}

impl Reach {
    pub fn of(servers: IceSummary) -> Self {
        if servers.has_turn() {
            Reach::Turn
        } else if servers.stun {
            Reach::Stun
        } else {
            Reach::SameNetwork
        }
    }

    /// The stable token of `data-reach` attributes, for tests.
    pub fn token(self) -> &'static str {
        match self {
            Reach::SameNetwork => "same-network",
            Reach::Stun => "stun",
            Reach::Turn => "turn",
        }
    }

    /// The home page's sentence about `servers`.
    pub fn sentence(servers: IceSummary) -> &'static str {
        match Reach::of(servers) {
            Reach::SameNetwork => {
                "This relay hands out no STUN or TURN server: calls and chats connect only between people on the same network."
            }
            Reach::Stun => {
                "This relay hands out a STUN server but no TURN server: calls to other networks work through most home routers, but not behind symmetric NATs or firewalls that block UDP."
            }
            Reach::Turn if servers.has_turn_over_tcp() => {
                "This relay hands out a TURN server, also over TCP: calls to other networks can work even behind strict NATs and firewalls that block UDP."
            }
            Reach::Turn => {
                "This relay hands out a TURN server over UDP only: calls to other networks can work behind strict NATs, but not through firewalls that block UDP."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds evidence from a compact spec: `servers` is URL schemes ("stun turn turn-tcp turns"), `local`
    /// and `remote` candidate kinds ("host srflx relay relay/tcp relay/tls"), and whether gathering
    /// finished.
    fn evidence(servers: &str, local: &str, remote: &str, complete: bool) -> Evidence {
        let urls: Vec<String> = servers
            .split_whitespace()
            .map(|s| match s {
                "turn-tcp" => "turn:h?transport=tcp".to_owned(),
                other => format!("{other}:h"),
            })
            .collect();
        let found = |spec: &str| {
            let mut f = Found::default();
            for word in spec.split_whitespace() {
                let (kind, over) = word.split_once('/').unwrap_or((word, "udp"));
                f.add(
                    CandidateType::parse(kind).unwrap(),
                    RelayTransport::parse(over),
                );
            }
            f
        };
        Evidence {
            servers: IceSummary::from_urls(urls.iter().map(String::as_str)),
            local: found(local),
            remote: found(remote),
            settled: complete,
        }
    }

    fn check(servers: &str, local: &str, remote: &str, complete: bool, expected: &str) {
        let got = diagnose(&evidence(servers, local, remote, complete)).token();
        assert_eq!(
            got, expected,
            "servers [{servers}], local [{local}], remote [{remote}], complete {complete}"
        );
    }

    #[test]
    fn the_most_specific_cause_wins() {
        // Nothing configured: nothing else matters.
        check("", "host", "host", true, "no-ice-servers");
        check("", "", "", false, "no-ice-servers");
        // STUN only, no answer: this side's network blocks UDP to it.
        check("stun", "host", "host srflx", true, "host-only");
        // STUN and TURN over UDP, neither answered, nothing over TCP to fall back on.
        check("stun turn", "host", "host srflx relay", true, "udp-blocked");
        check("turn", "host", "host", true, "udp-blocked");
        // TURN over TCP was there too, and still no relay: the TURN server is the problem.
        check("stun turn turn-tcp", "host", "relay", true, "no-relay");
        // STUN answered, TURN gave nothing: unreachable or the credentials were refused.
        check(
            "stun turn",
            "host srflx",
            "host srflx relay",
            true,
            "no-relay",
        );
        // This side is fine; the other side sent nothing, or only local addresses.
        check(
            "stun turn",
            "host srflx relay",
            "",
            true,
            "no-remote-candidates",
        );
        check(
            "stun turn",
            "host srflx relay",
            "host",
            true,
            "remote-host-only",
        );
        check("stun", "host srflx", "host", true, "remote-host-only");
        // Both behind routers that refuse (symmetric or port-restricted NATs), no TURN to carry it.
        check("stun", "host srflx", "host srflx", true, "needs-turn");
        // TURN configured, the other side got no relay.
        check(
            "stun turn",
            "host srflx relay",
            "host srflx",
            true,
            "remote-no-relay",
        );
        // Both relayed and still failing: the TURN server refuses to relay between them.
        check(
            "stun turn",
            "host srflx relay",
            "host srflx relay",
            true,
            "relay-failed",
        );
        check(
            "turn turn-tcp",
            "host relay/tcp",
            "host relay",
            true,
            "relay-failed",
        );
    }

    #[test]
    fn what_this_side_lacks_counts_only_once_gathering_finished() {
        // A missing srflx or relay may still come: the rules about this side wait.
        check("stun", "host", "host srflx", false, "needs-turn");
        check("stun turn", "host", "host srflx relay", false, "no-path");
        check("stun turn", "host", "host", false, "remote-host-only");
    }

    #[test]
    fn a_relay_over_tcp_means_the_tcp_fallback_worked() {
        // UDP is blocked here, but TURN over TCP answered: the cause lies elsewhere.
        check(
            "stun turn turn-tcp",
            "host relay/tcp",
            "host",
            true,
            "remote-host-only",
        );
        check(
            "stun turn turn-tcp",
            "host relay/tcp",
            "host srflx",
            true,
            "remote-no-relay",
        );
    }

    #[test]
    fn every_problem_has_its_own_token_and_words() {
        let all = [
            ConnectionProblem::NoIceServers,
            ConnectionProblem::HostOnly,
            ConnectionProblem::UdpBlocked,
            ConnectionProblem::NoRelay,
            ConnectionProblem::NoRemoteCandidates,
            ConnectionProblem::RemoteHostOnly,
            ConnectionProblem::NeedsTurn,
            ConnectionProblem::RemoteNoRelay,
            ConnectionProblem::RelayFailed,
            ConnectionProblem::NoPath,
        ];
        let tokens: std::collections::BTreeSet<_> = all.iter().map(|p| p.token()).collect();
        let causes: std::collections::BTreeSet<_> = all.iter().map(|p| p.cause()).collect();
        assert_eq!(tokens.len(), all.len());
        assert_eq!(causes.len(), all.len());
        for p in all {
            assert!(p.cause().ends_with('.') && p.fix().ends_with('.'), "{p:?}");
        }
        assert_eq!(
            ConnectionProblem::NoIceServers.cause(),
            "This relay hands out no STUN or TURN server, so only people on the same network can connect."
        );
    }

    #[test]
    fn the_observer_decides_on_failure_and_keeps_it_until_connected_again() {
        let mut o = Observer::new(IceSummary::from_urls(["stun:h", "turn:h"]));
        let local = |kind, relay| Observation::LocalCandidate { kind, relay };
        assert!(!o.observe(local(CandidateType::Host, None)));
        assert!(!o.observe(Observation::RemoteCandidate(CandidateType::Host)));
        assert_eq!(
            o.problem(),
            None,
            "nothing to say before the connection fails"
        );
        // Gathering has not finished when the connection fails (the browser still retries the TURN
        // server over blocked UDP), but no server answered over UDP in all that time: this side's own
        // network is the cause, not the other side's host-only candidates.
        assert!(o.observe(Observation::Failed));
        assert_eq!(o.problem(), Some(ConnectionProblem::UdpBlocked));
        // The end of gathering, much later, confirms it.
        assert!(!o.observe(Observation::GatheringComplete));
        assert_eq!(o.problem(), Some(ConnectionProblem::UdpBlocked));
        // The automatic restart gathers and fails again: the message stays.
        assert!(!o.observe(local(CandidateType::Host, None)));
        assert!(!o.observe(Observation::Failed));
        assert_eq!(o.problem(), Some(ConnectionProblem::UdpBlocked));
        assert!(o.observe(Observation::Connected));
        assert_eq!(o.problem(), None);
        // Gathering that finishes while all is well says nothing.
        assert!(!o.observe(Observation::GatheringComplete));
    }

    #[test]
    fn observers_start_over_with_a_members_new_connection() {
        let mut all: Observers<&str> = Observers::default();
        let stun = || IceSummary::from_urls(["stun:h"]);
        all.observe(&"bob", 1, stun, Observation::GatheringComplete);
        assert!(all.observe(&"bob", 1, stun, Observation::Failed));
        assert_eq!(all.problem(&"bob"), Some(ConnectionProblem::HostOnly));
        assert_eq!(all.problem(&"cyd"), None);
        // A new connection to Bob: the old problem no longer applies, and the change is reported...
        let bob_srflx = Observation::RemoteCandidate(CandidateType::Srflx);
        assert!(all.observe(&"bob", 2, stun, bob_srflx));
        assert_eq!(all.problem(&"bob"), None);
        // ...and the old evidence is gone too: the new connection's own decides.
        let srflx_here = Observation::LocalCandidate {
            kind: CandidateType::Srflx,
            relay: None,
        };
        all.observe(&"bob", 2, stun, srflx_here);
        all.observe(&"bob", 2, stun, Observation::Failed);
        assert_eq!(all.problem(&"bob"), Some(ConnectionProblem::NeedsTurn));
        all.forget(&"bob");
        assert_eq!(all.problem(&"bob"), None);
    }

    #[test]
    fn the_home_page_reach_follows_the_relays_servers() {
        let check = |urls: &[&str], token: &str, mentions: &str| {
            let servers = IceSummary::from_urls(urls.iter().copied());
            assert_eq!(Reach::of(servers).token(), token, "{urls:?}");
            let sentence = Reach::sentence(servers);
            assert!(sentence.contains(mentions), "{urls:?}: {sentence}");
        };
        check(&[], "same-network", "same network");
        check(&["stun:h"], "stun", "symmetric NATs");
        check(&["stun:h", "turn:h"], "turn", "UDP only");
        check(&["turn:h", "turn:h?transport=tcp"], "turn", "also over TCP");
        check(&["turns:h"], "turn", "also over TCP");
    }
}
