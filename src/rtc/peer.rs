//! [`Peer`]: the owner of one `RTCPeerConnection`, carrying out what the [`Negotiator`] decides.
//!
//! A `Peer` is built with a callback that sends [`Signal`]s to the other side (through the relay, or, in the
//! loopback page, straight into the other `Peer`), and is given the other side's signals with
//! [`Peer::receive`]. It trickles ICE candidates as they are gathered, exposes the connection, ICE,
//! signaling and gathering states as signals, restarts ICE by itself when the connection stays
//! `disconnected` past a grace period or goes `failed`, and reports everything that happens as a
//! [`PeerEvent`] stream (the loopback inspector's timeline is built from it).
//!
//! Every browser call is made from one task, in the order the negotiator asked for them, so no two
//! negotiation steps ever interleave. The task waits for each call before the next, except
//! `addIceCandidate`: the browser itself runs a connection's calls in the order they were made, and a wait
//! per candidate would put a turn of the page's event loop before the next step (an answer waited for
//! every candidate that came with the offer). For the same reason a candidate that arrives while a call is
//! under way is handed over at once, unless other signals that came before it are still waiting or a
//! `setRemoteDescription` is still queued ([`may_hand_over`]); while a remote description is being
//! applied, the negotiator passes on only the candidates with that description's ICE credentials, and
//! keeps the rest until it is set. Every listener is attached in
//! [`Peer::new`], before any call that could fire it (`track` fires inside `setRemoteDescription`).
//! Dropping the `Peer` removes every listener, stops the restart timer, closes the connection and ends
//! the task and the event stream.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use futures::channel::mpsc;
use futures::StreamExt;
use gloo_timers::callback::Timeout;
use leptos::prelude::*;
use peerlab_protocol::{IceServer, IceSummary};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Event, MediaStream, MediaStreamTrack, RtcConfiguration, RtcDataChannelEvent,
    RtcDataChannelInit, RtcIceCandidateInit, RtcOfferOptions, RtcPeerConnection,
    RtcPeerConnectionIceEvent, RtcSdpType, RtcSessionDescriptionInit, RtcTrackEvent,
};

use super::data::{DataChannel, DataEvents};
use super::diagnosis::Observation;
use super::inspection::Sdp;
use super::js;
use super::negotiation::RelayTransport;
use super::negotiation::{
    after_failure, may_hand_over, Action, Candidate, Description, Input, Negotiator, Note, SdpKind,
    Signal,
};
use super::states::{IceConnectionState, IceGatheringState, PeerConnectionState, SignalingState};
use super::stats::{parse_report, StatsSnapshot, RAW_STAT_FIELDS};
use super::timeline::StepKind;
use crate::error::{describe_js, RtcError};

/// How long a connection may stay `disconnected` before the peer restarts ICE. Short interruptions (a
/// Wi-Fi hiccup) recover on their own within a few seconds; a longer one usually means the path is gone.
pub const DEFAULT_RESTART_GRACE_MS: u32 = 5_000;

/// How to build a [`Peer`].
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// This side's id; with `remote_id` it decides who is polite.
    pub local_id: String,
    /// The other side's id.
    pub remote_id: String,
    /// STUN/TURN servers; empty means direct connections only.
    pub ice_servers: Vec<IceServer>,
    /// See [`DEFAULT_RESTART_GRACE_MS`].
    pub restart_grace_ms: u32,
    /// Make each offer and answer with `createOffer`/`createAnswer` and apply it with
    /// `setLocalDescription(description)`: two browser calls, which the loopback page shows one by one.
    /// Off (the default), one parameterless `setLocalDescription()` makes and applies it, so the page
    /// waits for the browser once instead of twice; a mesh call coming together feels every such wait on
    /// every connection. ICE restarts always take two calls (`createOffer` with `iceRestart`).
    pub separate_steps: bool,
}

impl PeerConfig {
    pub fn new(local_id: impl Into<String>, remote_id: impl Into<String>) -> Self {
        PeerConfig {
            local_id: local_id.into(),
            remote_id: remote_id.into(),
            ice_servers: Vec::new(),
            restart_grace_ms: DEFAULT_RESTART_GRACE_MS,
            separate_steps: false,
        }
    }
}

/// The connection's states as reactive values, for the inspectors and for the owner's decisions. They
/// end as `closed` when the `Peer` is dropped.
#[derive(Clone)]
pub struct PeerStates {
    /// `connectionState`: what the views show and the owners wait for.
    pub connection: ArcRwSignal<PeerConnectionState>,
    /// `iceConnectionState`: what the automatic ICE restart watches.
    pub ice: ArcRwSignal<IceConnectionState>,
    /// `signalingState`, shown by the inspectors.
    pub signaling: ArcRwSignal<SignalingState>,
    /// `iceGatheringState`, shown by the inspectors.
    pub gathering: ArcRwSignal<IceGatheringState>,
}

impl PeerStates {
    fn new() -> Self {
        PeerStates {
            connection: ArcRwSignal::new(PeerConnectionState::New),
            ice: ArcRwSignal::new(IceConnectionState::New),
            signaling: ArcRwSignal::new(SignalingState::Stable),
            gathering: ArcRwSignal::new(IceGatheringState::New),
        }
    }
}

