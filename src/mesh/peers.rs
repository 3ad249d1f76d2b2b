//! [`PeerMesh`]: one [`Peer`] per remote member, created lazily, fed from the relay's events and sending
//! its signals through the relay. The chat page uses it for one connection per pair of users that talk,
//! the room page for a full mesh.
//!
//! The mesh owns the peers and nothing else: it creates a peer when this side wants to talk to a member
//! ([`PeerMesh::ensure`]) or when a member's first signal arrives, closes it when the member leaves the
//! room, and after a welcome does what [`Rejoin`] decides: a new id for this client closes every peer,
//! a resumed one (same id) keeps them and restarts ICE on those not connected. Everything each peer
//! reports arrives on one [`MeshEvents`] stream, tagged with the member and a generation, so events of a
//! closed peer are told apart from those of its successor.
//!
//! Glue: it holds browser objects (through `rtc::Peer`) and is tested in the browser through the chat
//! runtime (`tests/browser_chat.rs`) and the room page (`tests/e2e/room.test.mjs`).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use futures::channel::mpsc;
use futures::StreamExt;
use leptos::prelude::*;
use peerlab_protocol::{IceServer, Payload, PeerId};
use wasm_bindgen_futures::spawn_local;

use super::rejoin::Rejoin;
use crate::error::AppError;
use crate::rtc::diagnosis::{ConnectionProblem, Observers};
use crate::rtc::inspection::{End, PeerInspection};
use crate::rtc::peer::{Peer, PeerConfig, PeerEvent, PeerStates};
use crate::rtc::states::PeerConnectionState;
use crate::rtc::verification::short_authentication_string;
use crate::rtc::Signal;
use crate::signaling::SignalingEvent;

/// Sends one signal payload to a member through the relay.
pub type SendSignal = Rc<dyn Fn(&PeerId, Payload) -> Result<(), AppError>>;

/// One event of one peer.
pub struct MeshEvent {
    pub id: PeerId,
    /// Which peer of that member (see [`PeerMesh::is_current`]).
    pub generation: u64,
    pub event: PeerEvent,
}

/// The events of every peer of the mesh, in order per peer. Ends when the mesh is dropped.
pub type MeshEvents = mpsc::UnboundedReceiver<MeshEvent>;

/// What handling a relay event did to the set of peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeshChange {
    /// A peer was created for this member (its first signal arrived).
    Created(PeerId),
    /// This member's peer was closed (the member left, or this client got a new id).
    Closed(PeerId),
}

/// One peer's states and what the inspector knows of it.
#[derive(Clone)]
pub struct PeerRow {
    pub id: PeerId,
    pub states: PeerStates,
    /// Steps and candidates always (folding them is cheap); descriptions and readings while an inspector
    /// is open ([`PeerMesh::read_inspections`]).
    pub inspection: ArcRwSignal<PeerInspection>,
}

impl PeerRow {
    /// Whether the connection is up now (untracked: for polls, not for views).
    pub fn is_connected(&self) -> bool {
        self.states.connection.get_untracked() == PeerConnectionState::Connected
    }
}

struct Entry {
    peer: Peer,
    generation: u64,
    /// `Date.now()` when the peer was made: the inspector's times count from it.
    created_at: f64,
    inspection: ArcRwSignal<PeerInspection>,
    /// A `getStats` for the inspector is under way: the next tick skips this peer rather than pile up
    /// calls on a busy machine.
    reading: Rc<Cell<bool>>,
}

impl Entry {
    fn since_created(&self) -> f64 {
        js_sys::Date::now() - self.created_at
    }
}

struct Inner {
    /// This client's id from the last welcome; peers need it to decide who is polite.
    self_id: Option<PeerId>,
    /// From the welcome, replaced by `ice_servers` refreshes; used for peers created from now on.
    ice_servers: Vec<IceServer>,
    peers: BTreeMap<PeerId, Entry>,
    next_generation: u64,
    send: SendSignal,
    events: mpsc::UnboundedSender<MeshEvent>,
    /// Every live peer's states, in creation order, for views.
    rows: ArcRwSignal<Vec<PeerRow>>,
    /// Each live peer's evidence for the failure diagnosis.
    observers: Observers<PeerId>,
}

/// The owner of every peer connection of one page. Cloning gives another handle to the same mesh; the
/// peers close when the last handle is dropped (or with [`PeerMesh::close_all`]).
#[derive(Clone)]
pub struct PeerMesh {
    inner: Rc<RefCell<Inner>>,
}

impl PeerMesh {
    /// A mesh with no peers yet that sends signals with `send` (usually `RelayRoom::send_signal`).
    pub fn new(send: SendSignal) -> (PeerMesh, MeshEvents) {
        crate::rtc::peer::warm_up();
        let (events, rx) = mpsc::unbounded();
        let mesh = PeerMesh {
            inner: Rc::new(RefCell::new(Inner {
                self_id: None,
                ice_servers: Vec::new(),
                peers: BTreeMap::new(),
                next_generation: 0,
                send,
                events,
                rows: ArcRwSignal::new(Vec::new()),
                observers: Observers::default(),
            })),
        };
        (mesh, rx)
    }

