//! [`use_chat`]: the chat runtime of one page — on the mesh runtime ([`use_mesh`]), one negotiated chat
//! channel per remote user and a task per file transfer — with everything the page shows in one reactive
//! [`Chats`] model.
//!
//! The pure modules decide ([`Chats`], [`SendPlan`], [`Reassembly`], [`Meter`]); this module carries it
//! out. Ownership: the runtime owns the mesh (and so every peer connection), every chat channel, the
//! `blob:` URLs of received files, the stall timer and the path poll; each transfer task owns its file
//! channel and ends when the runtime drops its stop handle. [`use_mesh`] delivers the relay's and the
//! peers' events and shuts the runtime down when the component that called [`use_chat`] is cleaned up,
//! which closes all of it. Tasks hold the runtime weakly, so none keeps it alive.
//!
//! File transfers, sender side: the file channel (`file:<id>`, ordered, reliable) is opened once the
//! receiver accepts; the file is read in blocks of [`READ_BLOCK_BYTES`](super::transfer::READ_BLOCK_BYTES) (the next block's read starts
//! while the current one is sent), each chunk of [`CHUNK_BYTES`] is copied into wasm once to be hashed and
//! sent as a view of the block, and sending pauses while `bufferedAmount` is at
//! [`HIGH_WATER_BYTES`](super::transfer::HIGH_WATER_BYTES) until
//! `bufferedamountlow` ([`LOW_WATER_BYTES`]). After the last chunk a `file_end` message with the size and
//! SHA-256 follows on the same channel. Receiver side: each chunk is hashed as it arrives and kept as its
//! `ArrayBuffer`; every [`FOLD_BYTES`](super::transfer::FOLD_BYTES) the pending chunks are folded into a growing `Blob`. Progress
//! reaches the model at most every 100 ms.
//!
//! Each conversation shows its connection's network path, read from the statistics when the connection
//! comes up and every [`PATH_POLL_MS`] while it is up, and, when the connection fails, the likely cause
//! and fix (`rtc::diagnosis`, fed with every connection's candidates and states).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use futures::channel::oneshot;
use futures::future::{self, Either};
use futures::StreamExt;
use gloo_timers::callback::Interval;
use gloo_timers::future::TimeoutFuture;
use js_sys::{ArrayBuffer, Uint8Array};
use leptos::prelude::*;
use peerlab_protocol::PeerId;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{Blob, BlobPropertyBag, File};

use super::conversation::{Chats, Item};
use super::meter::Meter;
use super::transfer::{
    may_send, Direction, Reassembly, ReceiveError, SendPlan, Transfer, TransferState, CHUNK_BYTES,
    LOW_WATER_BYTES, STALL_TIMEOUT_MS,
};
use super::wire::{
    decode, encode, file_channel_label, transfer_id_of_label, Wire, WireError, CHAT_CHANNEL_ID,
    CHAT_CHANNEL_LABEL, MAX_TEXT_BYTES,
};
use crate::error::{describe_js, RtcError};
use crate::mesh::{use_mesh, MeshApp, MeshChange, MeshEvent, MeshRuntime, PeerMesh, PeerRow};
use crate::rtc::data::{DataChannel, DataEvent, DataEvents};
use crate::rtc::diagnosis::ConnectionProblem;
use crate::rtc::path::PathReading;
use crate::rtc::peer::{Peer, PeerEvent};
use crate::rtc::states::{connection_words, PeerConnectionState};
use crate::signaling::{RelayRoom, SignalingEvent};

/// A handle to the chat runtime of one page. `Copy`, so view closures capture it freely; every method is
/// a no-op once the owning component is gone.
#[derive(Clone, Copy)]
pub struct ChatSession {
    model: RwSignal<Chats>,
    runtime: MeshRuntime<Runtime>,
}

/// Starts the chat runtime on `relay`'s room; it ends with the calling component. Call it before
/// `relay.join`, so no relay event is missed.
pub fn use_chat(relay: RelayRoom) -> ChatSession {
    let model = RwSignal::new(Chats::new());
    let runtime = use_mesh(relay, |mesh| {
        let runtime = Rc::new(Runtime {
            relay,
            model,
            mesh,
            state: RefCell::new(State::default()),
            tick: RefCell::new(None),
            path_poll: RefCell::new(None),
        });
        let weak = Rc::downgrade(&runtime);
        *runtime.tick.borrow_mut() = Some(Interval::new(1_000, move || {
            if let Some(rt) = weak.upgrade() {
                rt.tick();
            }
        }));
        let weak = Rc::downgrade(&runtime);
        *runtime.path_poll.borrow_mut() = Some(Interval::new(PATH_POLL_MS, move || {
            if let Some(rt) = weak.upgrade() {
                rt.read_paths();
            }
        }));
        runtime
    });
    ChatSession { model, runtime }
}

impl ChatSession {
    /// Every conversation, as the page shows it.
    pub fn chats(&self) -> ReadSignal<Chats> {
        self.model.read_only()
    }

    /// Every live peer connection's states, for the inspector.
    pub fn peers(&self) -> Signal<Vec<PeerRow>> {
        self.runtime.peers()
    }

    fn rt(&self) -> Option<Rc<Runtime>> {
        self.runtime.app()
    }

