//! The peer mesh that the chat and the room both build on: one `rtc::Peer` per remote member of the
//! relay room, created when this side wants to talk or when the member's first signal arrives, and closed
//! when the member leaves.
//!
//! # Layout
//! - [`peers`]: [`PeerMesh`], the owner of every peer connection of one page, fed from the relay's
//!   events; every peer's events on one stream. Browser glue.
//! - [`rejoin`]: [`Rejoin`], what a welcome from the relay means for the peers a page already has (keep
//!   them and restart ICE where not connected, or close them all). Pure.
//! - [`runtime`]: [`use_mesh`], the scaffolding around the mesh that every page needs — the relay's and
//!   the peers' events delivered to the page's runtime (a [`MeshApp`]), the failure diagnosis kept, and
//!   everything closed with the page's component — and [`MeshRuntime`], the page's handle, with the
//!   [`InspectorFeed`] an inspector reads (each connection's `rtc::inspection`, read every second while
//!   an inspector is open). Browser glue.
//! - [`uplink`]: [`Uplink`], what the mesh costs this side's uplink next to what an SFU would. Pure.
//!
//! The pure part is tested with `cargo test -p peerlab --lib`; the glue in the browser, through the chat
//! (`tests/browser_chat.rs`) and the room (`tests/e2e/room.test.mjs`).
//!
//! What a page does over the connections (chat channels and file transfers, or media tracks and the
//! call's control channel) is deliberately not here: `chat` and `room` add it. This module imports
//! neither of them.

pub mod peers;
pub mod rejoin;
pub mod runtime;
pub mod uplink;

pub use peers::{MeshChange, MeshEvent, MeshEvents, PeerMesh, PeerRow, SendSignal};
pub use rejoin::Rejoin;
pub use runtime::{use_mesh, InspectorFeed, MeshApp, MeshRuntime};
pub use uplink::Uplink;
