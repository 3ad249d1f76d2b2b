//! The room as a page shows it: connection state, this client's id and name, the other members, the last
//! problem and a short activity log, built by folding [`SignalingEvent`]s.
//!
//! It is plain data with no `web_sys`, no Leptos and no clock, so the chat and room pages share it through
//! [`super::hook`] and it is tested natively. It deliberately does not track WebRTC connections; those
//! belong to `src/rtc` in a later issue.

use peerlab_protocol::{ErrorCode, LeaveReason, Member, PeerId, RoomLimits};

use super::session::SignalingEvent;
use crate::error::{relay_error_headline, AppError};

/// How many activity lines are kept; older ones scroll away.
pub const ACTIVITY_LINES: usize = 20;

/// The connection as a person would describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not connected and not trying.
    Idle,
    /// Opening the socket to the relay.
    Connecting,
    /// Connected; waiting for the relay to accept the join.
    Joining,
    /// In the room.
    Joined,
    /// The relay refused the join (for example, the room is full).
    Refused,
    /// The connection ended.
    Closed { code: u16, reason: String },
    /// The connection dropped (or, with `joined_before` false, a join could not reach the relay); the next
    /// attempt starts after `delay_ms`. Peer-to-peer connections keep working meanwhile, and the member
    /// list shown is the last one known.
    Reconnecting {
        attempt: u32,
        delay_ms: u32,
        joined_before: bool,
    },
}

impl ConnectionState {
    /// A short label for the status line and the relay indicator.
    pub fn label(&self) -> String {
        match self {
            ConnectionState::Idle => "not connected".into(),
            ConnectionState::Connecting => "connecting to the relay…".into(),
            ConnectionState::Joining => "joining the room…".into(),
            ConnectionState::Joined => "connected".into(),
            ConnectionState::Refused => "refused by the relay".into(),
            ConnectionState::Closed { code, reason } if reason.is_empty() => {
                format!("disconnected (code {code})")
            }
            ConnectionState::Closed { code, reason } => {
                format!("disconnected (code {code}: {reason})")
            }
            ConnectionState::Reconnecting {
                attempt,
                delay_ms,
                joined_before,
            } => {
                let what = if *joined_before {
                    "connection lost — reconnecting"
                } else {
                    "the relay cannot be reached — trying again"
                };
                format!(
                    "{what} in {:.1} s (attempt {attempt})…",
                    f64::from(*delay_ms) / 1000.0
                )
            }
        }
    }

    /// Whether this state only passes on the way to another (opening the socket, waiting for the
    /// welcome): displays show it once it lasts (`components::settled`).
    pub fn is_passing(&self) -> bool {
        matches!(self, ConnectionState::Connecting | ConnectionState::Joining)
    }

    /// A stable token for `data-state` attributes, which tests and styles select on.
    pub fn token(&self) -> &'static str {
        match self {
            ConnectionState::Idle => "idle",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Joining => "joining",
            ConnectionState::Joined => "joined",
            ConnectionState::Refused => "refused",
            ConnectionState::Closed { .. } => "closed",
            ConnectionState::Reconnecting { .. } => "reconnecting",
        }
    }
}

/// A problem to show above the member list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The relay's error code, when the relay sent it; `None` for problems found on this side.
    pub code: Option<ErrorCode>,
    /// The line a person reads first.
    pub headline: String,
    /// The sentence that says what to do.
    pub detail: String,
}

impl Problem {
    pub fn local(error: &AppError) -> Self {
        let headline = match error {
            AppError::OriginRefused { .. } => "The relay refused this page",
            _ => "Something went wrong",
        };
        Problem {
            code: None,
            headline: headline.into(),
            detail: error.to_string(),
        }
    }
}

/// One room's state as built from the signaling events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roster {
    /// The room this roster is about, shown in headings before the relay confirms it.
    pub room: String,
    /// Drives the status line and which buttons are offered.
    pub state: ConnectionState,
    /// This client's id, shown so a person can match it with what others see.
    pub self_id: Option<PeerId>,
    /// This client's name as the relay knows it, updated on renames.
    pub self_name: Option<String>,
    /// The other members, oldest first.
    pub members: Vec<Member>,
    /// The room's limits from the welcome, so the page can say how many fit.
    pub limits: Option<RoomLimits>,
    /// The last problem; cleared when a new connection starts.
    pub problem: Option<Problem>,
    /// Recent joins, leaves and renames, newest last, so a person sees what changed.
    pub activity: Vec<String>,
}