    /// Shows the conversation with `peer` (marking it read) and starts connecting to them.
    pub fn open(&self, peer: &PeerId) {
        if let Some(rt) = self.rt() {
            // The connection first: its offer is then made while the page renders the conversation.
            rt.connect(peer);
            let name = rt.name_of(peer);
            rt.update(|c| c.open(peer, &name));
        }
    }

    /// Sends a text message to `peer`; it waits in the queue until the channel is open.
    pub fn send_text(&self, peer: &PeerId, text: &str) {
        if let Some(rt) = self.rt() {
            rt.compose(peer, text);
        }
    }

    /// Offers `file` to `peer`.
    pub fn send_file(&self, peer: &PeerId, file: File) {
        if let Some(rt) = self.rt() {
            rt.offer_file(peer, file);
        }
    }

    /// Accepts or declines the incoming transfer `id` from `peer`.
    pub fn answer(&self, peer: &PeerId, id: &str, accept: bool) {
        if let Some(rt) = self.rt() {
            rt.answer(peer, id, accept);
        }
    }

    /// Cancels the transfer `id` with `peer`, whichever way it goes.
    pub fn cancel(&self, peer: &PeerId, id: &str) {
        if let Some(rt) = self.rt() {
            rt.cancel(peer, id);
        }
    }
}

/// The chat channel of one remote user.
struct Link {
    channel: DataChannel,
    /// Tells this link's events from those of an earlier link to the same user.
    generation: u64,
}

/// The browser side of one transfer.
struct Job {
    peer: PeerId,
    /// The file to send, until its channel is opened (sender side only).
    file: Option<File>,
    /// Stops the transfer's task: sending `()` cancels (the task tells the other side on the file
    /// channel); dropping it just ends the task. `None` before the task starts.
    stop: Option<oneshot::Sender<()>>,
    /// When bytes last moved (or the transfer was set up), for the stall timeout.
    last_progress: f64,
}

/// A `blob:` URL, revoked when dropped (with the transfer's runtime).
struct ObjectUrl(String);

impl Drop for ObjectUrl {
    fn drop(&mut self) {
        // Revoking an unknown URL does nothing; failure here has no consequence.
        let _ = web_sys::Url::revoke_object_url(&self.0);
    }
}

#[derive(Default)]
struct State {
    links: HashMap<PeerId, Link>,
    next_link: u64,
    jobs: HashMap<String, Job>,
    urls: HashMap<String, ObjectUrl>,
}

struct Runtime {
    relay: RelayRoom,
    model: RwSignal<Chats>,
    mesh: PeerMesh,
    state: RefCell<State>,
    /// Checks transfers for stalls once a second; dropping it clears the browser interval.
    tick: RefCell<Option<Interval>>,
    /// Reads every connected connection's path every [`PATH_POLL_MS`]; dropping it clears the interval.
    path_poll: RefCell<Option<Interval>>,
}

/// How often the conversations' network paths are read again: ICE may switch to another pair (after a
/// restart, or when a better one succeeds).
const PATH_POLL_MS: u32 = 2_000;

/// The time in milliseconds, for meters and stall checks.
fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or_else(js_sys::Date::now)
}

/// A random id for a message or transfer (unique within a conversation; not a secret).
fn new_id(prefix: &str) -> String {
    let part = || (js_sys::Math::random() * 4_294_967_296.0) as u32;
    format!("{prefix}-{:08x}{:08x}", part(), part())
}

impl MeshApp for Runtime {
    fn mesh(&self) -> &PeerMesh {
        &self.mesh
    }

    fn on_relay(self: &Rc<Self>, event: SignalingEvent) {
        match &event {
            SignalingEvent::Welcome(w) => {
                let name = w.name.clone();
                self.update(|c| {
                    c.self_name = name;
                    for m in &w.members {
                        if let Some(conv) = c.get_mut(&m.id) {
                            conv.name = m.name.clone();
                        }
                    }
                });
            }
            SignalingEvent::MemberJoined(m) => {
                self.update(|c| {
                    if let Some(conv) = c.get_mut(&m.id) {
                        conv.name = m.name.clone();
                        conv.gone = None;
                    }
                });
            }
            SignalingEvent::MemberRenamed { id, name } => {
                self.update(|c| {
                    if let Some(conv) = c.get_mut(id) {
                        conv.name = name.clone();
                    } else if c.self_name.is_empty() || self.mesh.self_id().as_ref() == Some(id) {
                        c.self_name = name.clone();
                    }
                });
            }
            SignalingEvent::MemberLeft { id, .. } => {
                self.stop_jobs_of(id);
                self.update(|c| c.peer_left(id));
                self.drop_link(id);
            }
            _ => {}
        }
        for change in self.mesh.handle(&event) {
            match change {
                MeshChange::Created(peer) => self.attach_link(&peer),
                MeshChange::Closed(peer) => {
                    // The member left (handled above) or this client got a new id from the relay.
                    if self.state.borrow().links.contains_key(&peer) {
                        let name = self.name_of(&peer);
                        self.fail_transfers_of(
                            &peer,
                            "the relay gave this page a new id; open the conversation again",
                        );
                        self.drop_link(&peer);
                        self.update(|c| {
                            c.conversation(&peer, &name).items.push(Item::Notice(
                                "The relay connection was reset; click the user to reconnect."
                                    .into(),
                            ))
                        });
                    }
                }
            }
        }
    }