    /// This client's id, once welcomed.
    pub fn self_id(&self) -> Option<PeerId> {
        self.inner.borrow().self_id.clone()
    }

    /// Every live peer's states, for the inspector.
    pub fn rows(&self) -> ArcRwSignal<Vec<PeerRow>> {
        self.inner.borrow().rows.clone()
    }

    /// Whether `generation` is the current peer of `id` (events of a closed peer may still be queued).
    pub fn is_current(&self, id: &PeerId, generation: u64) -> bool {
        self.inner
            .borrow()
            .peers
            .get(id)
            .is_some_and(|e| e.generation == generation)
    }

    /// Whether there is a peer for `id`.
    pub fn has(&self, id: &PeerId) -> bool {
        self.inner.borrow().peers.contains_key(id)
    }

    /// Runs `f` with the peer of `id`, if there is one. `f` must not call back into the mesh.
    pub fn with_peer<R>(&self, id: &PeerId, f: impl FnOnce(&Peer) -> R) -> Option<R> {
        self.inner.borrow().peers.get(id).map(|e| f(&e.peer))
    }

    /// The six-digit code of the connection to `id`, once both of its descriptions are set
    /// (`rtc::verification`); both sides read the same code.
    pub fn verification(&self, id: &PeerId) -> Option<String> {
        let (local, remote) = self.with_peer(id, |p| p.current_sdps())?;
        short_authentication_string(&local?, &remote?).ok()
    }

    /// Makes sure there is a peer for `id`; returns whether one was created. Fails before the relay has
    /// welcomed this client, or when the browser refuses a new connection.
    pub fn ensure(&self, id: &PeerId) -> Result<bool, AppError> {
        if self.has(id) {
            return Ok(false);
        }
        let (config, send, events) = {
            let inner = self.inner.borrow();
            let local = inner.self_id.clone().ok_or(AppError::NotConnected)?;
            let mut config = PeerConfig::new(local.as_str(), id.as_str());
            config.ice_servers = inner.ice_servers.clone();
            (config, Rc::clone(&inner.send), inner.events.clone())
        };
        let to = id.clone();
        let (peer, mut peer_events) = Peer::new(config, move |signal: Signal| {
            // Serializing a signal cannot fail. A signal that cannot be sent (the relay is away) is lost;
            // the ICE restart after the relay comes back heals the negotiation.
            if let Ok(payload) = Payload::from_value(&signal) {
                let _ = send(&to, payload);
            }
        })?;
        let states = peer.states();
        let inspection = ArcRwSignal::new(PeerInspection::default());
        let generation = {
            let mut inner = self.inner.borrow_mut();
            inner.next_generation += 1;
            let generation = inner.next_generation;
            inner.peers.insert(
                id.clone(),
                Entry {
                    peer,
                    generation,
                    created_at: js_sys::Date::now(),
                    inspection: inspection.clone(),
                    reading: Rc::new(Cell::new(false)),
                },
            );
            inner.rows.update(|rows| {
                rows.retain(|r| &r.id != id);
                rows.push(PeerRow {
                    id: id.clone(),
                    states,
                    inspection,
                });
            });
            generation
        };
        let member = id.clone();
        spawn_local(async move {
            while let Some(event) = peer_events.next().await {
                let tagged = MeshEvent {
                    id: member.clone(),
                    generation,
                    event,
                };
                if events.unbounded_send(tagged).is_err() {
                    return;
                }
            }
        });
        Ok(true)
    }

    /// Folds one peer event into the failure diagnosis of its connection (`rtc::diagnosis`); returns the
    /// member's problem when it changed (`Some(None)`: it no longer has one). Chat and room show it the
    /// same way, each in its own view.
    pub fn diagnose(&self, event: &MeshEvent) -> Option<Option<ConnectionProblem>> {
        let observation = event.event.observation()?;
        let mut inner = self.inner.borrow_mut();
        let Inner {
            peers, observers, ..
        } = &mut *inner;
        let servers = || {
            peers
                .get(&event.id)
                .map(|e| e.peer.ice_summary())
                .unwrap_or_default()
        };
        let changed = observers.observe(&event.id, event.generation, servers, observation);
        changed.then(|| observers.problem(&event.id))
    }

    /// Folds one peer event into its connection's inspection: the step on the timeline, and a candidate
    /// of either end into the candidate list.
    pub fn inspect(&self, event: &MeshEvent) {
        let inner = self.inner.borrow();
        let Some(entry) = inner.peers.get(&event.id) else {
            return;
        };
        let at = entry.since_created();
        let step = event.event.step();
        let candidate = match &event.event {
            PeerEvent::LocalCandidate(c) => Some((End::Local, c)),
            PeerEvent::CandidateAdded(c) => Some((End::Remote, c)),
            _ => None,
        };
        entry.inspection.update(|i| {
            if let Some((kind, text)) = step {
                i.step(at, kind, text);
            }
            if let Some((end, candidate)) = candidate {
                i.candidate(at, end, candidate);
            }
        });
    }

