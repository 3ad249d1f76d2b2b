//! "Perfect negotiation" as a sans-I/O state machine: inputs in, actions out.
//!
//! The [`Negotiator`] decides what a peer connection should do next; it never does it. The web-sys glue
//! (`rtc::peer`) feeds it what happened ([`Input`]) and carries out what it returns ([`Action`]), one action
//! at a time, feeding the completion of each asynchronous browser call back in as the next input. Because
//! it holds no browser object, no future and no clock, two negotiators can be wired together in a native
//! test and driven through glare, renegotiation and ICE restarts deterministically.
//!
//! The rules are MDN's "perfect negotiation": each side is either *polite* or *impolite* (decided once from
//! the two peer ids, so both agree without talking), an incoming offer that collides with our own offer is
//! ignored by the impolite side and accepted after a rollback by the polite side. On top of that the
//! negotiator keeps ICE candidates that arrive before their description, and drops candidates of an ICE
//! generation that an ICE restart replaced (it tells generations apart by the ICE username fragment).
//!
//! It deliberately cannot fail: unexpected input (an answer nobody asked for, a description created for an
//! offer that was rolled back) yields a [`Note`] and no browser action.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::states::SignalingState;

/// Candidates kept while their description has not arrived; beyond this the oldest is dropped, so a peer
/// that sends candidates for a description it never sends cannot grow our memory without bound.
pub const MAX_BUFFERED_CANDIDATES: usize = 128;

/// Whether a session description is an offer or an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpKind {
    Offer,
    Answer,
}

impl SdpKind {
    /// The word the browser uses (`RTCSessionDescription.type`).
    pub fn as_str(self) -> &'static str {
        match self {
            SdpKind::Offer => "offer",
            SdpKind::Answer => "answer",
        }
    }
}

/// A session description, shaped like the browser's `RTCSessionDescriptionInit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    #[serde(rename = "type")]
    pub kind: SdpKind,
    pub sdp: String,
}

impl Description {
    /// The ICE username fragment (`a=ice-ufrag:`) the description carries; it changes on every ICE restart.
    pub fn ice_ufrag(&self) -> Option<&str> {
        self.sdp
            .lines()
            .find_map(|line| line.trim().strip_prefix("a=ice-ufrag:"))
            .map(str::trim)
    }
}

/// One ICE candidate, shaped like the browser's `RTCIceCandidateInit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub candidate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(
        default,
        rename = "sdpMLineIndex",
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_m_line_index: Option<u16>,
    /// Which ICE generation (username fragment) the candidate belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
    /// How a relay candidate this side gathered reaches its TURN server (`RTCIceCandidate.relayProtocol`;
    /// the candidate line does not say). Only this side's diagnosis reads it, so it never goes on the wire.
    #[serde(skip)]
    pub relay_protocol: Option<RelayTransport>,
}

/// The type of an ICE candidate: how the address in it was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CandidateType {
    /// An address of this machine's own network interface.
    Host,
    /// "Server reflexive": the public address a STUN server saw.
    Srflx,
    /// "Peer reflexive": an address learnt from the other peer's connectivity checks.
    Prflx,
    /// An address on a TURN relay server.
    Relay,
}

impl CandidateType {
    /// Parses the browser's word (`host`, `srflx`, `prflx`, `relay`).
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "host" => Some(CandidateType::Host),
            "srflx" => Some(CandidateType::Srflx),
            "prflx" => Some(CandidateType::Prflx),
            "relay" => Some(CandidateType::Relay),
            _ => None,
        }
    }

    /// The browser's word for this type.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::Srflx => "srflx",
            CandidateType::Prflx => "prflx",
            CandidateType::Relay => "relay",
        }
    }
}

/// How a relay candidate's side talks to its TURN server: the browser's `relayProtocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RelayTransport {
    Udp,
    Tcp,
    Tls,
}