    fn on_peer(self: &Rc<Self>, event: MeshEvent, problem: Option<Option<ConnectionProblem>>) {
        self.observe(&event, problem);
        let peer = event.id;
        match event.event {
            PeerEvent::ConnectionState(state) => {
                let name = self.name_of(&peer);
                let code = (state == PeerConnectionState::Connected)
                    .then(|| self.mesh.verification(&peer))
                    .flatten();
                self.update(|c| {
                    let conv = c.conversation(&peer, &name);
                    conv.connection = Some(state);
                    if code.is_some() {
                        conv.verification = code;
                    }
                });
            }
            PeerEvent::DataChannel(channel, events) => self.accept_channel(&peer, channel, events),
            _ => {}
        }
    }

    fn shutdown(&self) {
        self.tick.borrow_mut().take();
        self.path_poll.borrow_mut().take();
        let state = std::mem::take(&mut *self.state.borrow_mut());
        drop(state);
    }
}

impl Runtime {
    fn update<R>(&self, f: impl FnOnce(&mut Chats) -> R) -> Option<R> {
        self.model.try_update(f)
    }

    /// The display name of `peer`: from the room, else from the conversation, else a placeholder.
    fn name_of(&self, peer: &PeerId) -> String {
        self.relay
            .roster()
            .try_with_untracked(|r| {
                r.members
                    .iter()
                    .find(|m| &m.id == peer)
                    .map(|m| m.name.clone())
            })
            .flatten()
            .or_else(|| {
                self.model
                    .try_with_untracked(|c| c.get(peer).map(|c| c.name.clone()))
                    .flatten()
            })
            .unwrap_or_else(|| "someone".to_owned())
    }

    fn in_room(&self, peer: &PeerId) -> bool {
        self.relay
            .roster()
            .try_with_untracked(|r| r.members.iter().any(|m| &m.id == peer))
            .unwrap_or(false)
    }

    fn notice(&self, peer: &PeerId, text: String) {
        let name = self.name_of(peer);
        self.update(|c| c.conversation(peer, &name).items.push(Item::Notice(text)));
    }

    // ---- peers -----------------------------------------------------------------------------------

    /// Shows the failure diagnosis's problem when it changed, and reads the path when the connection
    /// comes up (and forgets it when it goes down).
    fn observe(self: &Rc<Self>, event: &MeshEvent, problem: Option<Option<ConnectionProblem>>) {
        let peer = &event.id;
        if let PeerEvent::ConnectionState(state) = &event.event {
            if *state == PeerConnectionState::Connected {
                self.read_path(peer);
            } else {
                self.set_path(peer, None);
            }
        }
        if let Some(problem) = problem {
            let name = self.name_of(peer);
            self.update(|c| c.conversation(peer, &name).problem = problem);
        }
    }

    /// Reads the path of every connected connection (the poll).
    fn read_paths(self: &Rc<Self>) {
        for row in self.mesh.rows().get_untracked() {
            if row.is_connected() {
                self.read_path(&row.id);
            }
        }
    }

    /// Reads the selected candidate pair of the connection to `peer` and shows its path.
    fn read_path(self: &Rc<Self>, peer: &PeerId) {
        let Some(reading) = self.mesh.with_peer(peer, |p| p.stats()) else {
            return;
        };
        let (weak, peer) = (Rc::downgrade(self), peer.clone());
        spawn_local(async move {
            let Ok(snapshot) = reading.await else { return };
            let Some(rt) = weak.upgrade() else { return };
            let path = snapshot.pair.as_ref().and_then(PathReading::of);
            let connected = rt
                .model
                .try_with_untracked(|c| {
                    c.get(&peer)
                        .map(|c| c.connection == Some(PeerConnectionState::Connected))
                })
                .flatten()
                .unwrap_or(false);
            if connected {
                rt.set_path(&peer, path);
            }
        });
    }

    /// Shows `path` for `peer`, touching the model only when it changed (the poll mostly reads the same).
    fn set_path(&self, peer: &PeerId, path: Option<PathReading>) {
        let same = self
            .model
            .try_with_untracked(|c| c.get(peer).is_none_or(|c| c.path == path))
            .unwrap_or(true);
        if !same {
            self.update(|c| {
                if let Some(conv) = c.get_mut(peer) {
                    conv.path = path;
                }
            });
        }
    }

    /// The connection to `peer` is gone: no path, no problem, no evidence.
    fn forget_path(&self, peer: &PeerId) {
        self.update(|c| {
            if let Some(conv) = c.get_mut(peer) {
                conv.path = None;
                conv.problem = None;
            }
        });
    }

    /// Makes sure there is a connection and a chat channel to `peer`.
    fn connect(self: &Rc<Self>, peer: &PeerId) {
        if self.state.borrow().links.contains_key(peer) {
            return;
        }
        match self.mesh.ensure(peer) {
            Ok(created) => {
                // Asked for before the link's first view update, so the peer's task makes the offer
                // before the page renders (both wait in one queue, in order); the chat channel is
                // created synchronously below, before that task runs, so the offer carries it.
                if created {
                    self.mesh.with_peer(peer, Peer::offer_now);
                }
                self.attach_link(peer);
            }
            Err(err) => self.notice(peer, format!("Could not connect: {err}")),
        }
    }

