//! The relay's transport: everything between a TCP connection and a stream of WebSocket messages, for
//! plain TCP and TLS alike, on one framing path.
//!
//! # Layout (each module uses only those above it)
//! - [`codec`]: RFC 6455 framing as pure functions and a per-connection [`codec::FrameReader`]: header
//!   parsing, unmasking, reassembly, size limits, close codes. No I/O; imports nothing from the crate.
//! - [`outbox`]: the owner of a client's socket ([`Wire`]: TCP or TLS), the queue other connections push
//!   frames to (bounded by bytes and time behind), and the bytes committed but not written yet. Encodes
//!   with the codec.
//! - [`relay_socket`]: [`RelaySocket`], the `Stream` + `Sink` of messages the session layer reads and
//!   writes, over the codec and the outbox.
//! - [`handshake`]: the opening handshake on an HTTP request; it builds the outbox and socket of an
//!   upgraded connection and hands them to a function the caller passes in.
//! - [`tls`]: loading the rustls configuration (`--tls-cert`, `--tls-key`).
//!
//! What this layer deliberately is not: it knows no rooms, sessions, cluster or relay state, and imports
//! nothing outside `transport` but external crates (`tests/layers.rs` checks that). The accept loop, which
//! admits connections under the relay's caps and serves HTTP on them, sits above it in `crate::accept`.
//!
//! Messages are tungstenite's data types ([`Message`], [`Utf8Bytes`], [`CloseFrame`]); tungstenite itself
//! frames nothing here.

pub mod codec;
pub mod handshake;
pub mod outbox;
pub mod relay_socket;
pub mod tls;

pub use codec::Limits;
pub use outbox::{Commit, Outbox, Push, QueueLimits, Wire};
pub use relay_socket::{RelaySocket, WsError};
pub use tungstenite::protocol::CloseFrame;
pub use tungstenite::{Bytes, Message, Utf8Bytes};