impl Roster {
    pub fn new(room: impl Into<String>) -> Self {
        Roster {
            room: room.into(),
            state: ConnectionState::Idle,
            self_id: None,
            self_name: None,
            members: Vec::new(),
            limits: None,
            problem: None,
            activity: Vec::new(),
        }
    }

    /// A new connection attempt starts: forget the previous one but keep the activity log.
    pub fn start_connecting(&mut self) {
        let activity = std::mem::take(&mut self.activity);
        *self = Roster {
            state: ConnectionState::Connecting,
            activity,
            ..Roster::new(std::mem::take(&mut self.room))
        };
    }

    /// The connection was given up on purpose by this side.
    pub fn disconnect(&mut self) {
        self.state = ConnectionState::Idle;
        self.members.clear();
        self.self_id = None;
    }

    /// Whether the relay has not answered this join at all: no welcome since the person asked, and no
    /// frame on the attempt that just ended. Its socket either never opened (the state is still
    /// `Connecting`, or `Reconnecting` from the attempt before) or opened and closed with nothing said
    /// (`Joining`), which is how a refused handshake looks behind a proxy that accepts the browser's
    /// WebSocket before it asks the relay (`trunk serve`'s). Read after an attempt ends and before
    /// [`Roster::reconnecting`].
    pub fn relay_never_answered(&self) -> bool {
        self.self_id.is_none()
            && matches!(
                self.state,
                ConnectionState::Connecting
                    | ConnectionState::Reconnecting { .. }
                    | ConnectionState::Joining
            )
    }

    /// The connection dropped and another attempt is scheduled. The members stay listed (greyed by the
    /// page) until the relay's next welcome replaces them: the people are most likely still there, and
    /// peer-to-peer connections to them keep working. A join that has not reached the relay yet (no
    /// welcome since the person asked) keeps trying the same way, and says that it is the relay that
    /// cannot be reached rather than a connection that was lost.
    pub fn reconnecting(&mut self, attempt: u32, delay_ms: u32, code: u16) {
        // The peer id outlives a drop (the resume asks for it back) and is forgotten by a fresh join.
        let joined_before = self.self_id.is_some();
        if !matches!(self.state, ConnectionState::Reconnecting { .. }) {
            self.log(if joined_before {
                format!("Lost the relay connection (code {code}); reconnecting")
            } else {
                format!("Could not reach the relay (code {code}); trying again")
            });
        }
        self.state = ConnectionState::Reconnecting {
            attempt,
            delay_ms,
            joined_before,
        };
    }

    /// A problem found before or outside the socket (bad name, bad configuration).
    pub fn fail(&mut self, error: &AppError) {
        if matches!(
            self.state,
            ConnectionState::Connecting | ConnectionState::Joining
        ) {
            self.state = ConnectionState::Idle;
        }
        self.problem = Some(Problem::local(error));
    }

    /// The display name of a member, or of this client.
    pub fn name_of(&self, id: &PeerId) -> Option<&str> {
        if self.self_id.as_ref() == Some(id) {
            return self.self_name.as_deref();
        }
        self.members
            .iter()
            .find(|m| &m.id == id)
            .map(|m| m.name.as_str())
    }