    /// Creates the negotiated chat channel on the (new) peer of `peer` and listens to it.
    fn attach_link(self: &Rc<Self>, peer: &PeerId) {
        if self.state.borrow().links.contains_key(peer) {
            return;
        }
        let created = self.mesh.with_peer(peer, |p| {
            p.create_negotiated_data_channel(CHAT_CHANNEL_LABEL, CHAT_CHANNEL_ID)
        });
        let (channel, mut events) = match created {
            Some(Ok(pair)) => pair,
            Some(Err(err)) => return self.notice(peer, format!("Could not connect: {err}")),
            None => return,
        };
        let generation = {
            let mut state = self.state.borrow_mut();
            state.next_link += 1;
            let generation = state.next_link;
            state.links.insert(
                peer.clone(),
                Link {
                    channel,
                    generation,
                },
            );
            generation
        };
        let name = self.name_of(peer);
        self.update(|c| {
            let conv = c.conversation(peer, &name);
            conv.channel_closed();
            conv.connection.get_or_insert(PeerConnectionState::New);
        });
        let (weak, peer) = (Rc::downgrade(self), peer.clone());
        spawn_local(async move {
            while let Some(event) = events.next().await {
                let Some(rt) = weak.upgrade() else { return };
                rt.on_link(&peer, generation, event);
            }
        });
    }

    /// Drops the chat channel and the connection to `peer`.
    fn drop_link(&self, peer: &PeerId) {
        let link = self.state.borrow_mut().links.remove(peer);
        drop(link);
        self.mesh.close(peer);
        self.forget_path(peer);
        self.update(|c| {
            if let Some(conv) = c.get_mut(peer) {
                conv.channel_closed();
                conv.connection = None;
            }
        });
    }

    fn on_link(self: &Rc<Self>, peer: &PeerId, generation: u64, event: DataEvent) {
        let current = self
            .state
            .borrow()
            .links
            .get(peer)
            .is_some_and(|l| l.generation == generation);
        if !current {
            return;
        }
        let name = self.name_of(peer);
        match event {
            DataEvent::Open => {
                let code = self.mesh.verification(peer);
                let wires = self
                    .update(|c| {
                        let conv = c.conversation(peer, &name);
                        if code.is_some() {
                            conv.verification = code;
                        }
                        conv.channel_opened()
                    })
                    .unwrap_or_default();
                self.send_wires(peer, wires);
            }
            DataEvent::Message(text) => match decode(&text) {
                Ok(wire) => self.handle_wire(peer, wire),
                Err(err) => {
                    self.update(|c| c.malformed(peer, &name, &err));
                }
            },
            DataEvent::Binary(_) => {
                self.update(|c| c.malformed(peer, &name, &WireError::Binary));
            }
            DataEvent::Closed => {
                // The other side closed its connection (left, reloaded, or was reset).
                self.fail_transfers_of(peer, &format!("{name} left"));
                self.drop_link(peer);
                if !self.in_room(peer) {
                    self.update(|c| c.peer_left(peer));
                }
            }
            DataEvent::Error(_) | DataEvent::BufferedAmountLow => {}
        }
    }

    fn handle_wire(self: &Rc<Self>, peer: &PeerId, wire: Wire) {
        let name = self.name_of(peer);
        let Some(received) = self.update(|c| c.receive(peer, &name, wire)) else {
            return;
        };
        for reply in received.reply {
            self.send_one(peer, reply);
        }
        if let Some(id) = received.start_sending {
            self.start_sending(peer, &id);
        }
        if let Some(id) = received.stop {
            self.stop_job(&id, false);
        }
    }

    /// Sends frames in order on `peer`'s chat channel; what cannot go out goes back to the queue.
    fn send_wires(&self, peer: &PeerId, wires: Vec<Wire>) {
        if wires.is_empty() {
            return;
        }
        let mut sent = Vec::new();
        let mut rest = Vec::new();
        {
            let state = self.state.borrow();
            let channel = state.links.get(peer).map(|l| &l.channel);
            for wire in wires {
                let ok = rest.is_empty()
                    && channel.is_some_and(|ch| ch.send_text(&encode(&wire)).is_ok());
                if ok {
                    sent.push(wire);
                } else {
                    rest.push(wire);
                }
            }
        }
        self.update(|c| {
            if let Some(conv) = c.get_mut(peer) {
                for wire in &sent {
                    conv.sent(wire);
                }
                conv.unsent(rest);
            }
        });
    }

    /// Sends one frame now if the channel is open, else queues it.
    fn send_one(&self, peer: &PeerId, wire: Wire) {
        let open = self
            .model
            .try_with_untracked(|c| c.get(peer).is_some_and(|c| c.channel_open))
            .unwrap_or(false);
        if open {
            self.send_wires(peer, vec![wire]);
        } else {
            let name = self.name_of(peer);
            self.update(|c| c.conversation(peer, &name).enqueue(wire));
        }
    }

    fn flush(&self, peer: &PeerId) {
        let wires = self
            .update(|c| c.get_mut(peer).map(|c| c.flush()))
            .flatten()
            .unwrap_or_default();
        self.send_wires(peer, wires);
    }

