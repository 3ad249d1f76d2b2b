//! The browser side of WebRTC, and the only code in the app that touches `web_sys::Rtc*`,
//! `MediaDevices` or `getUserMedia`.
//!
//! # Layout
//! - [`negotiation`]: "perfect negotiation" as a sans-I/O state machine, and [`Signal`], the payload two
//!   peers exchange through any signaling channel. Pure.
//! - [`stats`]: `getStats` reports parsed into typed samples (bitrate, loss, RTT, frame rate, resolution,
//!   the selected candidate pair), and the ring buffers the charts draw. Pure.
//! - [`path`]: the network path of the selected pair in words ("relayed by the TURN server (TCP)"). Pure.
//! - [`diagnosis`]: why a connection could not be made and what would fix it, from the servers given and
//!   the candidates gathered on both sides; the same words in chat and room. Pure.
//! - [`reach_check`]: the network check's verdict (host only, STUN, TURN over UDP or TCP) in words, and
//!   each STUN/TURN server's answer time and estimated round-trip time, from the candidates gathered. Pure.
//! - [`devices`]: cameras and microphones as data, and what to say and offer when the one in use stops
//!   mid-call (the next device of its kind, or what still works). Pure.
//! - [`constraints`]: the constraints the media page builds. Pure. (What each `getUserMedia` failure means
//!   is `crate::error::MediaError`.)
//! - [`states`]: the connection, ICE, signaling, gathering and data channel states as enums, with the
//!   browser's word for each and what people read. Pure.
//! - [`timeline`]: the inspectors' steps, each with its one-sentence explanation. Pure.
//! - [`sdp`]: a session description folded by section, each titled with what it negotiates. Pure.
//! - [`inspection`]: what the chat and room inspectors know of one connection (steps, candidates,
//!   descriptions, selected pairs, charts, sender cap), folded from its events and readings. Pure.
//! - [`verification`]: the short code both sides of a call derive from its DTLS fingerprints, to compare
//!   aloud and detect a relay that rewrote the SDP. Pure.
//! - [`peer`]: [`Peer`], the owner of one `RTCPeerConnection` that carries out the negotiator's decisions,
//!   trickles ICE, restarts ICE when the connection breaks and exposes its states as signals.
//! - [`data`]: [`DataChannel`], the owner of one `RTCDataChannel`.
//! - [`gathering`]: `GatheringProbe`, a connection that only gathers candidates, and `use_network_check`.
//! - [`media`]: `use_media_stream` (camera and microphone, devices, switching, mute, a device that
//!   stopped, `devicechange`), the audio level meter and snapshots.
//! - [`loopback`]: `use_loopback`, two peers in one page, for the loopback inspector.
//!
//! The pure modules import neither `web_sys` nor Leptos and are tested with `cargo test -p peerlab --lib`.
//! Every browser object here has one owner whose drop closes it; there is no `Closure::forget`.

pub mod constraints;
pub mod devices;
pub mod diagnosis;
pub mod inspection;
pub mod negotiation;
pub mod path;
pub mod reach_check;
pub mod sdp;
pub mod states;
pub mod stats;
pub mod timeline;
pub mod verification;

pub mod data;
pub mod gathering;
mod js;
pub mod loopback;
pub mod media;
pub mod peer;

pub use negotiation::{Candidate, CandidateType, Description, Negotiator, SdpKind, Signal};