impl RelayTransport {
    /// Parses the browser's word (`udp`, `tcp`, `tls`).
    pub fn parse(word: &str) -> Option<Self> {
        match word.to_ascii_lowercase().as_str() {
            "udp" => Some(RelayTransport::Udp),
            "tcp" => Some(RelayTransport::Tcp),
            "tls" => Some(RelayTransport::Tls),
            _ => None,
        }
    }

    /// The browser's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            RelayTransport::Udp => "udp",
            RelayTransport::Tcp => "tcp",
            RelayTransport::Tls => "tls",
        }
    }
}

impl Candidate {
    /// The candidate's type, read from the `typ` field of its `candidate:` line.
    pub fn kind(&self) -> Option<CandidateType> {
        let mut words = self.candidate.split_whitespace();
        words.find(|w| *w == "typ")?;
        words.next().and_then(CandidateType::parse)
    }

    /// The transport protocol (`udp` or `tcp`), the third field of the `candidate:` line.
    pub fn protocol(&self) -> Option<&str> {
        self.candidate.split_whitespace().nth(2)
    }

    /// The address and port, the fifth and sixth fields of the `candidate:` line.
    pub fn address(&self) -> Option<String> {
        let mut words = self.candidate.split_whitespace().skip(4);
        Some(format!("{}:{}", words.next()?, words.next()?))
    }
}

/// What two peers send each other through signaling. It travels as the relay's opaque `payload`, tagged by
/// `kind`: `{"kind":"description","type":"offer","sdp":"…"}` or `{"kind":"candidate","candidate":"…",…}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    Description(Description),
    Candidate(Candidate),
}

/// Something that happened, told to the negotiator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The browser fired `negotiationneeded` (a track or the first data channel was added).
    NegotiationNeeded,
    /// The user or the connection monitor asked for an ICE restart.
    RestartIce,
    /// The other peer sent this through signaling.
    SignalReceived(Signal),
    /// `createOffer` or `createAnswer` resolved with this description.
    DescriptionCreated(Description),
    /// `setLocalDescription` resolved for this description.
    LocalDescriptionApplied(Description),
    /// `setRemoteDescription` resolved for a description of this kind.
    RemoteDescriptionApplied(SdpKind),
    /// The browser fired `signalingstatechange`.
    SignalingStateChanged(SignalingState),
    /// The browser call of the last action failed; whatever it was part of is abandoned.
    OperationFailed,
}

/// Whether the glue may give `input` to the negotiator while a browser call is under way, rather than
/// after the actions still `queued` (decided earlier, not started yet): only a received candidate, and
/// only when no `setRemoteDescription` is among them. The negotiator passes on at once a candidate of
/// the remote description being applied, and the browser adds it after the calls already made; ahead of
/// its description's call (a glare rollback under way, the description queued behind it) it would be
/// refused.
pub fn may_hand_over<'a>(input: &Input, queued: impl IntoIterator<Item = &'a Action>) -> bool {
    matches!(input, Input::SignalReceived(Signal::Candidate(_)))
        && !queued
            .into_iter()
            .any(|action| matches!(action, Action::SetRemoteDescription(_)))
}

/// What the glue feeds back when the browser call for `action` failed. Every failure abandons what the
/// call was part of ([`Input::OperationFailed`]) except a glare rollback's: the other side's offer is
/// queued right behind it, and its `setRemoteDescription` rolls our offer back by itself (an implicit
/// rollback), so the negotiator keeps that offer as the description being applied and the candidates
/// that carry its credentials keep flowing. The failure is still reported.
pub fn after_failure(action: &Action) -> Option<Input> {
    match action {
        Action::Rollback => None,
        _ => Some(Input::OperationFailed),
    }
}

