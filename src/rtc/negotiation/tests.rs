//! Two negotiators wired together through a fake browser that enforces the real signaling-state rules
//! (an offer cannot be applied in `have-local-offer`, an answer needs an offer, candidates need a remote
//! description of their generation), str0m style: `progress` runs both sides until nothing is left to do.

use std::cell::Cell;
use std::collections::VecDeque;

use super::*;

thread_local! {
    /// Whether the sides built on this thread carry out `CreateOffer` (without ICE restart) and
    /// `CreateAnswer` the way the web-sys glue does by default: one parameterless `setLocalDescription`
    /// that makes the description and applies it, fed back as `LocalDescriptionApplied` alone.
    static ONE_STEP: Cell<bool> = const { Cell::new(false) };
}

/// The parts of `RTCPeerConnection` negotiation touches, as plain data.
struct FakePc {
    name: &'static str,
    state: SignalingState,
    local: Option<Description>,
    remote: Option<Description>,
    /// The local ICE generation, bumped by an ICE restart.
    ufrag_generation: u32,
    /// Media lines this side sends; adding a track bumps it and needs renegotiation.
    tracks: u32,
    version: u32,
    added: Vec<Candidate>,
}

impl FakePc {
    fn new(name: &'static str) -> Self {
        FakePc {
            name,
            state: SignalingState::Stable,
            local: None,
            remote: None,
            ufrag_generation: 1,
            tracks: 0,
            version: 0,
            added: Vec::new(),
        }
    }

    fn ufrag(&self) -> String {
        format!("{}{}", self.name, self.ufrag_generation)
    }

    fn sdp(&mut self, kind: SdpKind) -> Description {
        self.version += 1;
        let mut sdp = format!(
            "v=0\r\no=- {} {} IN IP4 127.0.0.1\r\na=ice-ufrag:{}\r\nm=application\r\n",
            self.name,
            self.version,
            self.ufrag()
        );
        for _ in 0..self.tracks {
            sdp.push_str("m=video\r\n");
        }
        Description { kind, sdp }
    }

    fn candidate(&self, port: u16) -> Candidate {
        Candidate {
            candidate: format!("candidate:1 1 udp 2113937151 127.0.0.1 {port} typ host"),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            username_fragment: Some(self.ufrag()),
            relay_protocol: None,
        }
    }
}

/// One side: the negotiator, its fake browser, the actions it still has to carry out and its inbox.
struct Side {
    neg: Negotiator,
    pc: FakePc,
    todo: VecDeque<Action>,
    inbox: VecDeque<Signal>,
    notes: Vec<Note>,
    /// Offers this side sent, to count how many negotiations it started.
    offers_sent: u32,
    /// Local candidates gathered and not yet sent.
    gathered: Vec<Candidate>,
    /// See [`ONE_STEP`].
    one_step: bool,
}

impl Side {
    fn new(name: &'static str, polite: bool) -> Self {
        Side {
            neg: Negotiator::with_politeness(polite),
            pc: FakePc::new(name),
            todo: VecDeque::new(),
            inbox: VecDeque::new(),
            notes: Vec::new(),
            offers_sent: 0,
            gathered: Vec::new(),
            one_step: ONE_STEP.with(Cell::get),
        }
    }

    fn input(&mut self, input: Input) {
        let actions = self.neg.handle(input);
        self.todo.extend(actions);
    }

    /// `setLocalDescription(desc)` in the fake browser.
    fn set_local(&mut self, desc: Description) -> Input {
        self.pc.state = match (desc.kind, self.pc.state) {
            (SdpKind::Offer, SignalingState::Stable | SignalingState::HaveLocalOffer) => {
                SignalingState::HaveLocalOffer
            }
            (SdpKind::Answer, SignalingState::HaveRemoteOffer) => SignalingState::Stable,
            (kind, state) => panic!("{}: local {kind:?} in {state:?}", self.pc.name),
        };
        self.pc.local = Some(desc.clone());
        // Gathering starts once the local description is set; its candidates reach the glue after the
        // description has been sent.
        self.gathered
            .push(self.pc.candidate(5000 + self.pc.version as u16));
        Input::LocalDescriptionApplied(desc)
    }

