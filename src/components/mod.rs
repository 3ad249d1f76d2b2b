//! Small views shared by several pages: the site header pieces and the room panel.
//!
//! Components here render state they are given or find in context; they deliberately own no browser
//! connections themselves (the room panel gets its connection from `signaling::use_relay_room`).

pub mod nav;
pub mod relay_indicator;
pub mod room_panel;

pub use nav::Nav;
pub use relay_indicator::RelayIndicator;
pub use room_panel::RoomPanel;