/// Everything a `Peer` reports, in order.
pub enum PeerEvent {
    /// `createOffer` or `createAnswer` produced this description.
    DescriptionCreated {
        description: Description,
        ice_restart: bool,
    },
    LocalDescriptionSet(SdpKind),
    RemoteDescriptionSet(SdpKind),
    /// Our own offer was undone because the other side's offer won.
    RolledBack,
    /// A local candidate was gathered and sent.
    LocalCandidate(Candidate),
    /// Gathering finished (the browser's end-of-candidates).
    GatheringComplete,
    /// A remote candidate was handed to ICE.
    CandidateAdded(Candidate),
    /// A negotiation decision that changed nothing in the browser.
    Negotiation(Note),
    SignalingState(SignalingState),
    IceState(IceConnectionState),
    ConnectionState(PeerConnectionState),
    /// A remote track arrived (frames flow only once the connection is up).
    Track {
        track: MediaStreamTrack,
        stream: Option<MediaStream>,
    },
    /// The other side opened a data channel; it is already wrapped, its handlers attached.
    DataChannel(DataChannel, DataEvents),
    /// An ICE restart begins, and why.
    IceRestart {
        reason: &'static str,
    },
    Error(RtcError),
}

impl PeerEvent {
    /// What this event tells the failure diagnosis (`rtc::diagnosis::Observer`), if anything.
    pub fn observation(&self) -> Option<Observation> {
        match self {
            PeerEvent::LocalCandidate(c) => Some(Observation::LocalCandidate {
                kind: c.kind()?,
                relay: c.relay_protocol,
            }),
            PeerEvent::CandidateAdded(c) => Some(Observation::RemoteCandidate(c.kind()?)),
            PeerEvent::GatheringComplete => Some(Observation::GatheringComplete),
            PeerEvent::IceState(IceConnectionState::Failed)
            | PeerEvent::ConnectionState(PeerConnectionState::Failed) => Some(Observation::Failed),
            PeerEvent::IceState(state) if state.is_connected() => Some(Observation::Connected),
            PeerEvent::ConnectionState(PeerConnectionState::Connected) => {
                Some(Observation::Connected)
            }
            _ => None,
        }
    }
}

impl PeerEvent {
    /// The inspector's timeline step for this event, with the text it can show on demand (the SDP of a
    /// created description, the line of a gathered candidate); `None` for events that are not steps of
    /// the connection (a data channel the other side opened shows as its `open`).
    pub fn step(&self) -> Option<(StepKind, Option<String>)> {
        let kind = match self {
            PeerEvent::DescriptionCreated {
                description: Description { kind, sdp },
                ice_restart,
            } => {
                let step = match kind {
                    SdpKind::Offer => StepKind::OfferCreated {
                        ice_restart: *ice_restart,
                    },
                    SdpKind::Answer => StepKind::AnswerCreated,
                };
                return Some((step, Some(sdp.clone())));
            }
            PeerEvent::LocalCandidate(c) => {
                let step = StepKind::LocalCandidate {
                    kind: c.kind(),
                    address: format!(
                        "{} {}",
                        c.protocol().unwrap_or(""),
                        c.address().unwrap_or_default()
                    ),
                };
                return Some((step, Some(c.candidate.clone())));
            }
            PeerEvent::LocalDescriptionSet(kind) => StepKind::LocalDescriptionSet(*kind),
            PeerEvent::RemoteDescriptionSet(kind) => StepKind::RemoteDescriptionSet(*kind),
            PeerEvent::RolledBack => StepKind::RolledBack,
            PeerEvent::GatheringComplete => StepKind::GatheringComplete,
            // The other side's end-of-candidates marker is not a candidate.
            PeerEvent::CandidateAdded(c) if c.candidate.is_empty() => return None,
            PeerEvent::CandidateAdded(c) => StepKind::CandidateAdded { kind: c.kind() },
            PeerEvent::Negotiation(note) => StepKind::Negotiation(note.clone()),
            PeerEvent::SignalingState(s) => StepKind::SignalingState(*s),
            PeerEvent::IceState(s) => StepKind::IceState(*s),
            PeerEvent::ConnectionState(s) => StepKind::ConnectionState(*s),
            PeerEvent::Track { track, .. } => StepKind::Track { kind: track.kind() },
            PeerEvent::IceRestart { reason } => StepKind::IceRestart {
                reason: (*reason).to_owned(),
            },
            PeerEvent::Error(err) => StepKind::Failed(err.to_string()),
            PeerEvent::DataChannel(..) => return None,
        };
        Some((kind, None))
    }
}

/// The events of one peer. The stream ends when the peer is dropped.
pub type PeerEvents = mpsc::UnboundedReceiver<PeerEvent>;

/// Where the other side's signals go: into a peer's queue of inputs. Cheap to clone; delivering to a
/// dropped peer does nothing.
#[derive(Clone)]
pub struct SignalSink(mpsc::UnboundedSender<Input>);

impl SignalSink {
    pub fn deliver(&self, signal: Signal) {
        let _ = self.0.unbounded_send(Input::SignalReceived(signal));
    }
}

/// What the listeners, the timer and the worker task share.
struct Shared {
    /// Decides every negotiation step.
    negotiator: Negotiator,
    /// Where events go.
    events: mpsc::UnboundedSender<PeerEvent>,
    /// The reactive states, updated by the listeners.
    states: PeerStates,
    /// Pending "still disconnected?" check; dropping it cancels the browser timeout.
    restart_timer: Option<Timeout>,
}

impl Shared {
    fn emit(&self, event: PeerEvent) {
        // A closed receiver means the owner stopped listening.
        let _ = self.events.unbounded_send(event);
    }
}