    // ---- what the person does ------------------------------------------------------------------

    fn compose(self: &Rc<Self>, peer: &PeerId, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        if text.len() > MAX_TEXT_BYTES {
            return self.notice(
                peer,
                format!(
                    "That message is longer than {} KiB; split it into several.",
                    MAX_TEXT_BYTES / 1024
                ),
            );
        }
        let name = self.name_of(peer);
        let id = new_id("m");
        self.update(|c| c.compose(peer, &name, &id, text));
        self.connect(peer);
        self.flush(peer);
    }

    fn offer_file(self: &Rc<Self>, peer: &PeerId, file: File) {
        let name = self.name_of(peer);
        let id = new_id("t");
        let size = file.size().max(0.0) as u64;
        let transfer = Transfer::new(&id, Direction::Out, &file.name(), size, &file.type_());
        self.state.borrow_mut().jobs.insert(
            id.clone(),
            Job {
                peer: peer.clone(),
                file: Some(file),
                stop: None,
                last_progress: now(),
            },
        );
        self.update(|c| c.offer(peer, &name, transfer));
        self.connect(peer);
        self.flush(peer);
    }

    fn answer(self: &Rc<Self>, peer: &PeerId, id: &str, accept: bool) {
        let Some(wire) = self.update(|c| c.answer(peer, id, accept)).flatten() else {
            return;
        };
        if accept {
            self.state.borrow_mut().jobs.insert(
                id.to_owned(),
                Job {
                    peer: peer.clone(),
                    file: None,
                    stop: None,
                    last_progress: now(),
                },
            );
        }
        self.send_one(peer, wire);
    }

    fn cancel(self: &Rc<Self>, peer: &PeerId, id: &str) {
        if let Some(wire) = self.update(|c| c.cancel(peer, id)).flatten() {
            self.send_one(peer, wire);
            self.stop_job(id, true);
        }
    }

    // ---- transfers ------------------------------------------------------------------------------

    fn transfer_update(&self, peer: &PeerId, id: &str, f: impl FnOnce(&mut Transfer)) {
        self.update(|c| {
            if let Some(t) = c.get_mut(peer).and_then(|conv| conv.transfer_mut(id)) {
                f(t);
            }
        });
    }

    fn transfer_state(&self, peer: &PeerId, id: &str) -> Option<TransferState> {
        self.model
            .try_with_untracked(|c| c.get(peer)?.transfer(id).map(|t| t.state.clone()))
            .flatten()
    }

    /// Ends the task of transfer `id`; `cancel` makes it tell the other side on the file channel.
    fn stop_job(&self, id: &str, cancel: bool) {
        let job = self.state.borrow_mut().jobs.remove(id);
        if let Some(Job {
            stop: Some(stop), ..
        }) = job
        {
            if cancel {
                let _ = stop.send(());
            }
        }
    }

