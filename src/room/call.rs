//! [`use_call`]: the runtime of one room call — on the mesh runtime ([`use_mesh`]), this client's camera
//! and microphone tracks on every peer, a chat channel and a control channel per peer, screen sharing,
//! the stats poll and the bitrate caps — with what the page shows in reactive values.
//!
//! Full mesh without timers: on a welcome this client creates a peer to every member already there; a
//! member's first signal creates the peer on the other side ([`PeerMesh::handle`]); each side adds its
//! local tracks to every peer it creates, and perfect negotiation (in `rtc::Peer`) settles any glare.
//! Switching a device and sharing the screen use `replaceTrack`, so nothing is renegotiated.
//!
//! Ownership: the runtime owns the mesh (every peer connection), every data channel, the shared screen's
//! stream and its `ended` listener, and the poll timer. The camera and microphone belong to the page's
//! `use_media_stream`. [`CallHandle::leave`] and the component's cleanup (through [`use_mesh`]) close all
//! of it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures::StreamExt;
use gloo_timers::callback::Interval;
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use peerlab_protocol::PeerId;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{MediaStream, MediaStreamTrack};

use super::bitrate::video_cap_bps;
use super::chat::RoomChat;
use super::control::{self, Control, MediaState, CONTROL_CHANNEL_ID, CONTROL_CHANNEL_LABEL};
use super::forming::{FirstOffers, Forming};
use super::pacing::SPEAKING_LIGHTS;
use super::participants::Participants;
use super::quality::Quality;
use crate::chat::wire::{self, Wire, CHAT_CHANNEL_ID, CHAT_CHANNEL_LABEL, MAX_TEXT_BYTES};
use crate::mesh::{use_mesh, MeshApp, MeshChange, MeshEvent, MeshRuntime, PeerMesh, PeerRow};
use crate::rtc::data::{DataChannel, DataEvent, DataEvents};
use crate::rtc::diagnosis::ConnectionProblem;
use crate::rtc::media::{
    open_display, stop_stream, tracks_of, MediaHandle, OnTrackEnded, TrackKind,
};
use crate::rtc::path::PathReading;
use crate::rtc::peer::PeerEvent;
use crate::rtc::states::PeerConnectionState;
use crate::rtc::stats::StatsSnapshot;
use crate::signaling::{RelayRoom, SignalingEvent};

/// How often each connection's statistics are read for its tile.
pub const STATS_POLL_MS: u32 = 2_000;

/// A handle to the call of one page. `Copy`, so view closures capture it freely; every method is a no-op
/// once the owning component is gone.
#[derive(Clone, Copy)]
pub struct CallHandle {
    /// What the runtime shows, read by the page through the methods below.
    s: Signals,
    /// The page's camera and microphone, for the self tile.
    media: MediaHandle,
    runtime: MeshRuntime<Runtime>,
}

/// Starts the call runtime on `relay`'s room with `media`'s camera and microphone; it ends with the
/// calling component. Call it before `relay.join`, so no relay event is missed.
pub fn use_call(relay: RelayRoom, media: MediaHandle) -> CallHandle {
    let s = Signals {
        participants: RwSignal::new(Participants::new()),
        chat: RwSignal::new(RoomChat::new()),
        streams: RwSignal::new_local(HashMap::new()),
        screen: RwSignal::new_local(None),
        cap: RwSignal::new(None),
        levels: RwSignal::new(HashMap::new()),
        forming: RwSignal::new(false),
        active: RwSignal::new(false),
        welcomed: RwSignal::new(false),
        problem: RwSignal::new(None),
    };
    let runtime = use_mesh(relay, |mesh| {
        let runtime = Rc::new(Runtime {
            relay,
            media,
            mesh,
            s,
            state: RefCell::new(State::default()),
            poll: RefCell::new(None),
            caps: Rc::default(),
        });
        let weak = Rc::downgrade(&runtime);
        *runtime.poll.borrow_mut() = Some(Interval::new(STATS_POLL_MS, move || {
            if let Some(rt) = weak.upgrade() {
                rt.poll_stats();
            }
        }));
        // The speaking lights: every remote level read in one go, as often as `SPEAKING_LIGHTS` allows.
        // The loop holds the runtime only while reading, so it ends within one interval of the call.
        let weak = Rc::downgrade(&runtime);
        spawn_local(async move {
            let mut delay = SPEAKING_LIGHTS.every_ms;
            loop {
                TimeoutFuture::new(delay).await;
                let Some(rt) = weak.upgrade() else { return };
                delay = rt.read_levels();
            }
        });
        runtime
    });
    // A device switched on the page replaces the tracks of the camera stream; send the new ones.
    let tracks = media.tracks();
    Effect::new(move |_| {
        tracks.track();
        if let Some(rt) = runtime.app() {
            rt.sync_outgoing();
        }
    });
    CallHandle { s, media, runtime }
}

