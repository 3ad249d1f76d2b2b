//! [`use_call`]: the runtime of one room call — on the mesh runtime (`crate::mesh::use_mesh`), this
//! client's camera and microphone tracks on every peer, a chat channel and a control channel per peer,
//! screen sharing, the stats poll and the bitrate caps — with what the page shows in reactive values
//! ([`CallHandle`]).
//!
//! Full mesh without timers: on a welcome this client creates a peer to every member already there; a
//! member's first signal creates the peer on the other side ([`PeerMesh::handle`]); each side adds its
//! local tracks to every peer it creates, and perfect negotiation (in `rtc::Peer`) settles any glare.
//! Switching a device and sharing the screen use `replaceTrack`, so nothing is renegotiated.
//!
//! Ownership: the runtime owns the mesh (every peer connection), every data channel, the shared screen's
//! stream and its `ended` listener, and the poll timer. The camera and microphone belong to the page's
//! `use_media_stream`. [`CallHandle::leave`] and the component's cleanup (through `use_mesh`) close all
//! of it.
//!
//! # Layout
//! This file holds the runtime's data (`Signals`, `State`, `Runtime`), its answers to relay and peer
//! events, and the end of a call. The rest is split by concern, one file each (an `impl Runtime` block):
//! - `handle`: [`use_call`] and [`CallHandle`], what the page holds and calls (the one file that is not an
//!   `impl Runtime` block).
//! - `peers`: a new peer's set-up and a closed one's clean-up, the call view's wait for the first offers,
//!   and the verification codes.
//! - `channels`: each peer's chat and control channels: the room conversation and the media state.
//! - `tracks`: what this client sends (microphone, camera or screen) and receives; device switches and
//!   screen sharing.
//! - `readings`: what is read from the connections while the call runs: whether it is still coming
//!   together, the speaking lights, the stats poll, and the bitrate caps that follow from them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use gloo_timers::callback::Interval;
use leptos::prelude::*;
use peerlab_protocol::PeerId;
use web_sys::{MediaStream, MediaStreamTrack};

use super::chat::RoomChat;
use super::forming::{FirstOffers, Forming};
use super::participants::Participants;
use crate::mesh::{MeshApp, MeshChange, MeshEvent, PeerMesh};
use crate::rtc::data::DataChannel;
use crate::rtc::diagnosis::ConnectionProblem;
use gloo_events::EventListener;

use crate::rtc::media::{stop_stream, MediaHandle};
use crate::rtc::peer::PeerEvent;
use crate::rtc::states::PeerConnectionState;
use crate::rtc::stats::StatsSnapshot;
use crate::signaling::{RelayRoom, SignalingEvent};

mod channels;
mod handle;
mod peers;
mod readings;
mod tracks;

pub use handle::{use_call, CallHandle};
pub use readings::STATS_POLL_MS;

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
    _ended: EventListener,
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

    pub(super) fn name_of(&self, peer: &PeerId) -> String {
        self.s
            .participants
            .try_with_untracked(|p| p.remote(peer).map(|r| r.name.clone()))
            .flatten()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "someone".to_owned())
    }
}
