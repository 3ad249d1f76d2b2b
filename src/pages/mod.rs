//! The app's pages, one file and one `#[component]` each, matched by the routes in `App`.
//!
//! Pages compose components and read state; they deliberately never touch `WebSocket` or
//! `RtcPeerConnection` directly (that is `signaling` and `rtc`).

pub mod chat;
pub mod home;
pub mod learn;
pub mod loopback;
pub mod media;
pub mod network;
pub mod not_found;
pub mod room;
pub mod turn_help;

pub use chat::ChatPage;
pub use home::HomePage;
pub use learn::{LearnChapterPage, LearnPage};
pub use loopback::LoopbackPage;
pub use media::MediaPage;
pub use network::NetworkPage;
pub use not_found::NotFoundPage;
pub use room::RoomPage;
pub use turn_help::TurnHelpPage;