    pub fn apply(&mut self, event: &SignalingEvent) {
        match event {
            SignalingEvent::Connected => self.state = ConnectionState::Joining,
            SignalingEvent::Welcome(welcome) => {
                self.state = ConnectionState::Joined;
                self.room = welcome.room.clone();
                self.self_id = Some(welcome.peer_id.clone());
                self.self_name = Some(welcome.name.clone());
                self.members = welcome.members.clone();
                self.limits = Some(welcome.limits);
                self.problem = None;
                self.log(format!("You joined {} as {}", welcome.room, welcome.name));
            }
            SignalingEvent::MemberJoined(member) => {
                self.log(format!("{} joined", member.name));
                self.members.retain(|m| m.id != member.id);
                self.members.push(member.clone());
            }
            SignalingEvent::MemberLeft { id, reason } => {
                let name = self.name_of(id).unwrap_or("someone").to_owned();
                let how = match reason {
                    LeaveReason::Left => "left",
                    LeaveReason::Timeout => "timed out",
                    LeaveReason::Evicted => "was disconnected by the relay",
                };
                self.log(format!("{name} {how}"));
                self.members.retain(|m| &m.id != id);
            }
            SignalingEvent::MemberRenamed { id, name } => {
                let old = self.name_of(id).unwrap_or("someone").to_owned();
                if self.self_id.as_ref() == Some(id) {
                    self.self_name = Some(name.clone());
                    self.log(format!("You are now {name}"));
                } else {
                    if let Some(member) = self.members.iter_mut().find(|m| &m.id == id) {
                        member.name = name.clone();
                    }
                    self.log(format!("{old} is now {name}"));
                }
            }
            // Signals and fresh ICE servers are for the peer connections, not for the member list.
            SignalingEvent::Signal { .. } | SignalingEvent::IceServers(_) => {}
            SignalingEvent::Left { room } => {
                self.state = ConnectionState::Idle;
                self.members.clear();
                self.self_id = None;
                self.log(format!("You left {room}"));
            }
            SignalingEvent::Error { code, message } => {
                if matches!(
                    self.state,
                    ConnectionState::Connecting | ConnectionState::Joining
                ) {
                    self.state = ConnectionState::Refused;
                }
                self.problem = Some(Problem {
                    code: Some(*code),
                    headline: relay_error_headline(*code).into(),
                    detail: message.clone(),
                });
            }
            SignalingEvent::Failure(error) => self.problem = Some(Problem::local(error)),
            SignalingEvent::Closed { code, reason, .. } => {
                if self.state != ConnectionState::Refused {
                    self.state = ConnectionState::Closed {
                        code: *code,
                        reason: reason.clone(),
                    };
                }
                self.members.clear();
                self.self_id = None;
            }
        }
    }