/// One peer connection. See the module documentation.
pub struct Peer {
    pc: RtcPeerConnection,
    shared: Rc<RefCell<Shared>>,
    /// The worker task's queue; closed on drop so the task ends.
    inputs: mpsc::UnboundedSender<Input>,
    states: PeerStates,
    polite: bool,
    /// Held so each listener lives exactly as long as the connection may call it.
    _on_negotiation_needed: Closure<dyn FnMut(Event)>,
    _on_ice_candidate: Closure<dyn FnMut(RtcPeerConnectionIceEvent)>,
    _on_signaling_state: Closure<dyn FnMut(Event)>,
    _on_ice_state: Closure<dyn FnMut(Event)>,
    _on_gathering_state: Closure<dyn FnMut(Event)>,
    _on_connection_state: Closure<dyn FnMut(Event)>,
    _on_track: Closure<dyn FnMut(RtcTrackEvent)>,
    _on_data_channel: Closure<dyn FnMut(RtcDataChannelEvent)>,
}

impl Peer {
    /// Creates the connection and attaches every listener. `send` is called with each signal for the
    /// other side; it must not call back into this peer synchronously.
    pub fn new(
        config: PeerConfig,
        send: impl Fn(Signal) + 'static,
    ) -> Result<(Peer, PeerEvents), RtcError> {
        let rtc_config = rtc_configuration(&config.ice_servers)
            .map_err(|err| RtcError::Create(describe_js(&err)))?;
        let pc = RtcPeerConnection::new_with_configuration(&rtc_config)
            .map_err(|err| RtcError::Create(describe_js(&err)))?;
        let send: Rc<dyn Fn(Signal)> = Rc::new(send);
        let (events, event_rx) = mpsc::unbounded();
        let (inputs, input_rx) = mpsc::unbounded();
        let negotiator = Negotiator::new(&config.local_id, &config.remote_id);
        let polite = negotiator.is_polite();
        let states = PeerStates::new();
        let shared = Rc::new(RefCell::new(Shared {
            negotiator,
            events,
            states: states.clone(),
            restart_timer: None,
        }));

        let on_negotiation_needed = {
            let inputs = inputs.clone();
            Closure::<dyn FnMut(Event)>::new(move |_: Event| {
                let _ = inputs.unbounded_send(Input::NegotiationNeeded);
            })
        };
        let on_ice_candidate = {
            let (shared, send) = (Rc::clone(&shared), Rc::clone(&send));
            Closure::<dyn FnMut(RtcPeerConnectionIceEvent)>::new(
                move |event: RtcPeerConnectionIceEvent| match event.candidate() {
                    Some(c) if !c.candidate().is_empty() => {
                        let candidate = Candidate {
                            candidate: c.candidate(),
                            sdp_mid: c.sdp_mid(),
                            sdp_m_line_index: c.sdp_m_line_index(),
                            username_fragment: js::string(&c, "usernameFragment"),
                            relay_protocol: js::string(&c, "relayProtocol")
                                .as_deref()
                                .and_then(RelayTransport::parse),
                        };
                        shared
                            .borrow()
                            .emit(PeerEvent::LocalCandidate(candidate.clone()));
                        send(Signal::Candidate(candidate));
                    }
                    _ => shared.borrow().emit(PeerEvent::GatheringComplete),
                },
            )
        };
        let on_signaling_state = {
            let (shared, pc) = (Rc::clone(&shared), pc.clone());
            Closure::<dyn FnMut(Event)>::new(move |_: Event| {
                let Some(state) = read_state(&pc, "signalingState", SignalingState::parse) else {
                    return;
                };
                let mut s = shared.borrow_mut();
                s.negotiator.handle(Input::SignalingStateChanged(state));
                s.states.signaling.set(state);
                s.emit(PeerEvent::SignalingState(state));
            })
        };
        let on_ice_state = {
            let (shared, pc, inputs) = (Rc::clone(&shared), pc.clone(), inputs.clone());
            let grace = config.restart_grace_ms;
            Closure::<dyn FnMut(Event)>::new(move |_: Event| {
                if let Some(state) =
                    read_state(&pc, "iceConnectionState", IceConnectionState::parse)
                {
                    on_ice_state_change(&shared, &pc, &inputs, grace, state);
                }
            })
        };
        let on_gathering_state = {
            let (shared, pc) = (Rc::clone(&shared), pc.clone());
            Closure::<dyn FnMut(Event)>::new(move |_: Event| {
                if let Some(state) = read_state(&pc, "iceGatheringState", IceGatheringState::parse)
                {
                    shared.borrow().states.gathering.set(state);
                }
            })
        };
        let on_connection_state = {
            let (shared, pc) = (Rc::clone(&shared), pc.clone());
            Closure::<dyn FnMut(Event)>::new(move |_: Event| {
                if let Some(state) = read_state(&pc, "connectionState", PeerConnectionState::parse)
                {
                    let s = shared.borrow();
                    s.states.connection.set(state);
                    s.emit(PeerEvent::ConnectionState(state));
                }
            })
        };
        let on_track = {
            let shared = Rc::clone(&shared);
            Closure::<dyn FnMut(RtcTrackEvent)>::new(move |event: RtcTrackEvent| {
                let stream = event.streams().get(0).dyn_into::<MediaStream>().ok();
                shared.borrow().emit(PeerEvent::Track {
                    track: event.track(),
                    stream,
                });
            })
        };
        let on_data_channel = {
            let shared = Rc::clone(&shared);
            Closure::<dyn FnMut(RtcDataChannelEvent)>::new(move |event: RtcDataChannelEvent| {
                let (channel, events) = DataChannel::wrap(event.channel());
                shared
                    .borrow()
                    .emit(PeerEvent::DataChannel(channel, events));
            })
        };
        pc.set_onnegotiationneeded(Some(on_negotiation_needed.as_ref().unchecked_ref()));
        pc.set_onicecandidate(Some(on_ice_candidate.as_ref().unchecked_ref()));
        pc.set_onsignalingstatechange(Some(on_signaling_state.as_ref().unchecked_ref()));
        pc.set_oniceconnectionstatechange(Some(on_ice_state.as_ref().unchecked_ref()));
        pc.set_onicegatheringstatechange(Some(on_gathering_state.as_ref().unchecked_ref()));
        pc.set_onconnectionstatechange(Some(on_connection_state.as_ref().unchecked_ref()));
        pc.set_ontrack(Some(on_track.as_ref().unchecked_ref()));
        pc.set_ondatachannel(Some(on_data_channel.as_ref().unchecked_ref()));

        spawn_local(run(
            pc.clone(),
            Rc::downgrade(&shared),
            input_rx,
            send,
            config.separate_steps,
        ));

        let peer = Peer {
            pc,
            shared,
            inputs,
            states,
            polite,
            _on_negotiation_needed: on_negotiation_needed,
            _on_ice_candidate: on_ice_candidate,
            _on_signaling_state: on_signaling_state,
            _on_ice_state: on_ice_state,
            _on_gathering_state: on_gathering_state,
            _on_connection_state: on_connection_state,
            _on_track: on_track,
            _on_data_channel: on_data_channel,
        };
        Ok((peer, event_rx))
    }