    fn stop_jobs_of(&self, peer: &PeerId) {
        let ids: Vec<String> = self
            .state
            .borrow()
            .jobs
            .iter()
            .filter(|(_, j)| &j.peer == peer)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.stop_job(&id, false);
        }
    }

    /// Fails every transfer with `peer` that is still going, and ends their tasks.
    fn fail_transfers_of(&self, peer: &PeerId, reason: &str) {
        self.stop_jobs_of(peer);
        self.update(|c| {
            if let Some(conv) = c.get_mut(peer) {
                for item in &mut conv.items {
                    if let Item::Transfer(t) = item {
                        t.fail(reason);
                    }
                }
            }
        });
    }

    fn fail_transfer(&self, peer: &PeerId, id: &str, reason: String) {
        self.stop_job(id, false);
        self.transfer_update(peer, id, |t| {
            t.fail(reason);
        });
    }

    /// The receiver accepted: open the file's channel and start the sending task.
    fn start_sending(self: &Rc<Self>, peer: &PeerId, id: &str) {
        let file = self
            .state
            .borrow_mut()
            .jobs
            .get_mut(id)
            .filter(|j| &j.peer == peer)
            .and_then(|j| j.file.take());
        let Some(file) = file else { return };
        let opened = self
            .mesh
            .with_peer(peer, |p| p.open_data_channel(&file_channel_label(id), None));
        let (channel, events) = match opened {
            Some(Ok(pair)) => pair,
            Some(Err(err)) => return self.fail_transfer(peer, id, err.to_string()),
            None => {
                let name = self.name_of(peer);
                return self.fail_transfer(peer, id, format!("the connection to {name} is gone"));
            }
        };
        let (stop, stopped) = oneshot::channel();
        if let Some(job) = self.state.borrow_mut().jobs.get_mut(id) {
            job.stop = Some(stop);
            job.last_progress = now();
        }
        let task = SendTask {
            rt: Rc::downgrade(self),
            peer: peer.clone(),
            id: id.to_owned(),
        };
        spawn_local(task.run(file, channel, events, stopped));
    }

    /// A channel the other side opened: a file channel of an accepted transfer gets a receiving task;
    /// anything else is closed.
    fn accept_channel(self: &Rc<Self>, peer: &PeerId, channel: DataChannel, events: DataEvents) {
        let label = channel.label();
        let Some(id) = transfer_id_of_label(&label).map(str::to_owned) else {
            return;
        };
        let waiting = self
            .state
            .borrow()
            .jobs
            .get(&id)
            .is_some_and(|j| &j.peer == peer && j.stop.is_none() && j.file.is_none());
        let transfer = self
            .model
            .try_with_untracked(|c| c.get(peer)?.transfer(&id).cloned())
            .flatten();
        let Some(transfer) = transfer.filter(|t| {
            waiting && t.direction == Direction::In && t.state == TransferState::Accepted
        }) else {
            return;
        };
        let (stop, stopped) = oneshot::channel();
        if let Some(job) = self.state.borrow_mut().jobs.get_mut(&id) {
            job.stop = Some(stop);
            job.last_progress = now();
        }
        let task = ReceiveTask {
            rt: Rc::downgrade(self),
            peer: peer.clone(),
            id,
        };
        spawn_local(task.run(transfer.size, transfer.mime, channel, events, stopped));
    }

    fn started(&self, peer: &PeerId, id: &str) {
        self.touch(id);
        self.transfer_update(peer, id, |t| {
            t.start();
        });
    }

    fn touch(&self, id: &str) {
        if let Some(job) = self.state.borrow_mut().jobs.get_mut(id) {
            job.last_progress = now();
        }
    }

    fn progress(&self, peer: &PeerId, id: &str, bytes: u64, rate: Option<f64>) {
        self.touch(id);
        self.transfer_update(peer, id, |t| {
            t.bytes = bytes;
            t.rate = rate;
        });
    }

    /// Every byte is on the channel: wait for the receiver's verdict.
    fn sent_all(&self, peer: &PeerId, id: &str, digest: String, rate: Option<f64>) {
        self.touch(id);
        self.transfer_update(peer, id, |t| {
            t.bytes = t.size;
            t.rate = rate.or(t.rate);
            t.sha256 = Some(digest);
            t.verifying();
        });
    }

    /// The end message arrived and the digests were compared.
    fn received_all(
        &self,
        peer: &PeerId,
        id: &str,
        digest: String,
        result: Result<(), ReceiveError>,
        blob: Result<Blob, RtcError>,
        rate: Option<f64>,
    ) {
        self.stop_job(id, false);
        let url = blob.and_then(|b| {
            web_sys::Url::create_object_url_with_blob(&b)
                .map_err(|e| RtcError::ReadFile(describe_js(&e)))
        });
        let ok = result.is_ok() && url.is_ok();
        let url = match url {
            Ok(url) => {
                self.state
                    .borrow_mut()
                    .urls
                    .insert(id.to_owned(), ObjectUrl(url.clone()));
                Some(url)
            }
            Err(err) => {
                self.notice(peer, err.to_string());
                None
            }
        };
        self.transfer_update(peer, id, |t| {
            t.bytes = t.size;
            t.rate = rate.or(t.rate);
            t.sha256 = Some(digest);
            if t.verifying() {
                match result {
                    Ok(()) if ok => {
                        t.url = url;
                        t.done();
                    }
                    Ok(()) => {
                        t.fail("the received file could not be stored");
                    }
                    Err(err) => {
                        t.fail(err.to_string());
                    }
                }
            }
        });
        self.send_one(
            peer,
            Wire::FileResult {
                id: id.to_owned(),
                ok,
            },
        );
    }

    /// The other side cancelled on the file channel (the chat channel may carry the same news).
    fn remote_cancelled(&self, peer: &PeerId, id: &str) {
        let name = self.name_of(peer);
        self.stop_job(id, false);
        self.transfer_update(peer, id, |t| {
            t.cancel(&name);
        });
    }

    /// The file channel closed before the end, a moment ago: unless a cancel or the member's departure
    /// explained it meanwhile, say so.
    fn file_channel_lost(&self, peer: &PeerId, id: &str) {
        let Some(state) = self.transfer_state(peer, id) else {
            return;
        };
        if state.is_final() {
            return;
        }
        let name = self.name_of(peer);
        let linked = self.state.borrow().links.contains_key(peer);
        let reason = if !linked || !self.in_room(peer) {
            format!("{name} left")
        } else {
            format!("the file channel to {name} closed before the end")
        };
        self.fail_transfer(peer, id, reason);
    }

    /// Fails transfers that made no progress for [`STALL_TIMEOUT_MS`] while their connection is not
    /// connected.
    fn tick(&self) {
        let now = now();
        let stalled: Vec<(String, PeerId)> = self
            .state
            .borrow()
            .jobs
            .iter()
            .filter(|(_, j)| now - j.last_progress > STALL_TIMEOUT_MS)
            .map(|(id, j)| (id.clone(), j.peer.clone()))
            .collect();
        for (id, peer) in stalled {
            let moving = matches!(
                self.transfer_state(&peer, &id),
                Some(TransferState::Accepted | TransferState::Sending | TransferState::Receiving)
            );
            let connection = self
                .model
                .try_with_untracked(|c| c.get(&peer).and_then(|c| c.connection))
                .flatten();
            if moving && connection != Some(PeerConnectionState::Connected) {
                let name = self.name_of(&peer);
                self.fail_transfer(
                    &peer,
                    &id,
                    format!(
                        "no progress for {} s while the connection to {name} is {}",
                        STALL_TIMEOUT_MS / 1000.0,
                        connection_words(connection),
                    ),
                );
            }
        }
    }
}

