//! A peer's life in the call: its set-up when the mesh creates it (local tracks, the chat and control
//! channels), its clean-up when the mesh closes it, the call view's wait for the first offers a welcome
//! starts, and the verification code of each connection once the call has formed.

use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use peerlab_protocol::PeerId;
use wasm_bindgen_futures::spawn_local;

use super::channels::Channel;
use super::tracks::kind_key;
use super::{Links, Runtime};
use crate::chat::wire::{CHAT_CHANNEL_ID, CHAT_CHANNEL_LABEL};
use crate::room::control::{CONTROL_CHANNEL_ID, CONTROL_CHANNEL_LABEL};
use crate::room::participants::Participants;
use crate::rtc::states::PeerConnectionState;

impl Runtime {
    /// Marks the call welcomed once the peers the welcome `made` have their first offers out (set, sent
    /// and their candidates gathered), in a task after that (see [`FirstOffers`]; at most
    /// [`VIEW_WAIT_MS`] later). A welcome after a relay restart finds the call view
    /// already there.
    ///
    /// [`FirstOffers`]: crate::room::forming::FirstOffers
    /// [`VIEW_WAIT_MS`]: crate::room::forming::VIEW_WAIT_MS
    pub(super) fn show_call(self: &Rc<Self>, made: Vec<PeerId>) {
        if self.s.welcomed.get_untracked() {
            return;
        }
        let wait = self.state.borrow_mut().first_offers.start(made);
        self.welcome_after(wait);
    }

    /// Sets `welcomed` after `ms` (0: in the next task), unless another join or a leave came between.
    pub(super) fn welcome_after(self: &Rc<Self>, ms: u32) {
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
    pub(super) fn first_offer_done(self: &Rc<Self>, peer: &PeerId) {
        let last = self.state.borrow_mut().first_offers.done(peer);
        if last && !self.s.welcomed.get_untracked() {
            self.welcome_after(0);
        }
    }

    /// Gives every connected member without a verification code its code. Called once the call has
    /// formed: each code reads both descriptions of the connection from the browser (two synchronous
    /// copies of the SDP) and hashes them, on the main thread that the connections still being set up
    /// wait for (docs/BENCHMARKS.md, mesh set-up); the tile shows a placeholder until then.
    pub(super) fn fill_verifications(&self) {
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

    /// Sets up a new peer of `peer`: the local tracks, the chat and control channels.
    pub(super) fn attach(self: &Rc<Self>, peer: &PeerId) {
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
    pub(super) fn detach(self: &Rc<Self>, peer: &PeerId) {
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
}