/// What the negotiator wants done, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Call `createOffer`, with `iceRestart` when asked; feed back [`Input::DescriptionCreated`]. Without
    /// an ICE restart the glue may instead make and apply the offer in one parameterless
    /// `setLocalDescription()` and feed back [`Input::LocalDescriptionApplied`] alone.
    CreateOffer { ice_restart: bool },
    /// Call `createAnswer`; feed back [`Input::DescriptionCreated`] (or, as for an offer, make and apply
    /// the answer in one call and feed back [`Input::LocalDescriptionApplied`]).
    CreateAnswer,
    /// Call `setLocalDescription`; feed back [`Input::LocalDescriptionApplied`].
    SetLocalDescription(Description),
    /// Call `setLocalDescription({type: "rollback"})`, discarding our own offer.
    Rollback,
    /// Call `setRemoteDescription`; feed back [`Input::RemoteDescriptionApplied`].
    SetRemoteDescription(Description),
    /// Call `addIceCandidate`.
    AddCandidate(Candidate),
    /// Send this to the other peer.
    Send(Signal),
    /// Nothing to do in the browser, but worth showing a reader.
    Note(Note),
}

/// Decisions the negotiator made that change no browser state, reported so an inspector can show them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// Both sides offered at once; `ignored` says whether we (impolite) ignored theirs or (polite) yield.
    OfferCollision { polite: bool, ignored: bool },
    /// A candidate came before the description it belongs to; it is kept until that arrives.
    CandidateBuffered,
    /// A candidate of an ICE generation an ICE restart replaced; adding it would fail.
    StaleCandidateDropped,
    /// A candidate buffered too long was dropped to keep the buffer bounded.
    BufferOverflow,
    /// An answer arrived while we had no offer outstanding.
    UnexpectedAnswer,
    /// A created description was no longer wanted (our offer was rolled back meanwhile).
    DiscardedDescription,
    /// An ICE restart was asked for mid-negotiation; it starts once the connection is stable.
    RestartQueued,
    /// Negotiation was asked for while an offer or answer was already under way; that one carries it.
    NegotiationUnderWay,
}

/// The perfect-negotiation state of one peer connection.
#[derive(Clone, Debug)]
pub struct Negotiator {
    /// Whether we yield on an offer collision. Fixed for the negotiator's life.
    polite: bool,
    /// True from `createOffer` until its `setLocalDescription` resolves: an offer of ours is in flight.
    making_offer: bool,
    /// True after we (impolite) ignored a colliding offer, until the next description arrives.
    ignore_offer: bool,
    /// The last signaling state the browser reported or a completed call implies.
    signaling: SignalingState,
    /// The remote description being applied, kept to learn its ICE generation once it is set.
    pending_remote: Option<Description>,
    /// Whether any remote description has been applied; candidates before it are buffered.
    has_remote_description: bool,
    /// The ICE username fragment of the current remote description.
    remote_ufrag: Option<String>,
    /// Username fragments that ICE restarts replaced; their candidates are dropped.
    stale_ufrags: Vec<String>,
    /// Candidates waiting for their description.
    buffered: VecDeque<Candidate>,
    /// An ICE restart asked for while negotiation was busy.
    restart_pending: bool,
    /// Whether the offer in flight is an ICE restart.
    offer_is_restart: bool,
}

impl Negotiator {
    /// A negotiator for the connection from `local_id` to `remote_id`. The side with the smaller id is the
    /// polite one; both sides compute the same answer from the same two ids.
    pub fn new(local_id: &str, remote_id: &str) -> Self {
        Self::with_politeness(local_id < remote_id)
    }

    /// A negotiator whose politeness is chosen explicitly.
    pub fn with_politeness(polite: bool) -> Self {
        Negotiator {
            polite,
            making_offer: false,
            ignore_offer: false,
            signaling: SignalingState::Stable,
            pending_remote: None,
            has_remote_description: false,
            remote_ufrag: None,
            stale_ufrags: Vec::new(),
            buffered: VecDeque::new(),
            restart_pending: false,
            offer_is_restart: false,
        }
    }

    /// Whether this side yields on an offer collision.
    pub fn is_polite(&self) -> bool {
        self.polite
    }

