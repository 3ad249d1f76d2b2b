//! [`SignalLog`]: the relay messages a page sent and received, newest last, for the inspector panel.
//!
//! Pure and bounded: it keeps the last [`LOG_CAPACITY`] entries and summarises each message in one line
//! (for a signal: what the payload is — an offer, an answer, a candidate and its type — and its size), so a
//! person learning WebRTC can watch negotiation happen without reading raw SDP.

use std::borrow::Cow;
use std::collections::VecDeque;

use peerlab_protocol::{Payload, PeerId};
use serde_json::value::RawValue;

use super::session::SignalingEvent;

/// How many entries are kept; older ones scroll away.
pub const LOG_CAPACITY: usize = 200;

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

impl Direction {
    /// `out` or `in`, for `data-direction` attributes.
    pub fn token(self) -> &'static str {
        match self {
            Direction::Sent => "out",
            Direction::Received => "in",
        }
    }
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Increasing from 1 for the life of the page's room handle; a stable key for lists.
    pub seq: u64,
    pub direction: Direction,
    /// The message's `type` as on the wire (`signal`, `member_joined`, …) or a local happening
    /// (`connected`, `closed`, `reconnecting`).
    pub kind: String,
    /// The other member concerned, if any.
    pub peer: Option<PeerId>,
    /// One line for a person.
    pub summary: String,
}

/// The bounded log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignalLog {
    entries: VecDeque<LogEntry>,
    next_seq: u64,
}

