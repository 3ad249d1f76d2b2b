//! The inspectors' timeline: each stage of a connection as it happens, with one sentence that says what
//! just happened and why.
//!
//! `rtc::peer` turns peer events into [`StepKind`]s (`PeerEvent::step`); the loopback appends them as
//! [`Step`]s of its two sides, the chat and room inspectors per connection (`rtc::inspection`). The views
//! render [`StepKind::title`] and [`StepKind::explanation`]. This module deliberately imports neither `web_sys` nor
//! Leptos, so every step's wording is checked natively.

use super::negotiation::{CandidateType, Note, SdpKind};
use super::path::NetworkPath;
use super::states::{DtlsState, IceConnectionState, PeerConnectionState, SignalingState};

/// Which of the loopback's two peer connections a step belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The caller: it opens the camera, creates the data channel and makes the first offer.
    Caller,
    /// The callee: it answers and receives.
    Callee,
}

impl Side {
    pub fn label(self) -> &'static str {
        match self {
            Side::Caller => "caller",
            Side::Callee => "callee",
        }
    }
}

/// One stage of the connection.
#[derive(Clone, Debug, PartialEq)]
pub enum StepKind {
    MediaOpened {
        tracks: usize,
    },
    DataChannelCreated,
    OfferCreated {
        ice_restart: bool,
    },
    AnswerCreated,
    LocalDescriptionSet(SdpKind),
    RemoteDescriptionSet(SdpKind),
    RolledBack,
    LocalCandidate {
        kind: Option<CandidateType>,
        address: String,
    },
    CandidateAdded {
        kind: Option<CandidateType>,
    },
    GatheringComplete,
    SignalingState(SignalingState),
    IceState(IceConnectionState),
    ConnectionState(PeerConnectionState),
    DtlsState(DtlsState),
    Track {
        kind: String,
    },
    DataChannelOpen,
    /// ICE selected a candidate pair (from `getStats`); `changed` when it replaced another.
    PathSelected {
        path: NetworkPath,
        pair: String,
        changed: bool,
    },
    MessageReceived {
        text: String,
    },
    IceRestart {
        reason: String,
    },
    Negotiation(Note),
    HungUp,
    Failed(String),
}

/// One entry of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Milliseconds since Start was pressed.
    pub at_ms: f64,
    /// The loopback's peer connection it happened on; `None` for the page as a whole, and on the chat
    /// and room pages, whose timelines are each of one connection.
    pub side: Option<Side>,
    pub kind: StepKind,
    /// The SDP of a created offer or answer, shown on demand.
    pub sdp: Option<String>,
}