    /// Whether an offer of ours is in flight.
    pub fn is_making_offer(&self) -> bool {
        self.making_offer
    }

    /// How many candidates are waiting for their description.
    pub fn buffered_candidates(&self) -> usize {
        self.buffered.len()
    }

    /// Decides what to do about `input`.
    pub fn handle(&mut self, input: Input) -> Vec<Action> {
        match input {
            // The browser fires `negotiationneeded` only in `stable`, and again after returning there if
            // negotiation is still needed. One that was queued before an offer the glue started itself
            // (`Peer::offer_now`) must not make a second offer on top of the first.
            Input::NegotiationNeeded if !self.is_idle() => {
                vec![Action::Note(Note::NegotiationUnderWay)]
            }
            Input::NegotiationNeeded => self.start_offer(false),
            Input::RestartIce => {
                if self.is_idle() {
                    self.start_offer(true)
                } else {
                    self.restart_pending = true;
                    vec![Action::Note(Note::RestartQueued)]
                }
            }
            Input::SignalReceived(Signal::Description(desc)) => self.on_description(desc),
            Input::SignalReceived(Signal::Candidate(candidate)) => self.on_candidate(candidate),
            Input::DescriptionCreated(desc) => self.on_created(desc),
            Input::LocalDescriptionApplied(desc) => {
                match desc.kind {
                    SdpKind::Offer => {
                        self.making_offer = false;
                        self.signaling = SignalingState::HaveLocalOffer;
                    }
                    SdpKind::Answer => self.signaling = SignalingState::Stable,
                }
                let mut actions = vec![Action::Send(Signal::Description(desc))];
                actions.extend(self.pending_restart());
                actions
            }
            Input::RemoteDescriptionApplied(kind) => self.on_remote_applied(kind),
            Input::SignalingStateChanged(state) => {
                self.signaling = state;
                Vec::new()
            }
            Input::OperationFailed => {
                self.making_offer = false;
                self.offer_is_restart = false;
                self.pending_remote = None;
                Vec::new()
            }
        }
    }

    fn is_idle(&self) -> bool {
        !self.making_offer && self.signaling == SignalingState::Stable
    }

    fn start_offer(&mut self, ice_restart: bool) -> Vec<Action> {
        if self.making_offer || self.signaling == SignalingState::Closed {
            if ice_restart {
                self.restart_pending = true;
            }
            return Vec::new();
        }
        self.making_offer = true;
        self.offer_is_restart = ice_restart;
        if ice_restart {
            self.restart_pending = false;
        }
        vec![Action::CreateOffer { ice_restart }]
    }

    fn pending_restart(&mut self) -> Vec<Action> {
        if self.restart_pending && self.is_idle() {
            self.start_offer(true)
        } else {
            Vec::new()
        }
    }

    fn on_created(&mut self, desc: Description) -> Vec<Action> {
        let wanted = match desc.kind {
            SdpKind::Offer => self.making_offer && self.signaling == SignalingState::Stable,
            SdpKind::Answer => self.signaling == SignalingState::HaveRemoteOffer,
        };
        if wanted {
            vec![Action::SetLocalDescription(desc)]
        } else {
            vec![Action::Note(Note::DiscardedDescription)]
        }
    }

    fn on_description(&mut self, desc: Description) -> Vec<Action> {
        let mut actions = Vec::new();
        match desc.kind {
            SdpKind::Offer => {
                let collision = self.making_offer || self.signaling != SignalingState::Stable;
                self.ignore_offer = !self.polite && collision;
                if collision {
                    actions.push(Action::Note(Note::OfferCollision {
                        polite: self.polite,
                        ignored: self.ignore_offer,
                    }));
                }
                if self.ignore_offer {
                    return actions;
                }
                if collision {
                    // Our own offer loses: undo it, and remember to restart ICE again if that is what
                    // it was for.
                    if self.offer_is_restart {
                        self.restart_pending = true;
                    }
                    self.making_offer = false;
                    self.offer_is_restart = false;
                    if self.signaling == SignalingState::HaveLocalOffer {
                        actions.push(Action::Rollback);
                    }
                    self.signaling = SignalingState::Stable;
                }
            }
            SdpKind::Answer => {
                self.ignore_offer = false;
                if self.signaling != SignalingState::HaveLocalOffer {
                    actions.push(Action::Note(Note::UnexpectedAnswer));
                    return actions;
                }
            }
        }
        self.pending_remote = Some(desc.clone());
        actions.push(Action::SetRemoteDescription(desc));
        actions
    }

