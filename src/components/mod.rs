//! Small views shared by several pages: the site header pieces, the room panel and its rename form, a
//! video tile, a live chart, a relay log, the views of one peer connection (states, selected pair,
//! timeline, SDP) that the loopback and the inspectors share, the inspector, the notice of a camera or
//! microphone that stopped, the notifications switch, and the message of a connection that could not be
//! made.
//!
//! Components here render state they are given or find in context; they deliberately own no browser
//! connections themselves (the room panel renders the `RelayRoom` its page holds).

pub mod chart;
pub mod connection_problem;
pub mod connection_views;
pub mod device_notice;
pub mod inspector;
pub mod nav;
pub mod notify_toggle;
pub mod relay_indicator;
pub mod relay_log;
pub mod room_panel;
pub mod settled;
pub mod video;
pub mod video_tile;

pub use chart::LineChart;
pub use connection_problem::ConnectionProblemNote;
pub use connection_views::{SdpView, SelectedPairLine, StateTable, Timeline};
pub use device_notice::DeviceLossNotice;
pub use inspector::Inspector;
pub use nav::Nav;
pub use notify_toggle::NotifyToggle;
pub use relay_indicator::RelayIndicator;
pub use relay_log::RelayLog;
pub use room_panel::{ActivityLog, MemberList, RenameForm, RoomPanel};
pub use settled::use_settled;
pub use video::VideoView;
pub use video_tile::VideoTile;