impl StepKind {
    /// A stable word for the kind of step, for `data-step` attributes and tests.
    pub fn code(&self) -> &'static str {
        match self {
            StepKind::MediaOpened { .. } => "media",
            StepKind::DataChannelCreated => "data-channel-created",
            StepKind::OfferCreated { .. } => "offer",
            StepKind::AnswerCreated => "answer",
            StepKind::LocalDescriptionSet(_) => "local-description",
            StepKind::RemoteDescriptionSet(_) => "remote-description",
            StepKind::RolledBack => "rollback",
            StepKind::LocalCandidate { .. } => "candidate",
            StepKind::CandidateAdded { .. } => "candidate-added",
            StepKind::GatheringComplete => "gathering-complete",
            StepKind::SignalingState(_) => "signaling-state",
            StepKind::IceState(_) => "ice-state",
            StepKind::ConnectionState(_) => "connection-state",
            StepKind::DtlsState(_) => "dtls-state",
            StepKind::Track { .. } => "track",
            StepKind::DataChannelOpen => "data-channel-open",
            StepKind::PathSelected { .. } => "path",
            StepKind::MessageReceived { .. } => "message",
            StepKind::IceRestart { .. } => "ice-restart",
            StepKind::Negotiation(_) => "negotiation",
            StepKind::HungUp => "hang-up",
            StepKind::Failed(_) => "error",
        }
    }

    /// A short title: what happened.
    pub fn title(&self) -> String {
        match self {
            StepKind::MediaOpened { tracks } => {
                format!("Camera and microphone opened ({tracks} tracks)")
            }
            StepKind::DataChannelCreated => "Data channel created".into(),
            StepKind::OfferCreated { ice_restart: false } => "Offer created".into(),
            StepKind::OfferCreated { ice_restart: true } => "ICE-restart offer created".into(),
            StepKind::AnswerCreated => "Answer created".into(),
            StepKind::LocalDescriptionSet(kind) => {
                format!("Local description set ({})", kind.as_str())
            }
            StepKind::RemoteDescriptionSet(kind) => {
                format!("Remote description set ({})", kind.as_str())
            }
            StepKind::RolledBack => "Own offer rolled back".into(),
            StepKind::LocalCandidate { kind, address } => {
                format!("ICE candidate gathered: {} {address}", type_word(*kind))
            }
            StepKind::CandidateAdded { kind } => {
                format!("Remote ICE candidate added: {}", type_word(*kind))
            }
            StepKind::GatheringComplete => "ICE gathering complete".into(),
            // The inspector teaches the browser's vocabulary, so its titles use the browser's words.
            StepKind::SignalingState(s) => format!("Signaling state: {}", s.as_str()),
            StepKind::IceState(s) => format!("ICE connection state: {}", s.as_str()),
            StepKind::ConnectionState(s) => format!("Connection state: {}", s.as_str()),
            StepKind::DtlsState(s) => format!("DTLS state: {}", s.as_str()),
            StepKind::Track { kind } => format!("Remote {kind} track arrived"),
            StepKind::DataChannelOpen => "Data channel open".into(),
            StepKind::PathSelected {
                path,
                pair,
                changed,
            } => format!(
                "{}: {} — {pair}",
                if *changed {
                    "Path changed"
                } else {
                    "Path selected"
                },
                path.words()
            ),
            StepKind::MessageReceived { text } => format!("Message received: {text:?}"),
            StepKind::IceRestart { reason } => format!("ICE restart ({reason})"),
            StepKind::Negotiation(note) => match note {
                Note::OfferCollision { ignored: true, .. } => {
                    "Offer collision: ignored theirs".into()
                }
                Note::OfferCollision { .. } => "Offer collision: yielding".into(),
                Note::CandidateBuffered => "Candidate held for later".into(),
                Note::StaleCandidateDropped => "Old-generation candidate dropped".into(),
                Note::BufferOverflow => "Candidate buffer full".into(),
                Note::UnexpectedAnswer => "Unexpected answer ignored".into(),
                Note::DiscardedDescription => "Outdated description discarded".into(),
                Note::RestartQueued => "ICE restart queued".into(),
                Note::NegotiationUnderWay => "Negotiation already under way".into(),
            },
            StepKind::HungUp => "Hung up".into(),
            StepKind::Failed(message) => format!("Error: {message}"),
        }
    }

    /// One sentence: why this happened and what it means.
    pub fn explanation(&self) -> &'static str {
        match self {
            StepKind::MediaOpened { .. } => "getUserMedia returned a MediaStream; its tracks are added to the caller's connection, which is what makes it want to negotiate.",
            StepKind::DataChannelCreated => "createDataChannel adds an SCTP association to the session, so the first offer will contain an application m-line.",
            StepKind::OfferCreated { ice_restart: false } => "createOffer wrote an SDP offer: the codecs, the media lines, and the ICE credentials and DTLS fingerprint of this side.",
            StepKind::OfferCreated { ice_restart: true } => "The offer carries new ICE credentials (ice-ufrag/ice-pwd), so both sides gather candidates and run connectivity checks again without dropping the call.",
            StepKind::AnswerCreated => "createAnswer replied to the offer, accepting the media lines it can handle and adding this side's own ICE credentials and fingerprint.",
            StepKind::LocalDescriptionSet(SdpKind::Offer) => "setLocalDescription committed the offer: the signaling state becomes have-local-offer and ICE candidate gathering starts.",
            StepKind::LocalDescriptionSet(SdpKind::Answer) => "setLocalDescription committed the answer, so negotiation is complete on this side and it returns to stable.",
            StepKind::RemoteDescriptionSet(SdpKind::Offer) => "setRemoteDescription gave this side the other's offer (in the loopback passed in memory, in chat and room through the relay), so it can now answer.",
            StepKind::RemoteDescriptionSet(SdpKind::Answer) => "setRemoteDescription gave the offering side the answer: both sides now agree on the session and ICE can pick a path.",
            StepKind::RolledBack => "Both sides offered at once; the polite side undid its own offer (rollback) so the other one could win.",
            StepKind::LocalCandidate { .. } => "ICE found an address this side can be reached at (host = a local interface, srflx = seen by STUN, relay = on a TURN server) and trickles it to the other side.",
            StepKind::CandidateAdded { .. } => "addIceCandidate handed a candidate from the other side to ICE, which pairs it with local candidates and sends connectivity checks.",
            StepKind::GatheringComplete => "This side has found every candidate it is going to find (an empty candidate marks the end of trickle).",
            StepKind::SignalingState(_) => "The signaling state follows the offer/answer exchange: stable, have-local-offer, have-remote-offer, and back to stable.",
            StepKind::IceState(_) => "The ICE agent's progress: checking pairs, connected once one pair works, completed when it stops checking, disconnected or failed if the path breaks.",
            StepKind::ConnectionState(_) => "The overall state combines ICE and DTLS: connected means packets flow and the keys are agreed.",
            StepKind::DtlsState(_) => "DTLS is the handshake over the selected ICE path that agrees the keys SRTP media and SCTP data are encrypted with.",
            StepKind::Track { .. } => "The remote description announced a media line, so this side got a track; frames only flow once ICE and DTLS are connected.",
            StepKind::DataChannelOpen => "The SCTP association over DTLS is up, so text and files can be sent peer to peer.",
            StepKind::PathSelected { changed: false, .. } => "ICE nominated this candidate pair after its connectivity checks succeeded: media and data now take this path.",
            StepKind::PathSelected { changed: true, .. } => "ICE moved to another candidate pair, because the old path broke or an ICE restart found a new one; the call carries on over this one.",
            StepKind::MessageReceived { .. } => "The text crossed from the caller to the callee over the data channel, encrypted, without any server.",
            StepKind::IceRestart { .. } => "restartIce renegotiates with fresh ICE credentials, so a broken path can be replaced by a working one while the call stays up.",
            StepKind::Negotiation(Note::OfferCollision { .. }) => "Perfect negotiation: when offers cross, the impolite side ignores the other's offer and the polite side rolls back its own.",
            StepKind::Negotiation(Note::CandidateBuffered) => "A candidate arrived before its description; it is kept and added once the description is set, instead of being lost.",
            StepKind::Negotiation(Note::StaleCandidateDropped) => "This candidate belongs to ICE credentials that a restart replaced, so adding it would fail; it is dropped.",
            StepKind::Negotiation(_) => "Perfect negotiation decided that nothing needs to happen in the browser for this.",
            StepKind::HungUp => "Closing a peer connection stops its transport, so no more media or data flows on it.",
            StepKind::Failed(_) => "A browser call failed; the message says what to do.",
        }
    }
}

