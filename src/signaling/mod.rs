//! Signaling: talking to the relay over one WebSocket to join a room, follow its members and pass opaque
//! payloads (SDP, ICE candidates) to other members.
//!
//! # Layout
//! - [`session`]: the protocol as a sans-I/O state machine (join handshake, keep-alive, frame decoding).
//! - [`roster`]: the room as a page shows it, folded from events; shared by the chat and room pages.
//! - [`client`]: [`SignalingClient`], the glue that owns the socket (gloo-net's), its reading task and its timer.
//! - [`hook`]: [`use_relay_room`], the Leptos hook that ties a client's lifetime to a component.
//!
//! `session`, `roster`, `backoff` and `log` import neither `web_sys` nor Leptos and are tested with plain `cargo test`.
//! - [`backoff`]: when and after how long to reconnect (exponential backoff with jitter).
//! - [`log`]: [`SignalLog`], the bounded list of relay messages sent and received, for the inspector.
//! - [`private_room`]: names of private throwaway rooms (the network check, the guide's live log).
//!
//! `backoff` and `log` are pure too. This module deliberately does not touch WebRTC (`RtcPeerConnection`
//! lives in `src/rtc`). Reconnecting lives in `hook`: after an unexpected close it builds a new client
//! from [`SignalingClient::request`] plus the last welcome's resume token.

pub mod backoff;
pub mod client;
pub mod hook;
pub mod log;
pub mod private_room;
pub mod roster;
pub mod session;

pub use client::{SignalingClient, SignalingEvents, WarmSocket};
pub use hook::{use_relay_room, RelayRoom, RelayStatus};
pub use log::{Direction, LogEntry, SignalLog};
pub use roster::{ConnectionState, Problem, Roster};
pub use session::{JoinRequest, SignalingEvent, Welcome};
