//! The room: a multi-party video call in a full mesh — every member connects directly to every other —
//! with mute, camera, device switching, screen sharing, a room conversation and a bitrate plan.
//!
//! # Layout
//! - [`layout`]: the grid's columns and rows by the number of people. Pure.
//! - [`bitrate`]: each sender's video cap by the number of peers. Pure.
//! - [`control`]: the control channel's messages (microphone, camera and screen state). Pure.
//! - [`quality`]: a connection's RTT, loss and candidate types in one line, from stats. Pure.
//! - [`participants`]: everyone in the call as the grid shows them, folded from relay, peer and control
//!   events. Pure.
//! - [`chat`]: the room conversation (messages from everyone, acknowledgements counted). Pure.
//! - [`settings`]: the camera size and rate, from the room link. Pure.
//! - [`forming`]: when the call counts as coming together, so that what can wait does, and when the call
//!   view may be built after a welcome. Pure.
//! - [`pacing`]: how often to repeat a reading that makes the main thread wait (the speaking lights).
//!   Pure.
//! - [`call`]: [`use_call`](call::use_call) and [`CallHandle`](call::CallHandle), the call's runtime on
//!   the shared mesh runtime (`crate::mesh`): local tracks on every peer, the chat and control channels,
//!   screen sharing, the stats poll and bitrate caps, split by concern into one file each. Browser glue.
//!
//! The pure modules import neither `web_sys` nor Leptos and are tested with `cargo test -p peerlab --lib`;
//! the glue is tested in headless Chromium by `tests/e2e/room.test.mjs`, and across NATs by
//! `tests/net/nat.test.mjs`. Media and chat travel peer to peer; the relay carries only signaling. This
//! module deliberately builds no views (the page and `components::video_tile` do).

pub mod bitrate;
pub mod chat;
pub mod control;
pub mod forming;
pub mod layout;
pub mod pacing;
pub mod participants;
pub mod quality;
pub mod settings;

pub mod call;

pub use call::{use_call, CallHandle};