fn type_word(kind: Option<CandidateType>) -> &'static str {
    kind.map_or("unknown type", CandidateType::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_explains_itself_in_one_sentence() {
        let kinds = [
            StepKind::MediaOpened { tracks: 2 },
            StepKind::OfferCreated { ice_restart: false },
            StepKind::OfferCreated { ice_restart: true },
            StepKind::AnswerCreated,
            StepKind::LocalDescriptionSet(SdpKind::Offer),
            StepKind::RemoteDescriptionSet(SdpKind::Answer),
            StepKind::LocalCandidate {
                kind: Some(CandidateType::Host),
                address: "127.0.0.1:5000".into(),
            },
            StepKind::IceState(IceConnectionState::Connected),
            StepKind::DtlsState(DtlsState::Connected),
            StepKind::PathSelected {
                path: NetworkPath::Direct,
                pair: "a ↔ b".into(),
                changed: true,
            },
            StepKind::Negotiation(Note::StaleCandidateDropped),
            StepKind::HungUp,
        ];
        for kind in kinds {
            let text = kind.explanation();
            assert!(text.ends_with('.'), "{kind:?}: {text}");
            assert_eq!(text.matches(". ").count(), 0, "one sentence: {text}");
            assert!(!kind.title().is_empty());
        }
    }

    #[test]
    fn candidate_steps_name_their_type() {
        let step = StepKind::LocalCandidate {
            kind: Some(CandidateType::Srflx),
            address: "203.0.113.1:4000".into(),
        };
        assert_eq!(
            step.title(),
            "ICE candidate gathered: srflx 203.0.113.1:4000"
        );
        assert_eq!(step.code(), "candidate");
    }
}
