//! Peer-to-peer chat: text and files between two browsers over WebRTC data channels, with the relay
//! carrying only the signaling.
//!
//! # Layout
//! - [`wire`]: the chat channel's JSON messages (versioned, with typed decode errors). Pure.
//! - [`conversation`]: [`Chats`], every conversation's messages, queue, acknowledgements, unread counts
//!   and transfers. Pure.
//! - [`transfer`]: the transfer state machine, the sender's chunk plan and the receiver's reassembly, both
//!   hashing with SHA-256 as bytes go by; the flow-control numbers. Pure.
//! - [`meter`]: throughput and the progress throttle. Pure.
//! - [`attention`]: a hidden tab's unread count in the title and the notifications of new messages and
//!   file offers: what arrived, the title, the words, when to notify. Pure.
//! - [`notify`]: [`use_tab_attention`](notify::use_tab_attention), which carries that out (visibility,
//!   `document.title`, `Notification`; permission asked only from a click). Browser glue.
//! - [`session`]: [`use_chat`](session::use_chat), the chat runtime on the shared mesh runtime
//!   (`crate::mesh`): a negotiated chat channel per user and a task per file transfer with flow control
//!   and hashing, all shown through one reactive [`Chats`]. Browser glue.
//!
//! The pure modules import neither `web_sys` nor Leptos and are tested with `cargo test -p peerlab --lib`;
//! the glue is tested in headless Chromium by `tests/browser_chat.rs`. Chat text and file bytes travel
//! only over data channels, never through the relay.

pub mod attention;
pub mod conversation;
pub mod meter;
pub mod transfer;
pub mod wire;

pub mod notify;
pub mod session;

pub use conversation::{Chats, Conversation, Item, Message, MessageStatus};
pub use notify::{use_tab_attention, TabAlerts};
pub use session::{use_chat, ChatSession};
pub use transfer::{Direction, Transfer, TransferState};
pub use wire::{Wire, WireError};