    /// Carries out the actions before this (polite) side's glare rollback and takes the rollback, not
    /// carried out; what follows it stays queued.
    fn take_rollback(&mut self) -> Action {
        while !matches!(self.todo.front(), Some(Action::Rollback)) {
            assert!(
                !self.todo.is_empty(),
                "{}: no rollback in glare",
                self.pc.name
            );
            self.step();
        }
        self.todo.pop_front().expect("the rollback")
    }

    /// Carries out one action, like the web-sys glue does; returns what it sends to the other side.
    fn step(&mut self) -> Vec<Signal> {
        let Some(action) = self.todo.pop_front() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let next = match action {
            Action::CreateOffer { ice_restart: false } if self.one_step => {
                let offer = self.pc.sdp(SdpKind::Offer);
                Some(self.set_local(offer))
            }
            Action::CreateAnswer if self.one_step => {
                let answer = self.pc.sdp(SdpKind::Answer);
                Some(self.set_local(answer))
            }
            Action::CreateOffer { ice_restart } => {
                if ice_restart {
                    self.pc.ufrag_generation += 1;
                }
                Some(Input::DescriptionCreated(self.pc.sdp(SdpKind::Offer)))
            }
            Action::CreateAnswer => Some(Input::DescriptionCreated(self.pc.sdp(SdpKind::Answer))),
            Action::SetLocalDescription(desc) => Some(self.set_local(desc)),
            Action::Rollback => {
                assert_eq!(
                    self.pc.state,
                    SignalingState::HaveLocalOffer,
                    "{}",
                    self.pc.name
                );
                self.pc.state = SignalingState::Stable;
                None
            }
            Action::SetRemoteDescription(desc) => {
                self.pc.state = match (desc.kind, self.pc.state) {
                    (SdpKind::Offer, SignalingState::Stable) => SignalingState::HaveRemoteOffer,
                    (SdpKind::Answer, SignalingState::HaveLocalOffer) => SignalingState::Stable,
                    (kind, state) => panic!("{}: remote {kind:?} in {state:?}", self.pc.name),
                };
                let kind = desc.kind;
                self.pc.remote = Some(desc);
                Some(Input::RemoteDescriptionApplied(kind))
            }
            Action::AddCandidate(candidate) => {
                let remote = self
                    .pc
                    .remote
                    .as_ref()
                    .expect("a candidate before any description");
                // Like the browser: a candidate without credentials is for the current generation.
                if let Some(ufrag) = candidate.username_fragment.as_deref() {
                    assert_eq!(
                        Some(ufrag),
                        remote.ice_ufrag(),
                        "{}: candidate of another ICE generation added",
                        self.pc.name
                    );
                }
                self.pc.added.push(candidate);
                None
            }
            Action::Send(signal) => {
                if let Signal::Description(Description {
                    kind: SdpKind::Offer,
                    ..
                }) = &signal
                {
                    self.offers_sent += 1;
                }
                let is_description = matches!(signal, Signal::Description(_));
                out.push(signal);
                if is_description {
                    out.extend(self.gathered.drain(..).map(Signal::Candidate));
                }
                None
            }
            Action::Note(note) => {
                self.notes.push(note);
                None
            }
        };
        if let Some(input) = next {
            self.input(input);
        }
        out
    }
}

/// Runs both sides until neither has anything to do. Local work always runs before any message is
/// delivered, so two offers started together really cross on the wire (glare).
fn progress(a: &mut Side, b: &mut Side) {
    for _ in 0..10_000 {
        if !a.todo.is_empty() || !b.todo.is_empty() {
            let to_b = a.step();
            b.inbox.extend(to_b);
            let to_a = b.step();
            a.inbox.extend(to_a);
            continue;
        }
        match (a.inbox.pop_front(), b.inbox.pop_front()) {
            (None, None) => return,
            (for_a, for_b) => {
                if let Some(signal) = for_a {
                    a.input(Input::SignalReceived(signal));
                }
                if let Some(signal) = for_b {
                    b.input(Input::SignalReceived(signal));
                }
            }
        }
    }
    panic!("negotiation did not settle");
}