    /// Hands the peer a signal from the other side.
    pub fn receive(&self, signal: Signal) {
        let _ = self.inputs.unbounded_send(Input::SignalReceived(signal));
    }

    /// A handle that delivers signals to this peer, for whoever carries the other side's signals.
    pub fn sink(&self) -> SignalSink {
        SignalSink(self.inputs.clone())
    }

    /// The connection's states as reactive values.
    pub fn states(&self) -> PeerStates {
        self.states.clone()
    }

    /// Whether this side yields when both sides offer at once.
    pub fn is_polite(&self) -> bool {
        self.polite
    }

    /// Sends `track` (part of `stream`) to the other side; negotiation follows by itself.
    pub fn add_track(
        &self,
        track: &MediaStreamTrack,
        stream: &MediaStream,
    ) -> Result<(), RtcError> {
        // Called through `Function::call2`, which catches: web-sys binds `addTrack` as non-throwing, but
        // it throws for a track that is already added or a closed connection.
        let add_track: js_sys::Function = js_sys::Reflect::get(&self.pc, &"addTrack".into())
            .and_then(|f| f.dyn_into())
            .map_err(|err| RtcError::AddTrack(describe_js(&err)))?;
        add_track
            .call2(&self.pc, track, stream)
            .map(|_| ())
            .map_err(|err| RtcError::AddTrack(describe_js(&err)))
    }

    /// Opens a reliable, ordered data channel; the first one triggers negotiation.
    pub fn create_data_channel(&self, label: &str) -> Result<(DataChannel, DataEvents), RtcError> {
        let init = RtcDataChannelInit::new();
        init.set_ordered(true);
        let channel = self
            .pc
            .create_data_channel_with_data_channel_dict(label, &init);
        Ok(DataChannel::wrap(channel))
    }

    /// Opens a channel both sides create themselves with the same `id` (`negotiated: true`), reliable and
    /// ordered. Neither side waits for the other to announce it, and no `datachannel` event fires for it.
    /// The first data channel of a connection triggers negotiation.
    pub fn create_negotiated_data_channel(
        &self,
        label: &str,
        id: u16,
    ) -> Result<(DataChannel, DataEvents), RtcError> {
        self.open_data_channel(label, Some(id))
    }

    /// Opens a reliable, ordered data channel, `negotiated` with that id if one is given, otherwise
    /// announced to the other side (its `datachannel` event). Unlike [`Peer::create_data_channel`], a
    /// refusal (a closed connection, an id in use) is an error rather than an exception.
    pub fn open_data_channel(
        &self,
        label: &str,
        negotiated_id: Option<u16>,
    ) -> Result<(DataChannel, DataEvents), RtcError> {
        let init = RtcDataChannelInit::new();
        init.set_ordered(true);
        if let Some(id) = negotiated_id {
            init.set_negotiated(true);
            init.set_id(id);
        }
        // Called through `Function::call2`, which catches: web-sys binds `createDataChannel` as
        // non-throwing, but it throws for a closed connection or an id already in use.
        let create: js_sys::Function = js_sys::Reflect::get(&self.pc, &"createDataChannel".into())
            .and_then(|f| f.dyn_into())
            .map_err(|err| RtcError::DataChannel(describe_js(&err)))?;
        let channel = create
            .call2(&self.pc, &JsValue::from_str(label), &init)
            .map_err(|err| RtcError::DataChannel(describe_js(&err)))?;
        Ok(DataChannel::wrap(channel.unchecked_into()))
    }

    /// The current local and remote session descriptions' SDP (`currentLocalDescription`,
    /// `currentRemoteDescription`), for the call verification code.
    pub fn current_sdps(&self) -> (Option<String>, Option<String>) {
        let read = |key: &str| {
            js_sys::Reflect::get(&self.pc, &JsValue::from_str(key))
                .ok()
                .and_then(|d| js::string(&d, "sdp"))
        };
        (
            read("currentLocalDescription"),
            read("currentRemoteDescription"),
        )
    }

    /// The descriptions the connection holds now (`localDescription`, `remoteDescription`: the pending
    /// one during a negotiation, else the current one), with the candidates gathered since, for the
    /// inspector.
    pub fn descriptions(&self) -> (Option<Sdp>, Option<Sdp>) {
        let read = |key: &str| {
            let description = js_sys::Reflect::get(&self.pc, &JsValue::from_str(key)).ok()?;
            let kind = match js::string(&description, "type")?.as_str() {
                "offer" => SdpKind::Offer,
                "answer" | "pranswer" => SdpKind::Answer,
                _ => return None,
            };
            let text = js::string(&description, "sdp")?;
            Some(Sdp { kind, text })
        };
        (read("localDescription"), read("remoteDescription"))
    }