    fn log(&mut self, line: String) {
        self.activity.push(line);
        if self.activity.len() > ACTIVITY_LINES {
            let excess = self.activity.len() - ACTIVITY_LINES;
            self.activity.drain(..excess);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signaling::session::tests::{member, welcome_frame};
    use crate::signaling::session::{Action, JoinRequest, Session};

    /// Feeds relay frames through a real session into a roster, as the browser glue does.
    fn roster_after(frames: &[&str]) -> Roster {
        let mut session = Session::new(JoinRequest {
            room: "lobby".into(),
            name: "Ada".into(),
            token: None,
            resume: None,
        });
        let mut roster = Roster::new("lobby");
        roster.start_connecting();
        let mut actions = session.on_open();
        for frame in frames {
            actions.extend(session.on_text(frame));
        }
        for action in actions {
            if let Action::Emit(event) = action {
                roster.apply(&event);
            }
        }
        roster
    }

    #[test]
    fn welcome_fills_the_member_list() {
        let welcome = welcome_frame("me", vec![member("p0", "Bob")], 20_000);
        let roster = roster_after(&[&welcome]);
        assert_eq!(roster.state, ConnectionState::Joined);
        assert_eq!(roster.self_id, Some(PeerId::from("me")));
        assert_eq!(roster.members, vec![member("p0", "Bob")]);
    }

    #[test]
    fn joins_leaves_and_renames_update_the_list_and_log() {
        let welcome = welcome_frame("me", vec![member("p0", "Bob")], 20_000);
        let roster = roster_after(&[
            &welcome,
            r#"{"type":"member_joined","member":{"id":"p2","name":"Cy"}}"#,
            r#"{"type":"member_renamed","id":"p0","name":"Rob"}"#,
            r#"{"type":"member_renamed","id":"me","name":"Ada L."}"#,
            r#"{"type":"member_left","id":"p2","reason":"left"}"#,
        ]);
        assert_eq!(roster.members, vec![member("p0", "Rob")]);
        assert_eq!(roster.self_name.as_deref(), Some("Ada L."));
        assert_eq!(
            roster.activity,
            vec![
                "You joined lobby as Ada",
                "Cy joined",
                "Bob is now Rob",
                "You are now Ada L.",
                "Cy left",
            ]
        );
    }

    #[test]
    fn room_full_is_a_refusal_with_a_clear_headline() {
        let roster = roster_after(&[
            r#"{"type":"error","code":"room_full","message":"This room holds at most 8 people."}"#,
        ]);
        assert_eq!(roster.state, ConnectionState::Refused);
        let problem = roster.problem.expect("a refusal is shown");
        assert_eq!(problem.code, Some(ErrorCode::RoomFull));
        assert_eq!(problem.headline, "The room is full");
        assert_eq!(problem.detail, "This room holds at most 8 people.");
    }

    #[test]
    fn close_after_refusal_keeps_the_refusal() {
        let mut roster = roster_after(&[r#"{"type":"error","code":"room_full","message":"full"}"#]);
        roster.apply(&SignalingEvent::Closed {
            code: 1000,
            reason: String::new(),
            clean: true,
        });
        assert_eq!(roster.state, ConnectionState::Refused);
    }

    #[test]
    fn activity_log_is_bounded() {
        let mut roster = Roster::new("lobby");
        for i in 0..(ACTIVITY_LINES + 5) {
            roster.apply(&SignalingEvent::MemberJoined(member(&format!("p{i}"), "X")));
        }
        assert_eq!(roster.activity.len(), ACTIVITY_LINES);
    }

    #[test]
    fn reconnecting_keeps_the_last_members_until_the_next_welcome() {
        let welcome = welcome_frame("p1", vec![member("p2", "Grace")], 20_000);
        let mut roster = roster_after(&[&welcome]);
        roster.reconnecting(1, 480, 1006);
        roster.reconnecting(2, 900, 1006);
        assert_eq!(roster.state.token(), "reconnecting");
        assert!(
            roster.state.label().contains("attempt 2"),
            "{}",
            roster.state.label()
        );
        assert_eq!(
            roster.members.len(),
            1,
            "the people are most likely still there"
        );
        let lost = roster
            .activity
            .iter()
            .filter(|l| l.contains("Lost the relay"))
            .count();
        assert_eq!(lost, 1, "one line per outage, not per attempt");
        roster.apply(&SignalingEvent::Connected);
        assert_eq!(roster.state, ConnectionState::Joining);
    }

    #[test]
    fn a_join_that_cannot_reach_the_relay_says_so_and_keeps_trying() {
        let mut roster = Roster::new("lobby");
        roster.start_connecting();
        roster.reconnecting(1, 450, 1006);
        roster.reconnecting(2, 800, 1006);
        assert_eq!(
            roster.state,
            ConnectionState::Reconnecting {
                attempt: 2,
                delay_ms: 800,
                joined_before: false
            }
        );
        let label = roster.state.label();
        assert!(label.contains("relay cannot be reached"), "{label}");
        assert!(
            label.contains("0.8 s") && label.contains("attempt 2"),
            "{label}"
        );
        assert!(!label.contains("lost"), "nothing was lost yet: {label}");
        let lines: Vec<_> = roster
            .activity
            .iter()
            .filter(|l| l.contains("relay"))
            .collect();
        assert_eq!(
            lines,
            ["Could not reach the relay (code 1006); trying again"]
        );

        // Once it gets in, a later drop is a lost connection again.
        let welcome = welcome_frame("p1", Vec::new(), 20_000);
        let mut session = Session::new(JoinRequest {
            room: "lobby".into(),
            name: "Ada".into(),
            token: None,
            resume: None,
        });
        session.on_open();
        for action in session.on_text(&welcome) {
            if let Action::Emit(event) = action {
                roster.apply(&event);
            }
        }
        assert_eq!(roster.state, ConnectionState::Joined);
        roster.reconnecting(1, 500, 1006);
        assert!(roster.state.label().contains("connection lost"));
    }

    #[test]
    fn a_join_has_not_heard_from_the_relay_until_a_welcome_or_a_refusal() {
        let mut roster = Roster::new("lobby");
        roster.start_connecting();
        assert!(
            roster.relay_never_answered(),
            "the first socket never opened"
        );
        roster.reconnecting(1, 450, 1006);
        assert!(roster.relay_never_answered(), "nor did the next");
        roster.apply(&SignalingEvent::Connected);
        assert!(
            roster.relay_never_answered(),
            "a socket that a proxy opened, with nothing from the relay on it"
        );

        // Welcomed, then lost: the relay did answer this join.
        let mut roster = roster_after(&[&welcome_frame("p1", Vec::new(), 20_000)]);
        roster.reconnecting(1, 500, 1006);
        assert!(!roster.relay_never_answered());

        // Refused in words: the relay answered, and its own sentence is shown.
        let full = r#"{"type":"error","code":"room_full","message":"The room is full."}"#;
        assert!(!roster_after(&[full]).relay_never_answered());
    }

    #[test]
    fn a_refused_origin_has_its_own_headline_and_names_the_flag() {
        let problem = Problem::local(&AppError::OriginRefused {
            relay: "ws://127.0.0.1:8080/ws".into(),
            origin: "http://127.0.0.1:8081".into(),
        });
        assert_eq!(problem.headline, "The relay refused this page");
        assert!(
            problem
                .detail
                .contains("--allowed-origin http://127.0.0.1:8081"),
            "{}",
            problem.detail
        );
        assert_eq!(
            Problem::local(&AppError::NotConnected).headline,
            "Something went wrong"
        );
    }
}