impl CallHandle {
    pub fn participants(&self) -> ReadSignal<Participants> {
        self.s.participants.read_only()
    }

    pub fn chat(&self) -> ReadSignal<RoomChat> {
        self.s.chat.read_only()
    }

    pub fn cap(&self) -> ReadSignal<Option<u32>> {
        self.s.cap.read_only()
    }

    pub fn active(&self) -> ReadSignal<bool> {
        self.s.active.read_only()
    }

    /// Whether the relay has welcomed this client into the call since the last join: the page shows
    /// the call view from then on (through relay restarts too) until the call ends. Set once the
    /// connections the welcome starts have sent their offers, so the page builds the view after them
    /// ([`FirstOffers`]; docs/BENCHMARKS.md, mesh set-up). Reactive.
    pub fn welcomed(&self) -> ReadSignal<bool> {
        self.s.welcomed.read_only()
    }

    pub fn problem(&self) -> ReadSignal<Option<String>> {
        self.s.problem.read_only()
    }

    /// Every live peer connection's states, for the inspector.
    pub fn peers(&self) -> Signal<Vec<PeerRow>> {
        self.runtime.peers()
    }

    /// What the tile of `id` plays: the remote member's stream, or for this client the shared screen or
    /// the camera.
    pub fn stream_of(&self, id: &PeerId, is_self: bool) -> Option<MediaStream> {
        if is_self {
            self.s.screen.get().or_else(|| self.media.stream().get())
        } else {
            self.s.streams.with(|m| m.get(id).cloned())
        }
    }

    /// The level of `id`'s incoming audio (0 to 1, linear), read from the connection's receivers; 0 while
    /// connections are still being set up, or before any audio has arrived. Reactive.
    pub fn remote_level(&self, id: &PeerId) -> f64 {
        self.s
            .levels
            .try_with(|levels| levels.get(id).copied())
            .flatten()
            .unwrap_or(0.0)
    }

    /// Whether the call is still coming together (connections being set up, members announced and not
    /// yet connected or their media not yet arrived, and a few seconds after; see `room::forming`),
    /// updated with every speaking-light reading. Reactive. The tiles keep their speaking lights still
    /// meanwhile: every change is a rendering pass, and the pages wait for a core for each one while the
    /// machine encodes and decodes video.
    pub fn forming(&self) -> bool {
        self.s.forming.try_get().unwrap_or(false)
    }

    /// Whether the screen is being shared.
    pub fn sharing(&self) -> bool {
        self.s.screen.with(Option::is_some)
    }

    fn rt(&self) -> Option<Rc<Runtime>> {
        self.runtime.app()
    }

    /// Joins the call under `name` with the camera and microphone open now.
    pub fn join(&self, name: &str) {
        if let Some(rt) = self.rt() {
            rt.s.problem.set(None);
            rt.s.active.set(true);
            // Joining starts the call coming together (until the welcome says who is there, and for a
            // moment after): the tiles built now wait for it before starting what can wait, such as
            // this client's level meter and its audio context.
            rt.state
                .borrow_mut()
                .forming
                .update(true, js_sys::Date::now());
            rt.s.forming.set(true);
            rt.s.welcomed.set(false);
            {
                let mut state = rt.state.borrow_mut();
                state.joins += 1;
                state.first_offers.clear();
            }
            rt.relay.join(name);
        }
    }

    /// Leaves the call: the relay tells the others at once, every peer connection and channel closes, a
    /// shared screen stops. The camera stays open for the preview (the page owns it).
    pub fn leave(&self) {
        if let Some(rt) = self.rt() {
            rt.relay.leave();
            rt.end_call();
        }
    }

    /// Mutes or unmutes the microphone (the track is disabled, so silence is sent) and tells the others.
    pub fn set_mic_muted(&self, muted: bool) {
        if let Some(rt) = self.rt() {
            rt.media.set_enabled(TrackKind::Audio, !muted);
            rt.set_self_media(|m| m.mic_muted = muted);
        }
    }

    /// Turns the camera off (black frames are sent) or on again, and tells the others.
    pub fn set_camera_off(&self, off: bool) {
        if let Some(rt) = self.rt() {
            rt.media.set_enabled(TrackKind::Video, !off);
            rt.set_self_media(|m| m.camera_off = off);
        }
    }