    /// Replaces the STUN/TURN servers (`setConfiguration`), e.g. when the relay refreshes time-limited TURN
    /// credentials. The connection carries on; the new servers serve the next gathering (an ICE restart).
    pub fn set_ice_servers(&self, servers: &[IceServer]) -> Result<(), RtcError> {
        let config =
            rtc_configuration(servers).map_err(|err| RtcError::Configure(describe_js(&err)))?;
        // Called through `Function::call1`, which catches: `setConfiguration` throws for a closed
        // connection or a configuration it cannot take.
        let set: js_sys::Function = js_sys::Reflect::get(&self.pc, &"setConfiguration".into())
            .and_then(|f| f.dyn_into())
            .map_err(|err| RtcError::Configure(describe_js(&err)))?;
        set.call1(&self.pc, &config)
            .map(|_| ())
            .map_err(|err| RtcError::Configure(describe_js(&err)))
    }

    /// The URLs of the ICE servers the connection is configured with now (`getConfiguration`).
    pub fn ice_server_urls(&self) -> Vec<String> {
        let config: JsValue = self.pc.get_configuration().into();
        js_sys::JSON::stringify(&config)
            .ok()
            .and_then(|json| json.as_string())
            .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok())
            .and_then(|value| value.get("iceServers").cloned())
            .and_then(|servers| serde_json::from_value::<Vec<IceServer>>(servers).ok())
            .map(|servers| servers.into_iter().flat_map(|s| s.urls).collect())
            .unwrap_or_default()
    }

    /// Which kinds of STUN/TURN server the connection is configured with now, for the failure diagnosis.
    pub fn ice_summary(&self) -> IceSummary {
        IceSummary::from_urls(self.ice_server_urls().iter().map(String::as_str))
    }

    /// Starts the offer now, without waiting for the browser's `negotiationneeded`, which fires only as a
    /// task of its own after the page's current work (rendering the conversation that was just opened)
    /// and so delays the offer and the start of gathering by that much. For the side that opens the
    /// connection, right after its first data channel or track; the browser's own event then finds the
    /// offer under way and adds nothing ([`Note::NegotiationUnderWay`]).
    pub fn offer_now(&self) {
        let _ = self.inputs.unbounded_send(Input::NegotiationNeeded);
    }

    /// Restarts ICE: new credentials, new candidates, new connectivity checks, same call.
    pub fn restart_ice(&self) {
        self.shared.borrow().emit(PeerEvent::IceRestart {
            reason: "asked for",
        });
        let _ = self.inputs.unbounded_send(Input::RestartIce);
    }

    /// The loudest level (0 to 1, linear, as the browser measures it from the RTP header extension) of the
    /// audio arriving on this connection, or `None` before any has arrived. Cheap and synchronous: it reads
    /// the receivers' last packets, with no audio graph.
    pub fn remote_audio_level(&self) -> Option<f64> {
        let get =
            |object: &JsValue, key: &str| js_sys::Reflect::get(object, &JsValue::from_str(key));
        let call0 = |object: &JsValue, key: &str| {
            get(object, key)
                .and_then(|f| f.dyn_into::<js_sys::Function>())
                .and_then(|f| f.call0(object))
        };
        let receivers = call0(&self.pc, "getReceivers").ok()?;
        js_sys::Array::from(&receivers)
            .iter()
            .filter(|r| {
                get(r, "track")
                    .ok()
                    .and_then(|track| js::string(&track, "kind"))
                    .as_deref()
                    == Some("audio")
            })
            .filter_map(|r| call0(&r, "getSynchronizationSources").ok())
            .flat_map(|sources| js_sys::Array::from(&sources).iter().collect::<Vec<_>>())
            .filter_map(|source| get(&source, "audioLevel").ok().and_then(|l| l.as_f64()))
            .reduce(f64::max)
    }

    /// The `RTCRtpSender`s whose transceiver carries `kind` (`audio` or `video`), found through the
    /// transceivers' receivers, which always have a track of their kind (a sender's track may be null).
    fn senders_of(&self, kind: &str) -> Vec<JsValue> {
        let get =
            |object: &JsValue, key: &str| js_sys::Reflect::get(object, &JsValue::from_str(key));
        let transceivers = js_sys::Reflect::get(&self.pc, &"getTransceivers".into())
            .and_then(|f| f.dyn_into::<js_sys::Function>())
            .and_then(|f| f.call0(&self.pc));
        let Ok(list) = transceivers else {
            return Vec::new();
        };
        js_sys::Array::from(&list)
            .iter()
            .filter(|t| {
                get(t, "receiver")
                    .and_then(|r| get(&r, "track"))
                    .ok()
                    .and_then(|track| js::string(&track, "kind"))
                    .as_deref()
                    == Some(kind)
            })
            .filter(|t| js::string(t, "currentDirection").as_deref() != Some("stopped"))
            .filter_map(|t| get(&t, "sender").ok())
            .filter(|s| !s.is_undefined() && !s.is_null())
            .collect()
    }

    /// Sends `track` instead of the current track of its kind (`RTCRtpSender.replaceTrack`): no
    /// renegotiation, the other side's track keeps playing with the new source (camera switch, screen
    /// share). The future owns what it needs.
    pub fn replace_track(
        &self,
        track: &MediaStreamTrack,
    ) -> impl std::future::Future<Output = Result<(), RtcError>> {
        let senders = self.senders_of(&track.kind());
        let track = Clone::clone(track);
        async move {
            for sender in senders {
                let promise = js_sys::Reflect::get(&sender, &"replaceTrack".into())
                    .and_then(|f| f.dyn_into::<js_sys::Function>())
                    .and_then(|f| f.call1(&sender, &track))
                    .and_then(|p| p.dyn_into::<js_sys::Promise>())
                    .map_err(|err| RtcError::ReplaceTrack(describe_js(&err)))?;
                JsFuture::from(promise)
                    .await
                    .map_err(|err| RtcError::ReplaceTrack(describe_js(&err)))?;
            }
            Ok(())
        }
    }

    /// Caps the bitrate of every outgoing stream of `kind` (`encodings[0].maxBitrate` through
    /// `getParameters`/`setParameters`). A sender not negotiated yet has no encodings; it is skipped and
    /// the caller applies the cap again once the connection is up.
    pub fn set_max_bitrate(
        &self,
        kind: &str,
        bps: u32,
    ) -> impl std::future::Future<Output = Result<usize, RtcError>> {
        let senders = self.senders_of(kind);
        async move {
            let mut applied = 0;
            for sender in senders {
                let call = |name: &str, args: &js_sys::Array| {
                    js_sys::Reflect::get(&sender, &JsValue::from_str(name))
                        .and_then(|f| f.dyn_into::<js_sys::Function>())
                        .and_then(|f| f.apply(&sender, args))
                };
                let params = call("getParameters", &js_sys::Array::new())
                    .map_err(|err| RtcError::Bitrate(describe_js(&err)))?;
                let encodings = js_sys::Reflect::get(&params, &"encodings".into())
                    .ok()
                    .filter(js_sys::Array::is_array)
                    .map(|e| js_sys::Array::from(&e));
                let Some(first) = encodings.and_then(|e| (e.length() > 0).then(|| e.get(0))) else {
                    continue;
                };
                js::set(&first, "maxBitrate", &JsValue::from_f64(f64::from(bps)));
                let promise = call("setParameters", &js_sys::Array::of1(&params))
                    .and_then(|p| p.dyn_into::<js_sys::Promise>())
                    .map_err(|err| RtcError::Bitrate(describe_js(&err)))?;
                JsFuture::from(promise)
                    .await
                    .map_err(|err| RtcError::Bitrate(describe_js(&err)))?;
                applied += 1;
            }
            Ok(applied)
        }
    }

    /// Reads the connection's statistics once. The future owns what it needs, so it may outlive the peer
    /// (it then fails, as the closed connection has no statistics).
    pub fn stats(&self) -> impl std::future::Future<Output = Result<StatsSnapshot, RtcError>> {
        let pc = self.pc.clone();
        async move {
            let report = JsFuture::from(pc.get_stats())
                .await
                .map_err(|err| RtcError::Stats(describe_js(&err)))?;
            let values = js_sys::Reflect::get(&report, &"values".into())
                .and_then(|f| f.dyn_into::<js_sys::Function>())
                .and_then(|f| f.call0(&report))
                .map(|iterator| js_sys::Array::from(&iterator))
                .map_err(|err| RtcError::Stats(describe_js(&err)))?;
            let fields: js_sys::Array = RAW_STAT_FIELDS
                .iter()
                .map(|f| JsValue::from_str(f))
                .collect();
            let json = js_sys::JSON::stringify_with_replacer(&values, &fields)
                .map_err(|err| RtcError::Stats(describe_js(&err)))?;
            parse_report(&String::from(json)).map_err(RtcError::Stats)
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.pc.set_onnegotiationneeded(None);
        self.pc.set_onicecandidate(None);
        self.pc.set_onsignalingstatechange(None);
        self.pc.set_oniceconnectionstatechange(None);
        self.pc.set_onicegatheringstatechange(None);
        self.pc.set_onconnectionstatechange(None);
        self.pc.set_ontrack(None);
        self.pc.set_ondatachannel(None);
        if let Ok(mut shared) = self.shared.try_borrow_mut() {
            shared.restart_timer = None;
        }
        self.inputs.close_channel();
        self.pc.close();
        // `close` fires no state events; show what the connection reports now.
        let pc = &self.pc;
        self.states.connection.set(
            read_state(pc, "connectionState", PeerConnectionState::parse)
                .unwrap_or(PeerConnectionState::Closed),
        );
        self.states.ice.set(
            read_state(pc, "iceConnectionState", IceConnectionState::parse)
                .unwrap_or(IceConnectionState::Closed),
        );
        self.states.signaling.set(
            read_state(pc, "signalingState", SignalingState::parse)
                .unwrap_or(SignalingState::Closed),
        );
    }
}