/// How a transfer task's main part ended.
enum Ended {
    /// Every byte went through (and, for the receiver, the verdict was reported).
    Finished,
    /// The runtime stopped it; `cancel` when this side cancelled.
    Stopped { cancel: bool },
}

/// Why a transfer task failed.
enum Failure {
    /// The file channel closed under it.
    Closed,
    Other(String),
}

/// One step of a task: the channel's next event, or the stop handle.
enum Step {
    Event(DataEvent),
    Ended,
    Stop { cancel: bool },
}

async fn next(events: &mut DataEvents, stop: &mut oneshot::Receiver<()>) -> Step {
    match future::select(events.next(), stop).await {
        Either::Left((Some(event), _)) => Step::Event(event),
        Either::Left((None, _)) => Step::Ended,
        Either::Right((sent, _)) => Step::Stop {
            cancel: sent.is_ok(),
        },
    }
}

/// Starts reading `range` of the file; the read runs while the previous block is sent.
fn read_block(file: &File, range: std::ops::Range<u64>) -> Result<JsFuture, Failure> {
    let slice = file
        .slice_with_f64_and_f64(range.start as f64, range.end as f64)
        .map_err(|e| Failure::Other(RtcError::ReadFile(describe_js(&e)).to_string()))?;
    Ok(JsFuture::from(slice.array_buffer()))
}

/// The received chunks so far as one blob: the previous blob followed by the pending chunks.
fn fold(blob: Option<&Blob>, pending: &js_sys::Array, mime: &str) -> Result<Blob, RtcError> {
    let parts = js_sys::Array::new();
    if let Some(blob) = blob {
        parts.push(blob);
    }
    for part in pending.iter() {
        parts.push(&part);
    }
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    Blob::new_with_buffer_source_sequence_and_options(&parts, &options)
        .map_err(|e| RtcError::ReadFile(describe_js(&e)))
}

/// How a file task that did not finish normally ends, the same for both directions: a stop tells the
/// other side if it was a cancel; a lost channel is reported after a moment (a peer that left is usually
/// announced by then, which gives the better sentence); any other failure cancels on the wire and fails
/// the transfer with its reason.
async fn settle(
    rt: &Weak<Runtime>,
    peer: &PeerId,
    id: &str,
    channel: DataChannel,
    result: Result<Ended, Failure>,
) {
    let cancel_on_wire = |channel: &DataChannel| {
        let _ = channel.send_text(&encode(&Wire::FileCancel { id: id.to_owned() }));
    };
    match result {
        Ok(Ended::Finished) => {}
        Ok(Ended::Stopped { cancel }) => {
            if cancel {
                cancel_on_wire(&channel);
            }
        }
        Err(Failure::Closed) => {
            drop(channel);
            TimeoutFuture::new(1_000).await;
            if let Some(rt) = rt.upgrade() {
                rt.file_channel_lost(peer, id);
            }
        }
        Err(Failure::Other(reason)) => {
            cancel_on_wire(&channel);
            if let Some(rt) = rt.upgrade() {
                rt.fail_transfer(peer, id, reason);
            }
        }
    }
}

struct SendTask {
    rt: Weak<Runtime>,
    peer: PeerId,
    id: String,
}

impl SendTask {
    async fn run(
        self,
        file: File,
        channel: DataChannel,
        mut events: DataEvents,
        mut stop: oneshot::Receiver<()>,
    ) {
        match self.send(&file, &channel, &mut events, &mut stop).await {
            Ok(Ended::Finished) => {
                // Keep the channel until the verdict arrives (the runtime then drops the stop handle)
                // or the receiver closes it.
                loop {
                    match next(&mut events, &mut stop).await {
                        Step::Event(DataEvent::Closed) | Step::Ended | Step::Stop { .. } => break,
                        Step::Event(_) => {}
                    }
                }
            }
            other => settle(&self.rt, &self.peer, &self.id, channel, other).await,
        }
    }

