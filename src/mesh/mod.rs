//! The peer mesh that the chat and the room both build on: one `rtc::Peer` per remote member of the
//! relay room, created when this side wants to talk or when the member's first signal arrives, and closed
//! when the member leaves.
//!
//! # Layout
//! - [`peers`]: [`PeerMesh`], the owner of every peer connection of one page, fed from the relay's
//!   events; every peer's events on one stream. Browser glue.
//!
//! What a page does over the connections (chat channels and file transfers, or media tracks and the
//! call's control channel) is deliberately not here: `chat` and `room` add it. This module imports
//! neither of them.

pub mod peers;

pub use peers::{MeshChange, MeshEvent, MeshEvents, PeerMesh, PeerRow, SendSignal};