/// Makes and closes a connection that is never used, so the browser starts its WebRTC machinery (its
/// threads, the list of network interfaces, the connection certificate) before the first real connection
/// needs it: the first connection of a page otherwise waits for all of it, on both sides
/// (docs/BENCHMARKS.md, time to the first message). No description is set, so nothing is gathered and no
/// packet leaves the machine.
pub fn warm_up() {
    if let Ok(pc) = RtcPeerConnection::new() {
        pc.close();
    }
}

/// Reads one of the connection's states and parses the browser's word. A word this app does not know
/// (a state a later specification adds) is `None`: the listeners then keep the last state they knew.
fn read_state<S>(pc: &RtcPeerConnection, key: &str, parse: fn(&str) -> Option<S>) -> Option<S> {
    js::string(pc, key).as_deref().and_then(parse)
}

pub(super) fn rtc_configuration(servers: &[IceServer]) -> Result<RtcConfiguration, JsValue> {
    let json = serde_json::json!({ "iceServers": servers, "bundlePolicy": "max-bundle" });
    Ok(js::from_json(&json)?.unchecked_into())
}

/// Tracks the ICE state and decides on automatic restarts: at once on `failed`, after the grace period on
/// a `disconnected` that does not recover.
fn on_ice_state_change(
    shared: &Rc<RefCell<Shared>>,
    pc: &RtcPeerConnection,
    inputs: &mpsc::UnboundedSender<Input>,
    grace_ms: u32,
    state: IceConnectionState,
) {
    let mut s = shared.borrow_mut();
    s.states.ice.set(state);
    s.emit(PeerEvent::IceState(state));
    match state {
        IceConnectionState::Failed => {
            s.restart_timer = None;
            s.emit(PeerEvent::IceRestart {
                reason: "ICE failed",
            });
            let _ = inputs.unbounded_send(Input::RestartIce);
        }
        IceConnectionState::Disconnected => {
            let (weak, pc, inputs) = (Rc::downgrade(shared), pc.clone(), inputs.clone());
            s.restart_timer = Some(Timeout::new(grace_ms, move || {
                let Some(shared) = weak.upgrade() else { return };
                let now = read_state(&pc, "iceConnectionState", IceConnectionState::parse);
                if now == Some(IceConnectionState::Disconnected) {
                    shared.borrow().emit(PeerEvent::IceRestart {
                        reason: "disconnected too long",
                    });
                    let _ = inputs.unbounded_send(Input::RestartIce);
                }
            }));
        }
        _ => s.restart_timer = None,
    }
}