/// Carries out everything `from` has to do, leaving what it sends in `to`'s inbox, unread.
fn act_alone(from: &mut Side, to: &mut Side) {
    while !from.todo.is_empty() {
        let out = from.step();
        to.inbox.extend(out);
    }
}

fn assert_connected(a: &Side, b: &Side) {
    assert_eq!(a.pc.state, SignalingState::Stable);
    assert_eq!(b.pc.state, SignalingState::Stable);
    assert_eq!(a.pc.local, b.pc.remote, "b applied what a has locally");
    assert_eq!(b.pc.local, a.pc.remote, "a applied what b has locally");
    assert!(a.pc.local.is_some() && b.pc.local.is_some());
}

fn connected_pair() -> (Side, Side) {
    let mut a = Side::new("a", true);
    let mut b = Side::new("b", false);
    a.input(Input::NegotiationNeeded);
    progress(&mut a, &mut b);
    assert_connected(&a, &b);
    (a, b)
}

#[test]
fn politeness_follows_the_peer_ids_and_both_sides_agree() {
    assert!(Negotiator::new("0a", "ff").is_polite());
    assert!(!Negotiator::new("ff", "0a").is_polite());
}

#[test]
fn one_offer_connects_both_sides() {
    let (a, b) = connected_pair();
    assert_eq!(a.offers_sent, 1);
    assert_eq!(b.offers_sent, 0);
    assert_eq!(a.pc.added.len(), 1, "a added b's candidate");
    assert_eq!(b.pc.added.len(), 1, "b added a's candidate");
}

/// The glue may start the first offer itself (`Peer::offer_now`) instead of waiting for the browser's
/// `negotiationneeded`; the event the browser had queued must then add nothing, wherever it lands: while
/// the offer is being made, once it is set, or while the answer is applied.
#[test]
fn a_negotiationneeded_behind_an_offer_already_started_makes_no_second_offer() {
    for late_after_steps in [0, 1, 2, 3] {
        let mut a = Side::new("a", true);
        let mut b = Side::new("b", false);
        a.input(Input::NegotiationNeeded);
        for _ in 0..late_after_steps {
            let out = a.step();
            b.inbox.extend(out);
        }
        a.input(Input::NegotiationNeeded);
        progress(&mut a, &mut b);
        assert_connected(&a, &b);
        assert_eq!(
            a.offers_sent, 1,
            "late event after {late_after_steps} steps"
        );
        assert!(
            a.notes.contains(&Note::NegotiationUnderWay),
            "late event after {late_after_steps} steps is reported"
        );
    }
    // Once stable again, a new need (a track added later) still renegotiates.
    let (mut a, mut b) = connected_pair();
    a.input(Input::NegotiationNeeded);
    progress(&mut a, &mut b);
    assert_connected(&a, &b);
    assert_eq!(a.offers_sent, 2);
}

#[test]
fn polite_peer_yields_on_glare_and_one_connection_results() {
    let mut polite = Side::new("p", true);
    let mut impolite = Side::new("i", false);
    polite.input(Input::NegotiationNeeded);
    impolite.input(Input::NegotiationNeeded);
    progress(&mut polite, &mut impolite);

    assert_connected(&polite, &impolite);
    assert_eq!(polite.offers_sent, 1);
    assert_eq!(impolite.offers_sent, 1);
    // The impolite side's offer won: it is the one both sides hold as the offer/answer pair's first half.
    let offer = impolite
        .pc
        .local
        .as_ref()
        .expect("impolite has a local description");
    assert_eq!(offer.kind, SdpKind::Offer);
    assert!(polite.notes.contains(&Note::OfferCollision {
        polite: true,
        ignored: false
    }));
    assert!(impolite.notes.contains(&Note::OfferCollision {
        polite: false,
        ignored: true
    }));
}

#[test]
fn adding_a_track_renegotiates_and_both_sides_see_it() {
    let (mut a, mut b) = connected_pair();
    b.pc.tracks += 1;
    b.input(Input::NegotiationNeeded);
    progress(&mut a, &mut b);
    assert_connected(&a, &b);
    let remote = a.pc.remote.as_ref().expect("a has b's description");
    assert!(remote.sdp.contains("m=video"), "{}", remote.sdp);
    assert_eq!(b.offers_sent, 1, "b offered the new track itself");
}