impl SignalLog {
    pub fn new() -> Self {
        SignalLog::default()
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &LogEntry> + ExactSizeIterator {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds one entry, dropping the oldest beyond the capacity.
    pub fn push(
        &mut self,
        direction: Direction,
        kind: impl Into<String>,
        peer: Option<PeerId>,
        summary: impl Into<String>,
    ) {
        self.next_seq += 1;
        self.entries.push_back(LogEntry {
            seq: self.next_seq,
            direction,
            kind: kind.into(),
            peer,
            summary: summary.into(),
        });
        while self.entries.len() > LOG_CAPACITY {
            self.entries.pop_front();
        }
    }

    /// Records a signal this page sent to `to`.
    pub fn sent_signal(&mut self, to: &PeerId, payload: &Payload) {
        self.push(
            Direction::Sent,
            "signal",
            Some(to.clone()),
            describe_payload(payload),
        );
    }

    /// Records what the relay (or the socket) reported. Pongs never reach here; keep-alive is not news.
    pub fn received(&mut self, event: &SignalingEvent) {
        let (kind, peer, summary) = match event {
            SignalingEvent::Connected => ("connected", None, "socket open; join sent".to_owned()),
            SignalingEvent::Welcome(w) => (
                "welcome",
                None,
                format!(
                    "joined {} as {} ({}; {} other member{})",
                    w.room,
                    w.name,
                    if w.resumed {
                        "same id as before"
                    } else {
                        "new id"
                    },
                    w.members.len(),
                    if w.members.len() == 1 { "" } else { "s" }
                ),
            ),
            SignalingEvent::MemberJoined(m) => (
                "member_joined",
                Some(m.id.clone()),
                format!("{} joined", m.name),
            ),
            SignalingEvent::MemberLeft { id, reason } => (
                "member_left",
                Some(id.clone()),
                format!(
                    "left ({})",
                    serde_json::to_string(reason)
                        .unwrap_or_default()
                        .trim_matches('"')
                ),
            ),
            SignalingEvent::MemberRenamed { id, name } => (
                "member_renamed",
                Some(id.clone()),
                format!("now called {name}"),
            ),
            SignalingEvent::Signal { from, payload } => {
                ("signal", Some(from.clone()), describe_payload(payload))
            }
            SignalingEvent::IceServers(servers) => (
                "ice_servers",
                None,
                format!(
                    "{} ICE server entr{} refreshed",
                    servers.len(),
                    if servers.len() == 1 { "y" } else { "ies" }
                ),
            ),
            SignalingEvent::Left { room } => ("left", None, format!("left {room}")),
            SignalingEvent::Error { code, message } => {
                ("error", None, format!("{code}: {message}"))
            }
            SignalingEvent::Failure(err) => ("failure", None, err.to_string()),
            SignalingEvent::Closed { code, reason, .. } => (
                "closed",
                None,
                if reason.is_empty() {
                    format!("socket closed (code {code})")
                } else {
                    format!("socket closed (code {code}: {reason})")
                },
            ),
        };
        self.push(Direction::Received, kind, peer, summary);
    }
}

/// One line about a signal payload: `offer (2,345 bytes)`, `candidate host udp`, `end of candidates`, or
/// for a payload this app does not know, its size. It reads only a few well-known fields and never fails.
/// Every signal the page sends or receives passes here, most of them while a call is being set up, so
/// the payload is only glanced at: the SDP is skipped over, not copied.
pub fn describe_payload(payload: &Payload) -> String {
    /// The fields the line needs, as found; everything else (the SDP) is skipped without being copied.
    #[derive(serde::Deserialize)]
    struct Glance<'a> {
        #[serde(default, borrow)]
        kind: Option<&'a RawValue>,
        #[serde(default, borrow, rename = "type")]
        sdp_type: Option<&'a RawValue>,
        #[serde(default, borrow)]
        candidate: Option<&'a RawValue>,
    }
    /// A field's text, if it is a string.
    fn text_of(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
        serde_json::from_str(raw?.get()).ok()
    }

    let text = payload.as_json();
    let size = text.len();
    let glance = if text.trim_start().starts_with('{') {
        serde_json::from_str::<Glance>(text).ok()
    } else {
        None
    };
    let Some(glance) = glance else {
        return format!("payload ({size} bytes)");
    };
    match text_of(glance.kind).as_deref() {
        Some("description") => {
            let sdp_type = text_of(glance.sdp_type);
            let sdp_type = sdp_type.as_deref().unwrap_or("description");
            format!("{sdp_type} ({size} bytes of SDP)")
        }
        Some("candidate") => match text_of(glance.candidate).as_deref() {
            Some("") | None => "end of candidates".to_owned(),
            Some(candidate) => {
                let words: Vec<&str> = candidate.split_whitespace().collect();
                let protocol = words.get(2).copied().unwrap_or("?").to_ascii_lowercase();
                let kind = words
                    .iter()
                    .position(|w| *w == "typ")
                    .and_then(|i| words.get(i + 1))
                    .copied()
                    .unwrap_or("?");
                format!("candidate {kind} {protocol}")
            }
        },
        Some(other) => format!("{other} ({size} bytes)"),
        None => format!("payload ({size} bytes)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerlab_protocol::LeaveReason;

    fn payload(json: &str) -> Payload {
        Payload::from_json(json).unwrap()
    }

    #[test]
    fn signals_are_summarised_by_what_they_carry() {
        assert_eq!(
            describe_payload(&payload(
                r#"{"kind":"description","type":"offer","sdp":"v=0\r\n"}"#
            )),
            "offer (53 bytes of SDP)"
        );
        assert_eq!(
            describe_payload(&payload(
                r#"{"kind":"candidate","candidate":"candidate:1 1 UDP 2122 127.0.0.1 5000 typ host","sdpMid":"0"}"#
            )),
            "candidate host udp"
        );
        assert_eq!(
            describe_payload(&payload(r#"{"kind":"candidate","candidate":""}"#)),
            "end of candidates"
        );
        assert_eq!(describe_payload(&payload("[1,2]")), "payload (5 bytes)");
        assert_eq!(
            describe_payload(&payload(r#"{"kind":"hello"}"#)),
            "hello (16 bytes)"
        );
        // Any order of fields, escapes in the names and values, fields it does not know.
        assert_eq!(
            describe_payload(&payload(
                r#"{"sdp":"v=0\r\no=- 1 2 IN IP4 \"x\"\r\n","extra":[{"a":1}],"type":"an\u0073wer","kind":"description"}"#
            )),
            "answer (101 bytes of SDP)"
        );
        // A well-known field that is not a string is as good as absent; an array is no signal.
        assert_eq!(
            describe_payload(&payload(r#"{"kind":7,"type":"offer"}"#)),
            "payload (25 bytes)"
        );
        assert_eq!(
            describe_payload(&payload(r#"{"kind":"hello","type":5}"#)),
            "hello (25 bytes)"
        );
        assert_eq!(
            describe_payload(&payload(r#"{"kind":"candidate","candidate":123}"#)),
            "end of candidates"
        );
        assert_eq!(
            describe_payload(&payload(r#"["description","offer"]"#)),
            "payload (23 bytes)"
        );
    }

    #[test]
    fn the_log_is_bounded_and_numbered() {
        let mut log = SignalLog::new();
        for i in 0..(LOG_CAPACITY + 5) {
            log.push(Direction::Sent, "signal", None, format!("{i}"));
        }
        assert_eq!(log.len(), LOG_CAPACITY);
        let first = log.entries().next().unwrap();
        assert_eq!(first.seq, 6);
        assert_eq!(first.summary, "5");
        assert_eq!(log.entries().last().unwrap().seq, (LOG_CAPACITY + 5) as u64);
    }

    #[test]
    fn events_name_their_peer_and_kind() {
        let mut log = SignalLog::new();
        let ada = PeerId::from("ada");
        log.received(&SignalingEvent::MemberLeft {
            id: ada.clone(),
            reason: LeaveReason::Timeout,
        });
        log.sent_signal(
            &ada,
            &payload(r#"{"kind":"description","type":"answer","sdp":""}"#),
        );
        let entries: Vec<_> = log.entries().collect();
        assert_eq!(entries[0].kind, "member_left");
        assert_eq!(entries[0].summary, "left (timeout)");
        assert_eq!(entries[0].direction, Direction::Received);
        assert_eq!(entries[1].peer.as_ref(), Some(&ada));
        assert_eq!(entries[1].direction.token(), "out");
        assert_eq!(entries[1].summary, "answer (47 bytes of SDP)");
    }
}