    /// Shares a screen, window or tab in place of the camera (call it from a click handler).
    pub fn share_screen(&self) {
        if let Some(rt) = self.rt() {
            rt.share_screen();
        }
    }

    /// Stops sharing; the camera is sent again.
    pub fn stop_sharing(&self) {
        if let Some(rt) = self.rt() {
            rt.stop_sharing();
        }
    }

    /// Sends `text` to everyone in the room over each pair's chat channel.
    pub fn send_chat(&self, text: &str) {
        if let Some(rt) = self.rt() {
            rt.send_chat(text);
        }
    }
}

/// The reactive values the runtime writes and the handle reads: one `Copy` struct that both hold.
#[derive(Clone, Copy)]
struct Signals {
    /// Everyone in the call as the grid shows them.
    participants: RwSignal<Participants>,
    /// The room conversation.
    chat: RwSignal<RoomChat>,
    /// Each remote member's incoming stream.
    streams: RwSignal<HashMap<PeerId, MediaStream>, LocalStorage>,
    /// The shared screen, while sharing (the self tile shows it instead of the camera).
    screen: RwSignal<Option<MediaStream>, LocalStorage>,
    /// The video cap applied to every outgoing video, in bit/s, once there is a peer.
    cap: RwSignal<Option<u32>>,
    /// Each remote member's incoming audio level (0 to 1, linear), for the speaking lights.
    levels: RwSignal<HashMap<PeerId, f64>>,
    /// Whether the call is coming together (`Runtime::forming`), as of the last level reading.
    forming: RwSignal<bool>,
    /// Whether this page is in the call (joined, not left).
    active: RwSignal<bool>,
    /// Whether the relay welcomed this page since its join (`CallHandle::welcomed`).
    welcomed: RwSignal<bool>,
    /// The last problem of the call itself (screen share refused, send failed), for the page.
    problem: RwSignal<Option<String>>,
}

/// The channels of one peer.
struct Links {
    chat: DataChannel,
    control: DataChannel,
    /// Tells this peer's channel events from those of an earlier peer of the same member.
    generation: u64,
}

/// The screen being shared: its stream (stopped when sharing ends) and the listener for the browser's
/// own "Stop sharing" button.
struct Screen {
    stream: MediaStream,
    track: MediaStreamTrack,
    _ended: OnTrackEnded,
}

#[derive(Default)]
struct State {
    links: HashMap<PeerId, Links>,
    next_link: u64,
    screen: Option<Screen>,
    /// The last stats snapshot of each peer, for loss since the last poll.
    last_stats: HashMap<PeerId, StatsSnapshot>,
    /// The ids of the tracks the senders carry now, per kind, so a device switch is noticed once.
    sent: HashMap<&'static str, String>,
    /// Whether the call is coming together, from the readings so far.
    forming: Forming,
    /// Joins so far, so a welcome's deferred effect belongs to the join it answers.
    joins: u64,
    /// The peers the welcome made whose first offer is not out yet (set, sent and its candidates
    /// gathered); the call view waits for them.
    first_offers: FirstOffers,
}

struct Runtime {
    relay: RelayRoom,
    media: MediaHandle,
    mesh: PeerMesh,
    s: Signals,
    state: RefCell<State>,
    /// Reads every connection's statistics; dropping it clears the browser interval.
    poll: RefCell<Option<Interval>>,
    /// The video cap set on each peer's sender, so it is set again only when it changes: every
    /// `setParameters` reconfigures the encoder, which costs frames while the mesh is coming up.
    caps: Rc<RefCell<HashMap<PeerId, u32>>>,
}

/// A random message id (unique per sender; not a secret).
fn new_id() -> String {
    let part = || (js_sys::Math::random() * 4_294_967_296.0) as u32;
    format!("m-{:08x}{:08x}", part(), part())
}

impl MeshApp for Runtime {
    fn mesh(&self) -> &PeerMesh {
        &self.mesh
    }

    fn on_relay(self: &Rc<Self>, event: SignalingEvent) {
        if !self.s.active.get_untracked() {
            return;
        }
        for change in self.mesh.handle(&event) {
            match change {
                MeshChange::Created(peer) => self.attach(&peer),
                MeshChange::Closed(peer) => self.detach(&peer),
            }
        }
        match &event {
            SignalingEvent::Welcome(w) => {
                self.s.participants.update(|p| {
                    p.welcome(&w.peer_id, &w.name, &w.members, w.resumed);
                });
                // The newcomer connects to everyone already there, all at once.
                let mut made = Vec::new();
                for member in &w.members {
                    match self.mesh.ensure(&member.id) {
                        Ok(true) => {
                            self.attach(&member.id);
                            made.push(member.id.clone());
                        }
                        Ok(false) => {}
                        Err(err) => self.s.problem.set(Some(err.to_string())),
                    }
                }
                self.broadcast_state();
                self.apply_caps();
                self.show_call(made);
            }
            SignalingEvent::MemberJoined(m) => self.s.participants.update(|p| p.joined(m)),
            SignalingEvent::MemberRenamed { id, name } => {
                self.s.participants.update(|p| p.renamed(id, name))
            }
            SignalingEvent::MemberLeft { id, .. } => {
                self.s.participants.update(|p| p.left(id));
                self.apply_caps();
            }
            _ => {}
        }
    }