    /// Reads every connection's statistics and descriptions once into its inspection. `getStats` runs on
    /// the browser's WebRTC threads, so this runs only while an inspector shows them; a connection whose
    /// last reading has not come back is skipped, and descriptions that did not change notify no view.
    pub fn read_inspections(&self) {
        let inner = self.inner.borrow();
        for entry in inner.peers.values() {
            let (local, remote) = entry.peer.descriptions();
            entry
                .inspection
                .maybe_update(|i| i.descriptions(local, remote));
            if entry.reading.replace(true) {
                continue;
            }
            let reading = entry.peer.stats();
            let (inspection, created_at, busy) = (
                entry.inspection.clone(),
                entry.created_at,
                Rc::clone(&entry.reading),
            );
            spawn_local(async move {
                let result = reading.await;
                busy.set(false);
                // A connection closed meanwhile has no statistics; its inspection is gone with it.
                if let Ok(snapshot) = result {
                    let at = js_sys::Date::now() - created_at;
                    inspection.update(|i| i.sample(at, snapshot));
                }
            });
        }
    }

    /// Notes the cap this side set on the video it sends to `id`, for the inspector.
    pub fn note_sender_cap(&self, id: &PeerId, bps: Option<u32>) {
        if let Some(entry) = self.inner.borrow().peers.get(id) {
            entry.inspection.update(|i| i.set_sender_cap(bps));
        }
    }

    /// Closes the peer of `id`, if any; returns whether there was one.
    pub fn close(&self, id: &PeerId) -> bool {
        let entry = {
            let mut inner = self.inner.borrow_mut();
            let entry = inner.peers.remove(id);
            inner.observers.forget(id);
            if entry.is_some() {
                inner.rows.update(|rows| rows.retain(|r| &r.id != id));
            }
            entry
        };
        // Dropped outside the borrow: closing updates the peer's state signals.
        entry.is_some()
    }

    /// Closes every peer; returns their ids.
    pub fn close_all(&self) -> Vec<PeerId> {
        let peers = {
            let mut inner = self.inner.borrow_mut();
            inner.rows.update(Vec::clear);
            inner.observers = Observers::default();
            std::mem::take(&mut inner.peers)
        };
        peers.into_keys().collect()
    }

    /// Folds one relay event in: keeps the id and ICE servers, creates a peer for a signal from a new
    /// member and delivers it, closes the peer of a member who left, and closes every peer when this
    /// client got a new id. Returns what changed, so the owner can attach channels to a new peer before
    /// the signal that created it is processed (the peer handles it asynchronously).
    pub fn handle(&self, event: &SignalingEvent) -> Vec<MeshChange> {
        match event {
            SignalingEvent::Welcome(welcome) => {
                let previous = {
                    let mut inner = self.inner.borrow_mut();
                    inner.ice_servers = welcome.ice_servers.clone();
                    inner.self_id.replace(welcome.peer_id.clone())
                };
                let rejoin = Rejoin::of(previous.as_ref(), &welcome.peer_id);
                match rejoin {
                    Rejoin::NewId => self
                        .close_all()
                        .into_iter()
                        .map(MeshChange::Closed)
                        .collect(),
                    Rejoin::Resumed => {
                        let inner = self.inner.borrow();
                        for entry in inner.peers.values() {
                            if rejoin.restarts_ice(entry.peer.states().connection.get_untracked()) {
                                entry.peer.restart_ice();
                            }
                        }
                        Vec::new()
                    }
                    Rejoin::First => Vec::new(),
                }
            }
            SignalingEvent::IceServers(servers) => {
                // New peers take them at creation; live ones get them now (fresh TURN credentials must
                // reach a connection before an ICE restart needs them). A refusal changes nothing that
                // works today, so it is only reported.
                let mut inner = self.inner.borrow_mut();
                inner.ice_servers = servers.clone();
                for (id, entry) in &inner.peers {
                    if let Err(err) = entry.peer.set_ice_servers(servers) {
                        leptos::logging::warn!("peer {id}: {err}");
                    }
                }
                Vec::new()
            }
            SignalingEvent::Signal { from, payload } => {
                let Ok(signal) = payload.parse::<Signal>() else {
                    // Not a WebRTC signal of this app; nothing to do with it.
                    return Vec::new();
                };
                let created = match self.ensure(from) {
                    Ok(created) => created,
                    Err(_) => return Vec::new(),
                };
                self.with_peer(from, |peer| peer.receive(signal));
                if created {
                    vec![MeshChange::Created(from.clone())]
                } else {
                    Vec::new()
                }
            }
            SignalingEvent::MemberLeft { id, .. } => {
                if self.close(id) {
                    vec![MeshChange::Closed(id.clone())]
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }
}
