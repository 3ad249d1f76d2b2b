//! peerlab's browser app: a Leptos single-page app, compiled to wasm, that makes WebRTC visible.
//!
//! # Layout
//! - [`App`]: the router, the shared header (navigation and relay indicator) and the routes.
//! - [`pages`]: one page per file: home, media, loopback, chat, room, network check, guide, TURN help and
//!   not-found.
//! - [`guide`]: the guide's chapters as data, and the topology cost model.
//! - [`chat`]: peer-to-peer text and files over data channels (pure models and the chat session).
//! - [`room`]: the multi-party mesh video call (pure layout, bitrate, control, quality and participant
//!   models; the call runtime).
//! - [`mesh`]: the peer mesh both chat and room build on: one `rtc::Peer` per remote member, fed from the
//!   relay, and the runtime that wires it to the relay and closes it with the page.
//! - [`components`]: small shared views: navigation, relay indicator, the room panel.
//! - [`signaling`]: the relay client: a sans-I/O session, the roster model, the WebSocket glue and the
//!   `use_relay_room` hook.
//! - [`config`]: `/peerlab.json` and the rule that turns it into the relay URL.
//! - [`context`]: what `App` provides to every page (configuration, relay status).
//! - [`error`]: every user-facing error, and the one place a `JsValue` becomes one.
//! - [`storage`]: the display name remembered in `localStorage`.
//! - [`rtc`]: the browser side of WebRTC (negotiation, the `Peer` wrapper, media, stats, the loopback);
//!   the only module that touches `RtcPeerConnection` or `getUserMedia`.
//!
//! `main.rs` only mounts [`App`]. The pure modules (`config`'s resolution, `signaling::session`,
//! `signaling::roster`, `rtc::negotiation`, `rtc::stats` and the other pure `rtc` modules) are tested
//! natively with `cargo test -p peerlab --lib`; the browser glue is tested in headless Chromium by
//! `tests/browser_*.rs`. This crate deliberately holds no wire types (they are in `peerlab-protocol`).

pub mod chat;
pub mod components;
pub mod config;
pub mod context;
pub mod error;
pub mod guide;
pub mod mesh;
pub mod pages;
pub mod room;
pub mod rtc;
pub mod signaling;
pub mod storage;

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use crate::components::{Nav, RelayIndicator};
use crate::context::AppConfig;
use crate::pages::{
    ChatPage, HomePage, LearnChapterPage, LearnPage, LoopbackPage, MediaPage, NetworkPage,
    NotFoundPage, RoomPage, TurnHelpPage,
};
use crate::signaling::RelayStatus;

/// The whole app: configuration and relay status in context, the header, and the routed page.
#[component]
pub fn App() -> impl IntoView {
    provide_context(AppConfig::load());
    provide_context(RelayStatus::new());

    view! {
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <header class="site-header">
                <a class="brand" href="/">"peerlab"</a>
                <Nav />
                <RelayIndicator />
            </header>
            <main id="main" class="page" data-testid="main">
                <Routes fallback=|| view! { <NotFoundPage /> }>
                    <Route path=path!("/") view=HomePage />
                    <Route path=path!("/media") view=MediaPage />
                    <Route path=path!("/loopback") view=LoopbackPage />
                    <Route path=path!("/chat") view=ChatPage />
                    <Route path=path!("/room/:name") view=RoomPage />
                    <Route path=path!("/help/turn-server") view=TurnHelpPage />
                    <Route path=path!("/network") view=NetworkPage />
                    <Route path=path!("/learn") view=LearnPage />
                    <Route path=path!("/learn/:chapter") view=LearnChapterPage />
                </Routes>
            </main>
        </Router>
    }
}
