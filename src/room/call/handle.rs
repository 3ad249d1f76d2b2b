//! [`use_call`] and [`CallHandle`]: what the room page holds. The handle is `Copy` and holds the call's
//! reactive values (`Signals`, the same struct the runtime writes) and the mesh runtime's handle; every
//! action goes to the runtime while the page lives.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use gloo_timers::callback::Interval;
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use peerlab_protocol::PeerId;
use wasm_bindgen_futures::spawn_local;
use web_sys::MediaStream;

use super::readings::STATS_POLL_MS;
use super::{Runtime, Signals, State};
use crate::mesh::{use_mesh, InspectorFeed, MeshRuntime};
use crate::room::chat::RoomChat;
use crate::room::pacing::SPEAKING_LIGHTS;
use crate::room::participants::Participants;
use crate::rtc::media::{MediaHandle, TrackKind};
use crate::signaling::RelayRoom;

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
    ///
    /// [`FirstOffers`]: crate::room::forming::FirstOffers
    pub fn welcomed(&self) -> ReadSignal<bool> {
        self.s.welcomed.read_only()
    }

    pub fn problem(&self) -> ReadSignal<Option<String>> {
        self.s.problem.read_only()
    }

    /// Every live peer connection with its inspection, for the inspector.
    pub fn inspector(&self) -> InspectorFeed {
        self.runtime.inspector()
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