#[test]
fn candidates_that_arrive_before_the_description_are_not_lost() {
    let mut a = Side::new("a", true);
    let mut b = Side::new("b", false);
    a.input(Input::NegotiationNeeded);
    act_alone(&mut a, &mut b);
    // On the wire: the offer, then its candidate. Deliver them the other way round.
    assert!(matches!(b.inbox[0], Signal::Description(_)));
    assert!(matches!(b.inbox[1], Signal::Candidate(_)));
    b.inbox.swap(0, 1);
    progress(&mut a, &mut b);

    assert_connected(&a, &b);
    assert!(b.notes.contains(&Note::CandidateBuffered));
    assert_eq!(
        b.pc.added.len(),
        1,
        "the early candidate was added after the offer"
    );
    assert_eq!(b.neg.buffered_candidates(), 0);
}

/// `a` offered and `b` has started applying the offer; the offer's candidate has not reached `b` yet.
fn offer_being_applied() -> (Side, Side, Candidate) {
    let mut a = Side::new("a", true);
    let mut b = Side::new("b", false);
    a.input(Input::NegotiationNeeded);
    act_alone(&mut a, &mut b);
    let offer = b.inbox.pop_front().expect("the offer");
    b.input(Input::SignalReceived(offer));
    assert!(matches!(b.todo[0], Action::SetRemoteDescription(_)));
    let Some(Signal::Candidate(candidate)) = b.inbox.pop_front() else {
        panic!("the offer's candidate");
    };
    (a, b, candidate)
}

/// The glue hands over candidates that arrive while an operation is under way (the browser queues
/// `addIceCandidate` behind it). One of the remote description being applied goes at once, behind it;
/// one without credentials to tell waits for it (next test).
#[test]
fn a_candidate_of_the_description_being_applied_goes_in_behind_it() {
    let (mut a, mut b, candidate) = offer_being_applied();
    // The candidate arrives before the browser has applied the offer.
    b.input(Input::SignalReceived(Signal::Candidate(candidate)));
    assert_eq!(b.neg.buffered_candidates(), 0);
    assert!(
        matches!(b.todo.back(), Some(Action::AddCandidate(_))),
        "handed to the browser behind the description: {:?}",
        b.todo
    );
    progress(&mut a, &mut b);
    assert_connected(&a, &b);
    assert_eq!(b.pc.added.len(), 1);
}

#[test]
fn a_candidate_without_credentials_during_a_remote_description_waits_for_it() {
    let (mut a, mut b, mut candidate) = offer_being_applied();
    candidate.username_fragment = None;
    b.input(Input::SignalReceived(Signal::Candidate(candidate)));
    assert_eq!(b.neg.buffered_candidates(), 1);
    progress(&mut a, &mut b);
    assert_connected(&a, &b);
    assert_eq!(b.neg.buffered_candidates(), 0);
    assert_eq!(b.pc.added.len(), 1, "added once the offer was applied");
}

#[test]
fn an_old_candidate_during_a_restart_offer_is_dropped_once_it_is_applied() {
    let (mut a, mut b) = connected_pair();
    let old_candidate = a.pc.candidate(4000);
    a.input(Input::RestartIce);
    act_alone(&mut a, &mut b);
    let offer = b.inbox.pop_front().expect("the restart offer");
    b.input(Input::SignalReceived(offer));
    let added_before = b.pc.added.len();
    // Under way: applying the offer with the new credentials. A late candidate of the old ones arrives.
    b.input(Input::SignalReceived(Signal::Candidate(old_candidate)));
    progress(&mut a, &mut b);
    assert_connected(&a, &b);
    assert!(b.notes.contains(&Note::StaleCandidateDropped));
    assert!(
        b.pc.added[added_before..]
            .iter()
            .all(|c| c.username_fragment.as_deref() == Some(a.pc.ufrag().as_str())),
        "only candidates of the new generation were added"
    );
}