    fn on_peer(self: &Rc<Self>, event: MeshEvent, problem: Option<Option<ConnectionProblem>>) {
        if let Some(problem) = problem {
            self.s
                .participants
                .try_update(|p| p.problem(&event.id, problem));
        }
        let peer = event.id;
        match event.event {
            // The end of the first offer's candidates, not the offer's `setLocalDescription`: the
            // candidates are gathered right after it, and each waited behind the call view's first
            // layout for its `icecandidate` event (docs/BENCHMARKS.md, mesh set-up).
            PeerEvent::GatheringComplete => self.first_offer_done(&peer),
            PeerEvent::ConnectionState(state) => {
                self.s.participants.update(|p| p.connection(&peer, state));
                self.apply_caps();
                if state == PeerConnectionState::Connected && !self.forming() {
                    self.fill_verifications();
                }
            }
            PeerEvent::Track { track, stream } => self.remote_track(&peer, track, stream),
            PeerEvent::Error(err) => leptos::logging::warn!("peer {peer}: {err}"),
            _ => {}
        }
    }

    fn shutdown(&self) {
        self.poll.borrow_mut().take();
        self.end_call();
    }
}

impl Runtime {
    /// Closes every peer and channel and stops a shared screen; the page goes back to the lobby view.
    fn end_call(&self) {
        let state = std::mem::take(&mut *self.state.borrow_mut());
        // The count of joins outlives the call, so a welcome's deferred effect cannot reach the next.
        self.state.borrow_mut().joins = state.joins;
        if let Some(screen) = &state.screen {
            stop_stream(&screen.stream);
        }
        drop(state);
        self.caps.borrow_mut().clear();
        self.mesh.close_all();
        self.s.screen.try_set(None);
        self.s.streams.try_set(HashMap::new());
        self.s.participants.try_set(Participants::new());
        self.s.cap.try_set(None);
        self.s.levels.try_set(HashMap::new());
        self.s.forming.try_set(false);
        self.s.active.try_set(false);
        self.s.welcomed.try_set(false);
    }