    async fn send(
        &self,
        file: &File,
        channel: &DataChannel,
        events: &mut DataEvents,
        stop: &mut oneshot::Receiver<()>,
    ) -> Result<Ended, Failure> {
        channel.set_buffered_amount_low_threshold(LOW_WATER_BYTES);
        while !channel.is_open() {
            match next(events, stop).await {
                Step::Event(DataEvent::Open) => break,
                Step::Event(DataEvent::Closed) | Step::Ended => return Err(Failure::Closed),
                Step::Event(_) => {}
                Step::Stop { cancel } => return Ok(Ended::Stopped { cancel }),
            }
        }
        let rt = self.rt.upgrade().ok_or(Failure::Closed)?;
        rt.started(&self.peer, &self.id);
        drop(rt);
        let mut plan = SendPlan::new(file.size().max(0.0) as u64);
        let mut meter = Meter::new();
        meter.start(now());
        let mut scratch = vec![0u8; CHUNK_BYTES as usize];
        let mut reading = plan.next_block().map(|r| read_block(file, r));
        while let Some(read) = reading.take() {
            let buffer = match future::select(read?, &mut *stop).await {
                Either::Left((Ok(buffer), _)) => buffer
                    .dyn_into::<ArrayBuffer>()
                    .map_err(|e| Failure::Other(describe_js(&e)))?,
                Either::Left((Err(err), _)) => {
                    return Err(Failure::Other(
                        RtcError::ReadFile(describe_js(&err)).to_string(),
                    ))
                }
                Either::Right((sent, _)) => {
                    return Ok(Ended::Stopped {
                        cancel: sent.is_ok(),
                    })
                }
            };
            reading = plan.next_block().map(|r| read_block(file, r));
            for chunk in SendPlan::chunks(u64::from(buffer.byte_length())) {
                while !may_send(channel.buffered_amount()) {
                    match next(events, stop).await {
                        Step::Event(DataEvent::Closed) | Step::Ended => {
                            return Err(Failure::Closed)
                        }
                        Step::Event(_) => {}
                        Step::Stop { cancel } => return Ok(Ended::Stopped { cancel }),
                    }
                }
                let len = (chunk.end - chunk.start) as usize;
                let view = Uint8Array::new_with_byte_offset_and_length(
                    &buffer,
                    chunk.start as u32,
                    len as u32,
                );
                view.copy_to(&mut scratch[..len]);
                plan.sent(&scratch[..len]);
                channel
                    .send_bytes(&view)
                    .map_err(|e| Failure::Other(e.to_string()))?;
                if meter.add(now(), len as u64) {
                    if let Some(rt) = self.rt.upgrade() {
                        rt.progress(&self.peer, &self.id, plan.bytes_sent(), meter.rate());
                    }
                }
            }
        }
        let digest = plan.digest();
        channel
            .send_text(&encode(&Wire::FileEnd {
                id: self.id.clone(),
                size: plan.bytes_sent(),
                sha256: digest.clone(),
            }))
            .map_err(|e| Failure::Other(e.to_string()))?;
        if let Some(rt) = self.rt.upgrade() {
            rt.sent_all(&self.peer, &self.id, digest, meter.rate());
        }
        Ok(Ended::Finished)
    }
}

struct ReceiveTask {
    rt: Weak<Runtime>,
    peer: PeerId,
    id: String,
}

impl ReceiveTask {
    async fn run(
        self,
        size: u64,
        mime: String,
        channel: DataChannel,
        mut events: DataEvents,
        mut stop: oneshot::Receiver<()>,
    ) {
        match self.receive(size, &mime, &mut events, &mut stop).await {
            Ok(Ended::Finished) => {}
            other => settle(&self.rt, &self.peer, &self.id, channel, other).await,
        }
    }

    async fn receive(
        &self,
        size: u64,
        mime: &str,
        events: &mut DataEvents,
        stop: &mut oneshot::Receiver<()>,
    ) -> Result<Ended, Failure> {
        if let Some(rt) = self.rt.upgrade() {
            rt.started(&self.peer, &self.id);
        }
        let mut reassembly = Reassembly::new(size);
        let mut meter = Meter::new();
        meter.start(now());
        let mut scratch: Vec<u8> = Vec::new();
        let mut pending = js_sys::Array::new();
        let mut blob: Option<Blob> = None;
        loop {
            match next(events, stop).await {
                Step::Event(DataEvent::Binary(buffer)) => {
                    let len = buffer.byte_length() as usize;
                    if scratch.len() < len {
                        scratch.resize(len, 0);
                    }
                    Uint8Array::new(&buffer).copy_to(&mut scratch[..len]);
                    reassembly
                        .chunk(&scratch[..len])
                        .map_err(|e| Failure::Other(e.to_string()))?;
                    pending.push(&buffer);
                    if reassembly.should_fold() {
                        let folded = fold(blob.as_ref(), &pending, mime)
                            .map_err(|e| Failure::Other(e.to_string()))?;
                        blob = Some(folded);
                        pending = js_sys::Array::new();
                        reassembly.folded();
                    }
                    if meter.add(now(), len as u64) {
                        if let Some(rt) = self.rt.upgrade() {
                            rt.progress(
                                &self.peer,
                                &self.id,
                                reassembly.bytes_received(),
                                meter.rate(),
                            );
                        }
                    }
                }
                Step::Event(DataEvent::Message(text)) => match decode(&text) {
                    Ok(Wire::FileEnd {
                        size: sent, sha256, ..
                    }) => {
                        let whole = fold(blob.as_ref(), &pending, mime);
                        let (digest, result) = reassembly.finish(sent, &sha256);
                        if let Some(rt) = self.rt.upgrade() {
                            rt.received_all(
                                &self.peer,
                                &self.id,
                                digest,
                                result,
                                whole,
                                meter.rate(),
                            );
                        }
                        return Ok(Ended::Finished);
                    }
                    Ok(Wire::FileCancel { .. }) => {
                        if let Some(rt) = self.rt.upgrade() {
                            rt.remote_cancelled(&self.peer, &self.id);
                        }
                        return Ok(Ended::Finished);
                    }
                    _ => {}
                },
                Step::Event(DataEvent::Closed) | Step::Ended => return Err(Failure::Closed),
                Step::Event(_) => {}
                Step::Stop { cancel } => return Ok(Ended::Stopped { cancel }),
            }
        }
    }
}