#[test]
fn ice_restart_renegotiates_with_new_credentials_and_drops_old_candidates() {
    let (mut a, mut b) = connected_pair();
    let old_candidate = a.pc.candidate(4000);
    let old_ufrag = a.pc.ufrag();

    a.input(Input::RestartIce);
    progress(&mut a, &mut b);
    assert_connected(&a, &b);
    let remote = b.pc.remote.as_ref().expect("b has a's description");
    assert_ne!(
        remote.ice_ufrag(),
        Some(old_ufrag.as_str()),
        "new ICE credentials"
    );

    let added_before = b.pc.added.len();
    b.input(Input::SignalReceived(Signal::Candidate(old_candidate)));
    progress(&mut a, &mut b);
    assert_eq!(
        b.pc.added.len(),
        added_before,
        "a late candidate of the old generation is not added"
    );
    assert!(b.notes.contains(&Note::StaleCandidateDropped));
}

#[test]
fn restart_asked_mid_negotiation_waits_for_stable() {
    let mut a = Side::new("a", true);
    let mut b = Side::new("b", false);
    a.input(Input::NegotiationNeeded);
    a.input(Input::RestartIce);
    progress(&mut a, &mut b);
    assert_connected(&a, &b);
    assert_eq!(
        a.offers_sent, 2,
        "the restart ran after the first negotiation"
    );
    assert_eq!(
        b.pc.remote.as_ref().and_then(Description::ice_ufrag),
        Some("a2")
    );
}

#[test]
fn an_answer_nobody_asked_for_changes_nothing() {
    let mut n = Negotiator::with_politeness(false);
    let actions = n.handle(Input::SignalReceived(Signal::Description(Description {
        kind: SdpKind::Answer,
        sdp: "v=0\r\n".into(),
    })));
    assert_eq!(actions, vec![Action::Note(Note::UnexpectedAnswer)]);
}

#[test]
fn every_scenario_holds_when_descriptions_are_made_and_applied_in_one_step() {
    ONE_STEP.with(|one| one.set(true));
    one_offer_connects_both_sides();
    polite_peer_yields_on_glare_and_one_connection_results();
    adding_a_track_renegotiates_and_both_sides_see_it();
    candidates_that_arrive_before_the_description_are_not_lost();
    ice_restart_renegotiates_with_new_credentials_and_drops_old_candidates();
    restart_asked_mid_negotiation_waits_for_stable();
    an_answer_nobody_asked_for_changes_nothing();
}

#[test]
fn signal_json_shape_is_tagged_by_kind() {
    let offer = Signal::Description(Description {
        kind: SdpKind::Offer,
        sdp: "v=0".into(),
    });
    assert_eq!(
        serde_json::to_string(&offer).unwrap(),
        r#"{"kind":"description","type":"offer","sdp":"v=0"}"#
    );
    let candidate = Signal::Candidate(Candidate {
        candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        username_fragment: Some("ab".into()),
        relay_protocol: None,
    });
    let json = serde_json::to_string(&candidate).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"ab"}"#
    );
    assert_eq!(serde_json::from_str::<Signal>(&json).unwrap(), candidate);
}

#[test]
fn candidate_lines_are_read_for_type_protocol_and_address() {
    for (line, kind) in [
        (
            "candidate:1 1 udp 2113937151 127.0.0.1 50000 typ host generation 0",
            Some(CandidateType::Host),
        ),
        (
            "candidate:2 1 udp 1 203.0.113.9 3478 typ srflx raddr 0.0.0.0 rport 0",
            Some(CandidateType::Srflx),
        ),
        (
            "candidate:3 1 udp 1 198.51.100.2 3478 typ relay",
            Some(CandidateType::Relay),
        ),
        ("candidate:4 1 udp 1 10.0.0.1 9", None),
    ] {
        let c = Candidate {
            candidate: line.into(),
            sdp_mid: None,
            sdp_m_line_index: None,
            username_fragment: None,
            relay_protocol: None,
        };
        assert_eq!(c.kind(), kind, "{line}");
        assert_eq!(c.protocol(), Some("udp"));
    }
    let c = Candidate {
        candidate: "candidate:1 1 udp 5 127.0.0.1 50000 typ host".into(),
        sdp_mid: None,
        sdp_m_line_index: None,
        username_fragment: None,
        relay_protocol: None,
    };
    assert_eq!(c.address().as_deref(), Some("127.0.0.1:50000"));
}

