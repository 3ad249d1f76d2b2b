//! What kinds of STUN and TURN server a relay hands out, told apart by their URLs (RFC 7064, RFC 7065):
//! the relay answers `GET /ice-summary` with it, so a page can say whether calls to other networks can
//! work without seeing any address or credential, and the app's failure diagnosis reads the servers its
//! connection was given the same way.
//!
//! It deliberately parses only the scheme and the `transport` parameter; hosts and ports are none of its
//! business.

use serde::{Deserialize, Serialize};

/// The JSON of `GET /ice-summary`: `{"stun":true,"turn_udp":true,"turn_tcp":true,"turn_tls":false}`.
/// Unknown fields are ignored and missing ones are `false`, so either side may grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IceSummary {
    /// A `stun:` (or `stuns:`) server: this side can learn its public address.
    pub stun: bool,
    /// A `turn:` server over UDP (no `transport` parameter, or `?transport=udp`).
    pub turn_udp: bool,
    /// A `turn:` server over TCP (`?transport=tcp`): it gets through firewalls that block UDP.
    pub turn_tcp: bool,
    /// A `turns:` server (TURN over TLS): it gets through firewalls that let only TLS out.
    pub turn_tls: bool,
}

impl IceSummary {
    /// The summary of every URL in `urls`; URLs of other schemes are ignored.
    pub fn from_urls<'a>(urls: impl IntoIterator<Item = &'a str>) -> Self {
        let mut summary = IceSummary::default();
        for url in urls {
            summary.add(url);
        }
        summary
    }

    /// Counts one more URL in.
    pub fn add(&mut self, url: &str) {
        let url = url.trim();
        let Some((scheme, rest)) = url.split_once(':') else {
            return;
        };
        match scheme.to_ascii_lowercase().as_str() {
            "stun" | "stuns" => self.stun = true,
            // `turns:` is TLS over TCP whatever its `transport` says; browsers offer nothing else.
            "turns" => self.turn_tls = true,
            "turn" => match transport(rest).as_deref() {
                Some("tcp") => self.turn_tcp = true,
                _ => self.turn_udp = true,
            },
            _ => {}
        }
    }

    /// Whether any TURN server is handed out.
    pub fn has_turn(&self) -> bool {
        self.turn_udp || self.turn_tcp || self.turn_tls
    }

    /// Whether a TURN server is reachable over TCP or TLS, for networks that block UDP.
    pub fn has_turn_over_tcp(&self) -> bool {
        self.turn_tcp || self.turn_tls
    }
}

/// The `transport` query parameter of the part after the scheme, lower-cased.
fn transport(rest: &str) -> Option<String> {
    let (_, query) = rest.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.eq_ignore_ascii_case("transport")
            .then(|| value.to_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(urls: &[&str], expected: &str) {
        let s = IceSummary::from_urls(urls.iter().copied());
        let mut found = Vec::new();
        for (on, name) in [
            (s.stun, "stun"),
            (s.turn_udp, "turn_udp"),
            (s.turn_tcp, "turn_tcp"),
            (s.turn_tls, "turn_tls"),
        ] {
            if on {
                found.push(name);
            }
        }
        assert_eq!(found.join(" "), expected, "{urls:?}");
    }

    #[test]
    fn urls_are_told_apart_by_scheme_and_transport() {
        check(&[], "");
        check(&["stun:stun.example.org:3478"], "stun");
        check(&["turn:turn.example.org"], "turn_udp");
        check(&["turn:turn.example.org:3478?transport=udp"], "turn_udp");
        check(&["turn:turn.example.org:3478?transport=tcp"], "turn_tcp");
        check(&["TURN:turn.example.org?Transport=TCP"], "turn_tcp");
        check(&["turns:turn.example.org:5349?transport=tcp"], "turn_tls");
        check(&["turns:turn.example.org"], "turn_tls");
        check(
            &[
                "stun:203.0.113.1",
                "turn:203.0.113.1:3478",
                "turn:203.0.113.1:3478?transport=tcp",
            ],
            "stun turn_udp turn_tcp",
        );
        // An unknown transport is the default one; other schemes and garbage count for nothing.
        check(&["turn:h?transport=sctp"], "turn_udp");
        check(&["http://example.org", "turnserver", ""], "");
    }

    #[test]
    fn turn_over_tcp_means_tcp_or_tls() {
        let udp = IceSummary::from_urls(["turn:h"]);
        assert!(udp.has_turn() && !udp.has_turn_over_tcp());
        assert!(IceSummary::from_urls(["turns:h"]).has_turn_over_tcp());
        assert!(!IceSummary::from_urls(["stun:h"]).has_turn());
    }
}
