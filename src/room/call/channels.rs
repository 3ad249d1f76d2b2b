//! Each peer's two negotiated channels: the chat channel (the room conversation, the chat's wire format)
//! and the control channel (this client's microphone, camera and screen state, sent when the channel
//! opens and on every change).

use std::rc::Rc;

use futures::StreamExt;
use leptos::prelude::*;
use peerlab_protocol::PeerId;
use wasm_bindgen_futures::spawn_local;

use super::Runtime;
use crate::chat::wire::{self, Wire, MAX_TEXT_BYTES};
use crate::room::control::{self, Control};
use crate::rtc::data::{DataEvent, DataEvents};

/// Which of a peer's channels an event came from.
#[derive(Clone, Copy)]
pub(super) enum Channel {
    Chat,
    Control,
}

/// A random message id (unique per sender; not a secret).
fn new_id() -> String {
    let part = || (js_sys::Math::random() * 4_294_967_296.0) as u32;
    format!("m-{:08x}{:08x}", part(), part())
}

impl Runtime {
    pub(super) fn listen(
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

    pub(super) fn send_state_to(&self, peer: &PeerId) {
        let frame = control::encode(&Control::State(self.self_media()));
        if let Some(links) = self.state.borrow().links.get(peer) {
            if links.control.is_open() {
                let _ = links.control.send_text(&frame);
            }
        }
    }

    pub(super) fn broadcast_state(&self) {
        let frame = control::encode(&Control::State(self.self_media()));
        for links in self.state.borrow().links.values() {
            if links.control.is_open() {
                // A channel that closes meanwhile sends its state again when it reopens.
                let _ = links.control.send_text(&frame);
            }
        }
    }

    pub(super) fn send_chat(&self, text: &str) {
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

    pub(super) fn chat_frame(&self, peer: &PeerId, text: &str) {
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
