//! [`use_chat`]: the chat runtime of one page — on the mesh runtime ([`use_mesh`]), one negotiated chat
//! channel per remote user and a task per file transfer — with everything the page shows in one reactive
//! [`Chats`] model.
//!
//! The pure modules decide ([`Chats`], `SendPlan`, `Reassembly`, `Meter`); this module carries it out.
//! Ownership: the runtime owns the mesh (and so every peer connection), every chat channel, the `blob:`
//! URLs of received files, the stall timer and the path poll; each transfer task owns its file channel
//! and ends when the runtime drops its stop handle. [`use_mesh`] delivers the relay's and the peers'
//! events and shuts the runtime down when the component that called [`use_chat`] is cleaned up, which
//! closes all of it. Tasks hold the runtime weakly, so none keeps it alive.
//!
//! Each conversation shows its connection's network path, read from the statistics when the connection
//! comes up and every [`PATH_POLL_MS`] while it is up, and, when the connection fails, the likely cause
//! and fix (`rtc::diagnosis`, fed with every connection's candidates and states).
//!
//! # Layout
//! This file holds the handle, the runtime's data, its answers to relay and peer events, the chat
//! channels and what the person does. The file transfers are split off:
//! - `transfers`: the runtime's side of each transfer (its job, its entry in the model, its end).
//! - `tasks`: the task of one transfer, which moves the bytes over the file channel.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures::channel::oneshot;
use futures::StreamExt;
use gloo_timers::callback::Interval;
use leptos::prelude::*;
use peerlab_protocol::PeerId;
use wasm_bindgen_futures::spawn_local;
use web_sys::File;

use super::conversation::{Chats, Item};
use super::transfer::{Direction, Transfer};
use super::wire::{
    decode, encode, Wire, WireError, CHAT_CHANNEL_ID, CHAT_CHANNEL_LABEL, MAX_TEXT_BYTES,
};
use crate::mesh::{use_mesh, InspectorFeed, MeshApp, MeshChange, MeshEvent, MeshRuntime, PeerMesh};
use crate::rtc::data::{DataChannel, DataEvent};
use crate::rtc::diagnosis::ConnectionProblem;
use crate::rtc::path::PathReading;
use crate::rtc::peer::{Peer, PeerEvent};
use crate::rtc::states::PeerConnectionState;
use crate::signaling::{RelayRoom, SignalingEvent};

mod tasks;
mod transfers;

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

    /// Every live peer connection with its inspection, for the inspector.
    pub fn inspector(&self) -> InspectorFeed {
        self.runtime.inspector()
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
}
