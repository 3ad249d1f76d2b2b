//! Signaling: talking to the relay over one WebSocket to join a room, follow its members and pass opaque
//! payloads (SDP, ICE candidates) to other members.
//!
//! # Layout
//! - [`session`]: the protocol as a sans-I/O state machine (join handshake, keep-alive, frame decoding).
//! - [`roster`]: the room as a page shows it, folded from events; shared by the chat and room pages.
//! - [`client`]: [`SignalingClient`], the web-sys glue that owns the socket, its handlers and its timer.
//! - [`hook`]: [`use_relay_room`], the Leptos hook that ties a client's lifetime to a component.
//!
//! `session` and `roster` import neither `web_sys` nor Leptos and are tested with plain `cargo test`.
//! This module deliberately does not touch WebRTC (`RtcPeerConnection` lives in `src/rtc`) and does not
//! reconnect yet: a reconnect layer would sit in `hook`, building a new client from
//! [`SignalingClient::request`] after [`SignalingEvent::Closed`].

pub mod client;
pub mod hook;
pub mod roster;
pub mod session;

pub use client::{SignalingClient, SignalingEvents};
pub use hook::{use_relay_room, RelayRoom};
pub use roster::{ConnectionState, Problem, Roster};
pub use session::{JoinRequest, SignalingEvent, Welcome};