/// The glue gives a candidate to the negotiator during a browser call only when no
/// `setRemoteDescription` is still queued: in glare the polite side rolls back first, with the other
/// side's offer queued behind, and a candidate of that offer passed on then would reach the browser
/// before the offer itself.
#[test]
fn a_candidate_waits_while_its_description_is_still_queued_behind_a_rollback() {
    let mut polite = Side::new("p", true);
    let mut impolite = Side::new("i", false);
    polite.input(Input::NegotiationNeeded);
    impolite.input(Input::NegotiationNeeded);
    act_alone(&mut polite, &mut impolite);
    act_alone(&mut impolite, &mut polite);
    let offer = polite.inbox.pop_front().expect("the impolite offer");
    let candidate = polite.inbox.pop_front().expect("its candidate");
    assert!(matches!(candidate, Signal::Candidate(_)));
    polite.input(Input::SignalReceived(offer));
    // The glue starts the rollback; the offer's `setRemoteDescription` is still queued.
    let rollback = polite.take_rollback();
    assert!(polite
        .todo
        .iter()
        .any(|a| matches!(a, Action::SetRemoteDescription(_))));
    let arriving = Input::SignalReceived(candidate);
    assert!(
        !may_hand_over(&arriving, &polite.todo),
        "handed over ahead of its description"
    );
    // Once the description's call is the one under way, the candidate may go.
    polite.todo.push_front(rollback);
    polite.step();
    let description = polite.todo.pop_front().expect("the offer's description");
    assert!(matches!(description, Action::SetRemoteDescription(_)));
    assert!(may_hand_over(&arriving, &polite.todo));
    // Only candidates are handed over.
    assert!(!may_hand_over(&Input::NegotiationNeeded, &polite.todo));
    polite.todo.push_front(description);
    polite.input(arriving);
    progress(&mut polite, &mut impolite);
    assert_connected(&polite, &impolite);
    assert!(!polite.pc.added.is_empty());
}

/// In glare the polite side's rollback may fail in the browser. Its `setRemoteDescription` of the other
/// side's offer is queued right behind and rolls back by itself, so the failure is reported but not fed
/// back (`after_failure`): fed back, it would make the negotiator forget that offer while the browser
/// applies it, and after an ICE restart the offer's new credentials would go unrecorded, leaving its
/// candidates waiting for a description the negotiator no longer knows.
#[test]
fn a_failed_glare_rollback_leaves_the_queued_offer_to_roll_back_and_connect() {
    let (mut polite, mut impolite) = connected_pair();
    assert!(polite.neg.polite && !impolite.neg.polite);
    // Both restart ICE at once: glare, with new credentials on both sides.
    polite.input(Input::RestartIce);
    impolite.input(Input::RestartIce);
    act_alone(&mut polite, &mut impolite);
    act_alone(&mut impolite, &mut polite);
    let offer = polite
        .inbox
        .pop_front()
        .expect("the impolite restart offer");
    let Signal::Description(description) = &offer else {
        panic!("expected the offer first, got {offer:?}");
    };
    let new_ufrag = description.ice_ufrag().map(str::to_owned);
    assert!(new_ufrag.is_some());
    polite.input(Input::SignalReceived(offer));
    // The browser refuses the rollback: nothing changes there, and the glue feeds back what
    // `after_failure` says.
    let rollback = polite.take_rollback();
    if let Some(input) = after_failure(&rollback) {
        polite.input(input);
    }
    // The offer's `setRemoteDescription` rolls our offer back implicitly, as browsers do.
    assert!(matches!(
        polite.todo.front(),
        Some(Action::SetRemoteDescription(_))
    ));
    polite.pc.state = SignalingState::Stable;
    polite.step();
    assert_eq!(
        polite.neg.remote_ufrag, new_ufrag,
        "the applied offer's credentials were not recorded"
    );
    progress(&mut polite, &mut impolite);
    assert_connected(&polite, &impolite);
    // Every other failed call abandons what it was part of.
    assert_eq!(
        after_failure(&Action::CreateAnswer),
        Some(Input::OperationFailed)
    );
}