    fn name_of(&self, peer: &PeerId) -> String {
        self.s
            .participants
            .try_with_untracked(|p| p.remote(peer).map(|r| r.name.clone()))
            .flatten()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "someone".to_owned())
    }

    // ---- peers ----------------------------------------------------------------------------------

    /// Marks the call welcomed once the peers the welcome `made` have their first offers out (set, sent
    /// and their candidates gathered), in a task after that (see [`FirstOffers`]; at most
    /// [`super::forming::VIEW_WAIT_MS`] later). A welcome after a relay restart finds the call view
    /// already there.
    fn show_call(self: &Rc<Self>, made: Vec<PeerId>) {
        if self.s.welcomed.get_untracked() {
            return;
        }
        let wait = self.state.borrow_mut().first_offers.start(made);
        self.welcome_after(wait);
    }

    /// Sets `welcomed` after `ms` (0: in the next task), unless another join or a leave came between.
    fn welcome_after(self: &Rc<Self>, ms: u32) {
        let joins = self.state.borrow().joins;
        let weak = Rc::downgrade(self);
        spawn_local(async move {
            TimeoutFuture::new(ms).await;
            let Some(rt) = weak.upgrade() else { return };
            if rt.state.borrow().joins == joins && rt.s.active.get_untracked() {
                rt.state.borrow_mut().first_offers.clear();
                rt.s.welcomed.try_set(true);
            }
        });
    }

    /// `peer` no longer holds the call view back: the browser has gathered the candidates of its first
    /// offer (or it is gone).
    fn first_offer_done(self: &Rc<Self>, peer: &PeerId) {
        let last = self.state.borrow_mut().first_offers.done(peer);
        if last && !self.s.welcomed.get_untracked() {
            self.welcome_after(0);
        }
    }

    /// Gives every connected member without a verification code its code. Called once the call has
    /// formed: each code reads both descriptions of the connection from the browser (two synchronous
    /// copies of the SDP) and hashes them, on the main thread that the connections still being set up
    /// wait for (docs/BENCHMARKS.md, mesh set-up); the tile shows a placeholder until then.
    fn fill_verifications(&self) {
        let unverified = self
            .s
            .participants
            .try_with_untracked(Participants::unverified)
            .unwrap_or_default();
        let codes: Vec<(PeerId, String)> = unverified
            .into_iter()
            .filter_map(|peer| Some((peer.clone(), self.mesh.verification(&peer)?)))
            .collect();
        if !codes.is_empty() {
            self.s.participants.update(|p| {
                for (peer, code) in codes {
                    p.verification(&peer, code);
                }
            });
        }
    }

    /// Keeps the incoming stream of `peer` (one per member; later tracks join it).
    fn remote_track(&self, peer: &PeerId, track: MediaStreamTrack, stream: Option<MediaStream>) {
        let known = self.s.streams.with_untracked(|m| m.get(peer).cloned());
        match (known, stream) {
            (Some(known), Some(stream)) if known.id() == stream.id() => {}
            (Some(known), None) => {
                if known.get_track_by_id(&track.id()).is_none() {
                    known.add_track(&track);
                }
            }
            (_, Some(stream)) => {
                self.s.streams.update(|m| {
                    m.insert(peer.clone(), stream);
                });
            }
            (None, None) => {
                if let Ok(stream) = MediaStream::new() {
                    stream.add_track(&track);
                    self.s.streams.update(|m| {
                        m.insert(peer.clone(), stream);
                    });
                }
            }
        }
    }

    /// The tracks to send now: the microphone, and the shared screen or else the camera. Each comes
    /// with the camera stream, so the other side sees one stream per member.
    fn outgoing(&self) -> (Option<MediaStream>, Vec<MediaStreamTrack>) {
        let Some(stream) = self.media.stream().get_untracked() else {
            return (None, Vec::new());
        };
        let mut tracks = tracks_of(&stream, TrackKind::Audio);
        match &self.state.borrow().screen {
            Some(screen) => tracks.push(Clone::clone(&screen.track)),
            None => tracks.extend(tracks_of(&stream, TrackKind::Video)),
        }
        (Some(stream), tracks)
    }

    /// Sets up a new peer of `peer`: the local tracks, the chat and control channels.
    fn attach(self: &Rc<Self>, peer: &PeerId) {
        if self.state.borrow().links.contains_key(peer) {
            return;
        }
        let (stream, tracks) = self.outgoing();
        if let Some(stream) = &stream {
            for track in &tracks {
                if let Some(Err(err)) = self.mesh.with_peer(peer, |p| p.add_track(track, stream)) {
                    self.s.problem.set(Some(err.to_string()));
                }
            }
            self.state
                .borrow_mut()
                .sent
                .extend(tracks.iter().map(|t| (kind_key(&t.kind()), t.id())));
        }
        let opened = self.mesh.with_peer(peer, |p| {
            let chat = p.create_negotiated_data_channel(CHAT_CHANNEL_LABEL, CHAT_CHANNEL_ID)?;
            let control =
                p.create_negotiated_data_channel(CONTROL_CHANNEL_LABEL, CONTROL_CHANNEL_ID)?;
            Ok::<_, crate::error::RtcError>((chat, control))
        });
        let ((chat, chat_events), (control, control_events)) = match opened {
            Some(Ok(pair)) => pair,
            Some(Err(err)) => return self.s.problem.set(Some(err.to_string())),
            None => return,
        };
        let generation = {
            let mut state = self.state.borrow_mut();
            state.next_link += 1;
            let generation = state.next_link;
            state.links.insert(
                peer.clone(),
                Links {
                    chat,
                    control,
                    generation,
                },
            );
            generation
        };
        self.s
            .participants
            .update(|p| p.connection(peer, PeerConnectionState::New));
        self.listen(peer, generation, chat_events, Channel::Chat);
        self.listen(peer, generation, control_events, Channel::Control);
        self.apply_caps();
    }

    /// The peer of `peer` was closed by the mesh (the member left, or this client got a new id).
    fn detach(self: &Rc<Self>, peer: &PeerId) {
        self.first_offer_done(peer);
        let links = self.state.borrow_mut().links.remove(peer);
        drop(links);
        self.state.borrow_mut().last_stats.remove(peer);
        self.caps.borrow_mut().remove(peer);
        self.s.streams.update(|m| {
            m.remove(peer);
        });
        self.s.participants.update(|p| p.peer_closed(peer));
        self.apply_caps();
    }

    fn listen(
        self: &Rc<Self>,
        peer: &PeerId,
        generation: u64,
        mut events: DataEvents,
        which: Channel,
    ) {
        let (weak, peer) = (Rc::downgrade(self), peer.clone());
        spawn_local(async move {
            while let Some(event) = events.next().await {
                let Some(rt) = weak.upgrade() else { return };
                let current = rt
                    .state
                    .borrow()
                    .links
                    .get(&peer)
                    .is_some_and(|l| l.generation == generation);
                if !current {
                    return;
                }
                match (which, event) {
                    (Channel::Control, DataEvent::Open) => rt.send_state_to(&peer),
                    (Channel::Control, DataEvent::Message(text)) => match control::decode(&text) {
                        Ok(Control::State(media)) => {
                            rt.s.participants.update(|p| p.media(&peer, media))
                        }
                        Err(err) => leptos::logging::warn!("from {peer}: {err}"),
                    },
                    (Channel::Chat, DataEvent::Message(text)) => rt.chat_frame(&peer, &text),
                    _ => {}
                }
            }
        });
    }

    // ---- media state, devices, screen -----------------------------------------------------------

    fn set_self_media(&self, f: impl FnOnce(&mut MediaState)) {
        self.s.participants.update(|p| f(&mut p.self_media));
        self.broadcast_state();
    }

    fn self_media(&self) -> MediaState {
        self.s
            .participants
            .try_with_untracked(|p| p.self_media)
            .unwrap_or_default()
    }

    fn send_state_to(&self, peer: &PeerId) {
        let frame = control::encode(&Control::State(self.self_media()));
        if let Some(links) = self.state.borrow().links.get(peer) {
            if links.control.is_open() {
                let _ = links.control.send_text(&frame);
            }
        }
    }

    fn broadcast_state(&self) {
        let frame = control::encode(&Control::State(self.self_media()));
        for links in self.state.borrow().links.values() {
            if links.control.is_open() {
                // A channel that closes meanwhile sends its state again when it reopens.
                let _ = links.control.send_text(&frame);
            }
        }
    }

    /// After a device switch on the page: sends the camera stream's new tracks in place of the old ones
    /// on every peer (keeping a muted microphone or an off camera so).
    fn sync_outgoing(&self) {
        if !self.s.active.get_untracked() {
            return;
        }
        let Some(stream) = self.media.stream().get_untracked() else {
            return;
        };
        let media = self.self_media();
        let sharing = self.state.borrow().screen.is_some();
        for (kind, off) in [
            (TrackKind::Audio, media.mic_muted),
            (TrackKind::Video, media.camera_off),
        ] {
            let Some(track) = tracks_of(&stream, kind).into_iter().next() else {
                continue;
            };
            if track.enabled() == off {
                track.set_enabled(!off);
            }
            if kind == TrackKind::Video && sharing {
                continue;
            }
            let changed = self.state.borrow().sent.get(kind.as_str()) != Some(&track.id());
            if changed {
                self.replace_everywhere(&track);
            }
        }
    }

    /// Sends `track` instead of the current track of its kind on every peer.
    fn replace_everywhere(&self, track: &MediaStreamTrack) {
        self.state
            .borrow_mut()
            .sent
            .insert(kind_key(&track.kind()), track.id());
        let problem = self.s.problem;
        for row in self.mesh.rows().get_untracked() {
            if let Some(replacing) = self.mesh.with_peer(&row.id, |p| p.replace_track(track)) {
                spawn_local(async move {
                    if let Err(err) = replacing.await {
                        problem.try_set(Some(err.to_string()));
                    }
                });
            }
        }
    }

    fn share_screen(self: &Rc<Self>) {
        if self.state.borrow().screen.is_some() {
            return;
        }
        let weak = Rc::downgrade(self);
        spawn_local(async move {
            let opened = open_display(1280, 720, 15).await;
            let Some(rt) = weak.upgrade() else {
                if let Ok(stream) = opened {
                    stop_stream(&stream);
                }
                return;
            };
            let stream = match opened {
                Ok(stream) => stream,
                Err(err) => return rt.s.problem.set(Some(err.to_string())),
            };
            let Some(track) = tracks_of(&stream, TrackKind::Video).into_iter().next() else {
                stop_stream(&stream);
                return;
            };
            if !rt.s.active.get_untracked() || rt.state.borrow().screen.is_some() {
                stop_stream(&stream);
                return;
            }
            let weak_rt = Rc::downgrade(&rt);
            let ended = OnTrackEnded::new(&track, move || {
                if let Some(rt) = weak_rt.upgrade() {
                    rt.stop_sharing();
                }
            });
            rt.state.borrow_mut().screen = Some(Screen {
                stream: Clone::clone(&stream),
                track: Clone::clone(&track),
                _ended: ended,
            });
            rt.replace_everywhere(&track);
            rt.s.screen.set(Some(stream));
            rt.set_self_media(|m| m.sharing = true);
        });
    }

    fn stop_sharing(&self) {
        let Some(screen) = self.state.borrow_mut().screen.take() else {
            return;
        };
        stop_stream(&screen.stream);
        drop(screen);
        let camera = self
            .media
            .stream()
            .get_untracked()
            .and_then(|s| tracks_of(&s, TrackKind::Video).into_iter().next());
        if let Some(camera) = camera {
            self.replace_everywhere(&camera);
        }
        self.s.screen.try_set(None);
        self.set_self_media(|m| m.sharing = false);
    }

    // ---- bitrate and stats ----------------------------------------------------------------------

    /// Caps every outgoing video at the budget divided by the number of peers; called whenever a peer
    /// comes, goes or connects (a sender not negotiated yet takes the cap at its `connected`).
    fn apply_caps(&self) {
        let peers = self
            .s
            .participants
            .try_with_untracked(Participants::peer_count)
            .unwrap_or(0);
        let cap = video_cap_bps(peers);
        let shown = (peers > 0).then_some(cap);
        if self.s.cap.try_get_untracked() != Some(shown) {
            self.s.cap.try_set(shown);
        }
        // Each `setParameters` is a round trip through the browser's WebRTC threads, which are busiest
        // while connections are being set up; the caps are set once none is (this runs again on every
        // connection state change), and only on connections that are up.
        if self.forming() {
            return;
        }
        for row in self.mesh.rows().get_untracked() {
            let connected = row.is_connected();
            let applied = self.caps.borrow().get(&row.id) == Some(&cap);
            if !connected || applied {
                continue;
            }
            if let Some(setting) = self
                .mesh
                .with_peer(&row.id, |p| p.set_max_bitrate("video", cap))
            {
                self.caps.borrow_mut().insert(row.id.clone(), cap);
                let (caps, peer) = (Rc::clone(&self.caps), row.id.clone());
                spawn_local(async move {
                    if let Err(err) = setting.await {
                        leptos::logging::warn!("{err}");
                        // Set it again on the next change.
                        caps.borrow_mut().remove(&peer);
                    }
                });
            }
        }
    }

    /// Whether the call is still coming together: a connection is being set up, a member the relay
    /// announced has none yet (its offer is on the way), or a connection is up and its media has not
    /// arrived (the page is about to start that member's player). The synchronous browser calls that
    /// read senders and receivers (`getParameters`, `getSynchronizationSources`) wait on the WebRTC
    /// threads, which are busiest then: measured at N = 6, they held each page's main thread for about
    /// a second in all and delayed the negotiation behind it. It lasts `SETTLE_MS` longer and at most
    /// `MAX_FORMING_MS` (`room::forming`).
    fn forming(&self) -> bool {
        self.note_arrivals();
        let connecting = self.mesh.rows().with_untracked(|rows| {
            rows.iter()
                .any(|row| row.states.connection.get_untracked().is_setting_up())
        });
        let awaited = self
            .s
            .participants
            .try_with_untracked(Participants::settling)
            .unwrap_or(false);
        self.state
            .borrow_mut()
            .forming
            .update(connecting || awaited, js_sys::Date::now())
    }

    /// Marks the members whose media has arrived: every incoming track unmuted, which the browser does
    /// at each track's first data. A connected member with no incoming stream sends nothing to wait for.
    fn note_arrivals(&self) {
        let awaiting = self
            .s
            .participants
            .try_with_untracked(Participants::awaiting_media)
            .unwrap_or_default();
        if awaiting.is_empty() {
            return;
        }
        let arrived: Vec<PeerId> = self
            .s
            .streams
            .try_with_untracked(|streams| {
                awaiting
                    .into_iter()
                    .filter(|id| streams.get(id).is_none_or(media_arrived))
                    .collect()
            })
            .unwrap_or_default();
        if !arrived.is_empty() {
            self.s.participants.update(|p| {
                for id in &arrived {
                    p.receiving(id);
                }
            });
        }
    }

    /// Reads every remote member's audio level for the speaking lights and returns how long to wait
    /// before the next reading. Each reading is a synchronous call into the browser's WebRTC threads
    /// (`getSynchronizationSources`), so none are made while the call is coming together, and the next
    /// comes later the longer this one held the main thread (`SPEAKING_LIGHTS`).
    fn read_levels(&self) -> u32 {
        if self.s.active.try_get_untracked() != Some(true) {
            return SPEAKING_LIGHTS.every_ms;
        }
        let forming = self.forming();
        if self.s.forming.try_get_untracked() != Some(forming) {
            self.s.forming.try_set(forming);
        }
        if forming {
            if self.s.levels.try_with_untracked(|l| !l.is_empty()) == Some(true) {
                self.s.levels.try_set(HashMap::new());
            }
            return SPEAKING_LIGHTS.every_ms;
        }
        let started = js_sys::Date::now();
        self.fill_verifications();
        let mut levels = HashMap::new();
        for row in self.mesh.rows().get_untracked() {
            if let Some(Some(level)) = self.mesh.with_peer(&row.id, |p| p.remote_audio_level()) {
                levels.insert(row.id, level);
            }
        }
        let spent = js_sys::Date::now() - started;
        if self.s.levels.try_with_untracked(|l| *l != levels) == Some(true) {
            self.s.levels.try_set(levels);
        }
        SPEAKING_LIGHTS.next_delay_ms(spent)
    }

    fn poll_stats(self: &Rc<Self>) {
        // `getStats` runs on the same browser threads as the negotiation; while the call is coming
        // together the quality lines wait.
        if self.forming() {
            return;
        }
        // Caps wait for the same reason; a call that stopped counting as forming without a connection
        // event (it settled, or reached the time bound) gets them here.
        self.apply_caps();
        let rows = self.mesh.rows().get_untracked();
        for row in rows {
            let connected = row.is_connected();
            if !connected {
                continue;
            }
            let Some(reading) = self.mesh.with_peer(&row.id, |p| p.stats()) else {
                continue;
            };
            let (weak, peer) = (Rc::downgrade(self), row.id.clone());
            spawn_local(async move {
                let Ok(snapshot) = reading.await else { return };
                let Some(rt) = weak.upgrade() else { return };
                let previous = rt.state.borrow_mut().last_stats.remove(&peer);
                let quality = Quality::between(previous.as_ref(), &snapshot);
                let path = snapshot.pair.as_ref().and_then(PathReading::of);
                rt.state
                    .borrow_mut()
                    .last_stats
                    .insert(peer.clone(), snapshot);
                rt.s.participants.try_update(|p| {
                    p.quality(&peer, quality.summary(), quality.grade.token());
                    p.path(&peer, path);
                });
            });
        }
    }

    // ---- room chat ------------------------------------------------------------------------------

    fn send_chat(&self, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        if text.len() > MAX_TEXT_BYTES {
            self.s.problem.set(Some(format!(
                "the message is too long (at most {} KiB); split it into several",
                MAX_TEXT_BYTES / 1024
            )));
            return;
        }
        let id = new_id();
        let name = self.s.participants.with_untracked(|p| p.self_name.clone());
        self.s.chat.update(|c| c.sent(&id, &name, text));
        let frame = wire::encode(&Wire::Text {
            id,
            text: text.to_owned(),
        });
        let mut unsent = 0;
        for links in self.state.borrow().links.values() {
            if !links.chat.is_open() || links.chat.send_text(&frame).is_err() {
                unsent += 1;
            }
        }
        if unsent > 0 {
            self.s.problem.set(Some(format!(
                "{unsent} of the others are not connected yet and did not get the message; send it again once their tiles show video"
            )));
        }
    }

    fn chat_frame(&self, peer: &PeerId, text: &str) {
        match wire::decode(text) {
            Ok(Wire::Text { id, text }) => {
                let name = self.name_of(peer);
                self.s.chat.update(|c| {
                    c.received(peer, &name, &id, &text);
                });
                if let Some(links) = self.state.borrow().links.get(peer) {
                    let _ = links.chat.send_text(&wire::encode(&Wire::Ack { id }));
                }
            }
            Ok(Wire::Ack { id }) => self.s.chat.update(|c| c.acked(&id)),
            Ok(_) => {}
            Err(err) => leptos::logging::warn!("from {peer}: {err}"),
        }
    }
}

#[derive(Clone, Copy)]
enum Channel {
    Chat,
    Control,
}

/// Whether every track of `stream` has had data (a remote track starts muted and unmutes then).
fn media_arrived(stream: &MediaStream) -> bool {
    stream
        .get_tracks()
        .iter()
        .all(|t| t.dyn_into::<MediaStreamTrack>().is_ok_and(|t| !t.muted()))
}

fn kind_key(kind: &str) -> &'static str {
    if kind == "audio" {
        TrackKind::Audio.as_str()
    } else {
        TrackKind::Video.as_str()
    }
}