/// The worker: takes inputs one at a time and carries out the negotiator's actions in order, feeding each
/// completed browser call back in. Ends when the peer is dropped.
async fn run(
    pc: RtcPeerConnection,
    shared: Weak<RefCell<Shared>>,
    mut inputs: mpsc::UnboundedReceiver<Input>,
    send: Rc<dyn Fn(Signal)>,
    separate_steps: bool,
) {
    // Inputs that arrived while an operation was under way, in order.
    let mut waiting: VecDeque<Input> = VecDeque::new();
    let mut closed = false;
    loop {
        let input = match waiting.pop_front() {
            Some(input) => input,
            None if closed => return,
            None => match inputs.next().await {
                Some(input) => input,
                None => return,
            },
        };
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let mut todo: VecDeque<Action> = strong.borrow_mut().negotiator.handle(input).into();
        drop(strong);
        while let Some(action) = todo.pop_front() {
            let on_failure = after_failure(&action);
            let operation = async {
                match action {
                    Action::CreateOffer { ice_restart: false } | Action::CreateAnswer
                        if !separate_steps =>
                    {
                        make_and_apply(&pc).await
                    }
                    action => perform(&pc, &shared, &send, action).await,
                }
            };
            let mut operation = std::pin::pin!(operation);
            // While the browser works on the operation, a candidate that arrives goes to it at once
            // (the browser queues `addIceCandidate` behind the operation), unless inputs that came
            // before it are waiting: candidates are what ICE needs to start checking, and a round trip
            // through this loop after each operation costs a main-thread turn on a busy page.
            let outcome = loop {
                if closed {
                    break operation.await;
                }
                match futures::future::select(operation.as_mut(), inputs.next()).await {
                    futures::future::Either::Left((outcome, _)) => break outcome,
                    futures::future::Either::Right((Some(input), _)) => {
                        if waiting.is_empty() && may_hand_over(&input, &todo) {
                            todo.extend(hand_over_candidate(&pc, &shared, input));
                        } else {
                            waiting.push_back(input);
                        }
                    }
                    futures::future::Either::Right((None, _)) => closed = true,
                }
            };
            let Some(strong) = shared.upgrade() else {
                return;
            };
            let mut s = strong.borrow_mut();
            for event in outcome.events {
                s.emit(event);
            }
            let next = match outcome.next {
                Some(Input::OperationFailed) => on_failure,
                next => next,
            };
            if let Some(input) = next {
                todo.extend(s.negotiator.handle(input));
            }
        }
    }
}

/// Feeds a received candidate to the negotiator while an operation is under way and carries out what it
/// decides now (add it, or note that it waits or was dropped); returns anything else for the loop.
fn hand_over_candidate(
    pc: &RtcPeerConnection,
    shared: &Weak<RefCell<Shared>>,
    input: Input,
) -> Vec<Action> {
    let Some(strong) = shared.upgrade() else {
        return Vec::new();
    };
    let actions = strong.borrow_mut().negotiator.handle(input);
    let mut rest = Vec::new();
    for action in actions {
        match action {
            Action::AddCandidate(candidate) => add_candidate(pc, shared, candidate),
            Action::Note(note) => strong.borrow().emit(PeerEvent::Negotiation(note)),
            other => rest.push(other),
        }
    }
    rest
}

/// What one action led to: events to report and the input to feed back.
struct Outcome {
    events: Vec<PeerEvent>,
    next: Option<Input>,
}

impl Outcome {
    fn new(event: Option<PeerEvent>, next: Option<Input>) -> Self {
        Outcome {
            events: event.into_iter().collect(),
            next,
        }
    }

    fn failed(step: &'static str, err: &JsValue) -> Self {
        Outcome::new(
            Some(PeerEvent::Error(RtcError::negotiation(step, err))),
            Some(Input::OperationFailed),
        )
    }
}

