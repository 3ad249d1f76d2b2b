//! [`use_mesh`]: what every page with a [`PeerMesh`] needs around it, in one place — the mesh made with a
//! sender of signals through the relay, the relay's events and every peer's events delivered to the
//! page's runtime, events of closed peers dropped, each peer's failure diagnosis kept, and everything
//! closed when the calling component is cleaned up.
//!
//! The page's runtime (a [`MeshApp`]) owns the mesh and adds its own concerns: the chat its channels and
//! file transfers, the room its media tracks, channels and bitrate caps. The tasks that deliver events
//! hold the runtime weakly, so none keeps it alive; the one strong reference sits in the component's
//! reactive owner until its cleanup, which shuts the runtime down and then closes every peer.
//!
//! Glue: tested in the browser through the chat (`tests/browser_chat.rs`) and the room
//! (`tests/e2e/room.test.mjs`).

use std::rc::Rc;

use futures::StreamExt;
use gloo_timers::callback::Interval;
use leptos::prelude::*;
use peerlab_protocol::PeerId;
use wasm_bindgen_futures::spawn_local;

use super::peers::{MeshEvent, PeerMesh, PeerRow, SendSignal};
use crate::rtc::diagnosis::ConnectionProblem;
use crate::signaling::{RelayRoom, SignalingEvent};

/// A page's runtime on a [`PeerMesh`]: what it does with the relay's and the peers' events.
pub trait MeshApp: 'static {
    /// The mesh this runtime was built with (see [`use_mesh`]).
    fn mesh(&self) -> &PeerMesh;

    /// One event from the relay. The runtime hands it to the mesh ([`PeerMesh::handle`]) where its own
    /// bookkeeping needs it: the chat settles a departing member's transfers before the mesh closes the
    /// peer, and the room ignores relay events while it is not in the call.
    fn on_relay(self: &Rc<Self>, event: SignalingEvent);

    /// One event of a current peer (events of a peer closed since are dropped before they get here),
    /// with the change of that member's failure diagnosis ([`PeerMesh::diagnose`]; `Some(None)`: it no
    /// longer has a problem).
    fn on_peer(self: &Rc<Self>, event: MeshEvent, problem: Option<Option<ConnectionProblem>>);

    /// The component is gone: stop timers and close what the runtime owns besides the mesh, whose peers
    /// are closed right after.
    fn shutdown(&self);
}

/// How often an open inspector reads each connection's statistics and descriptions.
pub const INSPECT_EVERY_MS: u32 = 1_000;

/// What an inspector needs of a page's mesh: every live connection with its inspection, and the switch
/// that says whether an inspector is open (connections are read only then). `Copy`.
#[derive(Clone, Copy)]
pub struct InspectorFeed {
    pub peers: Signal<Vec<PeerRow>>,
    /// Set by the inspector while it shows the connections' details.
    pub watching: RwSignal<bool>,
}

/// A handle to the runtime of one page. `Copy`, so view closures capture it freely; [`MeshRuntime::app`]
/// is `None` once the owning component is gone.
pub struct MeshRuntime<A: 'static> {
    app: StoredValue<Option<Rc<A>>, LocalStorage>,
    feed: InspectorFeed,
}

impl<A> Clone for MeshRuntime<A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A> Copy for MeshRuntime<A> {}

impl<A: MeshApp> MeshRuntime<A> {
    /// The runtime, while its component lives.
    pub fn app(&self) -> Option<Rc<A>> {
        self.app.try_with_value(|app| app.clone()).flatten()
    }

    /// Every live peer connection's states and inspection.
    pub fn peers(&self) -> Signal<Vec<PeerRow>> {
        self.feed.peers
    }

    /// What the page's inspector shows.
    pub fn inspector(&self) -> InspectorFeed {
        self.feed
    }
}

/// Starts a page's runtime on `relay`'s room: makes the mesh, lets `build` make the runtime around it
/// (and start the runtime's own timers), and delivers every relay and peer event to it until the calling
/// component is cleaned up. Call it before `relay.join`, so no relay event is missed.
pub fn use_mesh<A: MeshApp>(
    relay: RelayRoom,
    build: impl FnOnce(PeerMesh) -> Rc<A>,
) -> MeshRuntime<A> {
    let send: SendSignal =
        Rc::new(move |to: &PeerId, payload| relay.send_signal(to.clone(), payload));
    let (mesh, mut mesh_events) = PeerMesh::new(send);
    let rows = mesh.rows();
    let app = build(mesh);
    let mut relay_events = relay.events();
    let weak = Rc::downgrade(&app);
    spawn_local(async move {
        while let Some(event) = relay_events.next().await {
            let Some(app) = weak.upgrade() else { return };
            app.on_relay(event);
        }
    });
    let weak = Rc::downgrade(&app);
    spawn_local(async move {
        while let Some(event) = mesh_events.next().await {
            let Some(app) = weak.upgrade() else { return };
            if !app.mesh().is_current(&event.id, event.generation) {
                continue;
            }
            app.mesh().inspect(&event);
            let problem = app.mesh().diagnose(&event);
            app.on_peer(event, problem);
        }
    });
    let watching = RwSignal::new(false);
    let weak = Rc::downgrade(&app);
    let read = move || {
        if let Some(app) = weak.upgrade() {
            app.mesh().read_inspections();
        }
    };
    // An inspector that opens reads at once, then every second while it stays open.
    let first = read.clone();
    Effect::new(move |_| {
        if watching.get() {
            first();
        }
    });
    let timer = Interval::new(INSPECT_EVERY_MS, move || {
        if watching.try_get_untracked() == Some(true) {
            read();
        }
    });
    let stored = StoredValue::new_local(Some(app));
    let timer = StoredValue::new_local(Some(timer));
    on_cleanup(move || {
        timer.try_update_value(Option::take);
        if let Some(app) = stored.try_update_value(Option::take).flatten() {
            app.shutdown();
            app.mesh().close_all();
        }
    });
    MeshRuntime {
        app: stored,
        feed: InspectorFeed {
            peers: Signal::derive(move || rows.get()),
            watching,
        },
    }
}