    fn on_remote_applied(&mut self, kind: SdpKind) -> Vec<Action> {
        self.has_remote_description = true;
        if let Some(desc) = self.pending_remote.take() {
            let ufrag = desc.ice_ufrag().map(str::to_owned);
            if let (Some(old), Some(new)) = (&self.remote_ufrag, &ufrag) {
                if old != new && !self.stale_ufrags.contains(old) {
                    self.stale_ufrags.push(old.clone());
                }
            }
            if ufrag.is_some() {
                self.remote_ufrag = ufrag;
            }
        }
        // Candidates that waited for this description go in first (ICE can start checking while the
        // answer is made); the ones of a replaced generation go.
        let mut actions = Vec::new();
        let waiting = std::mem::take(&mut self.buffered);
        for candidate in waiting {
            match self.classify(&candidate) {
                Fate::Add => actions.push(Action::AddCandidate(candidate)),
                Fate::Drop => actions.push(Action::Note(Note::StaleCandidateDropped)),
                Fate::Wait => self.buffered.push_back(candidate),
            }
        }
        match kind {
            SdpKind::Offer => {
                self.signaling = SignalingState::HaveRemoteOffer;
                actions.push(Action::CreateAnswer);
            }
            SdpKind::Answer => {
                self.signaling = SignalingState::Stable;
                self.offer_is_restart = false;
                actions.extend(self.pending_restart());
            }
        }
        actions
    }

    fn on_candidate(&mut self, candidate: Candidate) -> Vec<Action> {
        match self.classify(&candidate) {
            Fate::Add => vec![Action::AddCandidate(candidate)],
            Fate::Drop => vec![Action::Note(Note::StaleCandidateDropped)],
            Fate::Wait => {
                let mut actions = vec![Action::Note(Note::CandidateBuffered)];
                if self.buffered.len() >= MAX_BUFFERED_CANDIDATES {
                    self.buffered.pop_front();
                    actions.push(Action::Note(Note::BufferOverflow));
                }
                self.buffered.push_back(candidate);
                actions
            }
        }
    }

    /// The ICE username fragment of the remote description being applied, if any.
    fn pending_ufrag(&self) -> Option<&str> {
        self.pending_remote
            .as_ref()
            .and_then(Description::ice_ufrag)
    }

    fn classify(&self, candidate: &Candidate) -> Fate {
        match candidate.username_fragment.as_deref() {
            Some(ufrag) if self.stale_ufrags.iter().any(|s| s == ufrag) => Fate::Drop,
            // A candidate of the description being applied goes to the browser at once: it runs
            // `addIceCandidate` after `setRemoteDescription`, in the order they were called, so ICE
            // gets it as soon as the description is in without waiting for a turn of the page's main
            // thread. Any other may belong to a generation that description replaces: its fate is
            // known after.
            Some(ufrag) if self.pending_ufrag() == Some(ufrag) => Fate::Add,
            _ if self.pending_remote.is_some() => Fate::Wait,
            _ if !self.has_remote_description => Fate::Wait,
            Some(ufrag) if self.remote_ufrag.as_deref().is_some_and(|r| r != ufrag) => Fate::Wait,
            _ => Fate::Add,
        }
    }
}

/// What becomes of a received candidate.
enum Fate {
    Add,
    Drop,
    Wait,
}

#[cfg(test)]
mod tests;