async fn perform(
    pc: &RtcPeerConnection,
    shared: &Weak<RefCell<Shared>>,
    send: &Rc<dyn Fn(Signal)>,
    action: Action,
) -> Outcome {
    match action {
        Action::CreateOffer { ice_restart } => {
            let options = RtcOfferOptions::new();
            options.set_ice_restart(ice_restart);
            match JsFuture::from(pc.create_offer_with_rtc_offer_options(&options)).await {
                Ok(value) => created(&value, ice_restart),
                Err(err) => Outcome::failed("createOffer", &err),
            }
        }
        Action::CreateAnswer => match JsFuture::from(pc.create_answer()).await {
            Ok(value) => created(&value, false),
            Err(err) => Outcome::failed("createAnswer", &err),
        },
        Action::SetLocalDescription(description) => {
            let init = description_init(&description);
            match JsFuture::from(pc.set_local_description(&init)).await {
                Ok(_) => Outcome::new(
                    Some(PeerEvent::LocalDescriptionSet(description.kind)),
                    Some(Input::LocalDescriptionApplied(description)),
                ),
                Err(err) => Outcome::failed("setLocalDescription", &err),
            }
        }
        Action::Rollback => {
            let init = RtcSessionDescriptionInit::new(RtcSdpType::Rollback);
            match JsFuture::from(pc.set_local_description(&init)).await {
                Ok(_) => Outcome::new(Some(PeerEvent::RolledBack), None),
                Err(err) => Outcome::failed("rollback", &err),
            }
        }
        Action::SetRemoteDescription(description) => {
            let init = description_init(&description);
            match JsFuture::from(pc.set_remote_description(&init)).await {
                Ok(_) => Outcome::new(
                    Some(PeerEvent::RemoteDescriptionSet(description.kind)),
                    Some(Input::RemoteDescriptionApplied(description.kind)),
                ),
                Err(err) => Outcome::failed("setRemoteDescription", &err),
            }
        }
        Action::AddCandidate(candidate) => {
            add_candidate(pc, shared, candidate);
            Outcome::new(None, None)
        }
        Action::Send(signal) => {
            send(signal);
            Outcome::new(None, None)
        }
        Action::Note(note) => Outcome::new(Some(PeerEvent::Negotiation(note)), None),
    }
}

/// Hands `candidate` to the browser without waiting for it (see the module documentation): calls made
/// after this one still see it added. The outcome is reported when it comes; it changes no negotiation
/// state.
fn add_candidate(pc: &RtcPeerConnection, shared: &Weak<RefCell<Shared>>, candidate: Candidate) {
    let init = RtcIceCandidateInit::new(&candidate.candidate);
    init.set_sdp_mid(candidate.sdp_mid.as_deref());
    init.set_sdp_m_line_index(candidate.sdp_m_line_index);
    if let Some(ufrag) = &candidate.username_fragment {
        js::set(&init, "usernameFragment", &JsValue::from_str(ufrag));
    }
    let added = JsFuture::from(pc.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init)));
    let shared = shared.clone();
    spawn_local(async move {
        let event = match added.await {
            Ok(_) => PeerEvent::CandidateAdded(candidate),
            // A candidate that cannot be added does not undo the negotiation it belongs to.
            Err(err) => PeerEvent::Error(RtcError::negotiation("addIceCandidate", &err)),
        };
        if let Some(shared) = shared.upgrade() {
            shared.borrow().emit(event);
        }
    });
}

/// `setLocalDescription()` without a description: the browser makes the offer or answer the signaling
/// state calls for and applies it, in one call. Reported as both steps, fed back as applied.
async fn make_and_apply(pc: &RtcPeerConnection) -> Outcome {
    let applied = js_sys::Reflect::get(pc, &JsValue::from_str("setLocalDescription"))
        .and_then(|f| f.dyn_into::<js_sys::Function>())
        .and_then(|set| set.call0(pc))
        .and_then(|promise| promise.dyn_into::<js_sys::Promise>());
    let applied = match applied {
        Ok(promise) => JsFuture::from(promise).await,
        Err(err) => Err(err),
    };
    if let Err(err) = applied {
        return Outcome::failed("setLocalDescription", &err);
    }
    let local =
        js_sys::Reflect::get(pc, &JsValue::from_str("localDescription")).unwrap_or_default();
    let description = match read_description(&local) {
        Ok(description) => description,
        Err(err) => return Outcome::failed("setLocalDescription", &err),
    };
    let kind = description.kind;
    Outcome {
        events: vec![
            PeerEvent::DescriptionCreated {
                description: description.clone(),
                ice_restart: false,
            },
            PeerEvent::LocalDescriptionSet(kind),
        ],
        next: Some(Input::LocalDescriptionApplied(description)),
    }
}

fn created(value: &JsValue, ice_restart: bool) -> Outcome {
    let description = match read_description(value) {
        Ok(description) => description,
        Err(err) => return Outcome::failed("createOffer/createAnswer", &err),
    };
    Outcome::new(
        Some(PeerEvent::DescriptionCreated {
            ice_restart: ice_restart && description.kind == SdpKind::Offer,
            description: description.clone(),
        }),
        Some(Input::DescriptionCreated(description)),
    )
}

/// A browser `RTCSessionDescription` (or its init dictionary) as a [`Description`].
fn read_description(value: &JsValue) -> Result<Description, JsValue> {
    let kind = match js::string(value, "type").as_deref() {
        Some("offer") => SdpKind::Offer,
        Some("answer") => SdpKind::Answer,
        other => {
            return Err(JsValue::from_str(&format!(
                "unexpected description type {other:?}"
            )))
        }
    };
    Ok(Description {
        kind,
        sdp: js::string(value, "sdp").unwrap_or_default(),
    })
}

fn description_init(description: &Description) -> RtcSessionDescriptionInit {
    let kind = match description.kind {
        SdpKind::Offer => RtcSdpType::Offer,
        SdpKind::Answer => RtcSdpType::Answer,
    };
    let init = RtcSessionDescriptionInit::new(kind);
    init.set_sdp(&description.sdp);
    init
}
