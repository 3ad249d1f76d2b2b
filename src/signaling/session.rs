//! The signaling protocol as a sans-I/O state machine: socket happenings go in, [`Action`]s come out.
//!
//! It owns the join handshake, the keep-alive nonce and the decoding of relay frames into
//! [`SignalingEvent`]s. It deliberately does no I/O, holds no timer and imports no `web_sys`, so every
//! decision is tested natively; [`super::client`] carries the actions out in the browser.

use peerlab_protocol::{
    decode_server, ClientMessage, ErrorCode, IceServer, KeepAlive, LeaveReason, Member, Payload,
    PeerId, RoomLimits, ServerMessage, PROTOCOL_VERSION,
};

use crate::error::AppError;

/// What a client asks the relay for when its socket opens. Kept whole so a later reconnect can replay it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinRequest {
    /// The room to enter, already checked with `validate_room`.
    pub room: String,
    /// The display name, already checked with `validate_name`.
    pub name: String,
    /// The join token from the room link (`?token=...`), for a relay that protects its rooms.
    pub token: Option<String>,
    /// The `resume` token of the last welcome, sent when reconnecting so the relay gives back the same
    /// peer id. `None` for a first join.
    pub resume: Option<String>,
}

/// The relay's answer to a successful join, as the app uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct Welcome {
    /// The id the relay assigned to this connection; others address signals to it.
    pub peer_id: PeerId,
    /// The room as the relay validated it.
    pub room: String,
    /// The display name as the relay validated it (trimmed).
    pub name: String,
    /// The members already in the room, oldest first, without this client.
    pub members: Vec<Member>,
    /// The ICE servers to hand to `RTCPeerConnection`; empty means only same-network calls work.
    pub ice_servers: Vec<IceServer>,
    /// The room's limits, so the app can warn before the relay refuses.
    pub limits: RoomLimits,
    /// The relay's keep-alive timing, which sets how often this client pings.
    pub keepalive: KeepAlive,
    /// What to send as `join.resume` after a dropped connection to keep `peer_id`.
    pub resume: Option<String>,
    /// True when the relay gave back the id of the `resume` token sent with this join.
    pub resumed: bool,
}

/// What the signaling client reports to the app, in the order it happened.
#[derive(Clone, Debug, PartialEq)]
pub enum SignalingEvent {
    /// The socket opened and the `join` was sent.
    Connected,
    /// The relay accepted the join.
    Welcome(Welcome),
    /// Someone entered the room.
    MemberJoined(Member),
    /// Someone left the room.
    MemberLeft { id: PeerId, reason: LeaveReason },
    /// Someone, possibly this client, changed their display name.
    MemberRenamed { id: PeerId, name: String },
    /// A signal from another member; `from` was stamped by the relay.
    Signal { from: PeerId, payload: Payload },
    /// The relay sent fresh ICE servers (TURN credentials about to expire); they replace those of the
    /// welcome, and a peer connection applies them with `setConfiguration`.
    IceServers(Vec<IceServer>),
    /// The relay confirmed a `leave`; the socket stays open.
    Left { room: String },
    /// The relay refused something, with a stable code and a sentence for a person.
    Error { code: ErrorCode, message: String },
    /// Something went wrong on this side: an undecodable frame or a failing socket.
    Failure(AppError),
    /// The socket closed; no more events follow.
    Closed {
        code: u16,
        reason: String,
        clean: bool,
    },
}

/// One thing the browser glue must do on the session's behalf.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Send this message as one text frame.
    Send(ClientMessage),
    /// Hand this event to the app.
    Emit(SignalingEvent),
    /// Call [`Session::on_keepalive_tick`] every `interval_ms` from now on.
    StartKeepalive { interval_ms: u32 },
    /// Stop calling [`Session::on_keepalive_tick`].
    StopKeepalive,
}

/// Where the connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The socket is being opened.
    Connecting,
    /// The `join` is sent and the answer has not arrived.
    Joining,
    /// In the room.
    Joined,
    /// Connected but in no room (refused, or after `leave`).
    Idle,
    /// The socket closed.
    Closed,
}

/// The shortest keep-alive interval the client honours, so a misconfigured relay cannot make it spin.
pub const MIN_KEEPALIVE_MS: u64 = 1_000;

/// The protocol state of one connection to the relay.
#[derive(Debug)]
pub struct Session {
    /// What to join on open; kept so a later reconnect can send it again.
    request: JoinRequest,
    /// Decides which messages are allowed now and whether the keep-alive runs.
    phase: Phase,
    /// The nonce of the next `ping`; increasing, so a pong can be matched to its ping in logs.
    next_nonce: u64,
}

impl Session {
    pub fn new(request: JoinRequest) -> Self {
        Session {
            request,
            phase: Phase::Connecting,
            next_nonce: 1,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn request(&self) -> &JoinRequest {
        &self.request
    }

    /// The socket opened: join the room.
    pub fn on_open(&mut self) -> Vec<Action> {
        if self.phase != Phase::Connecting {
            return Vec::new();
        }
        self.phase = Phase::Joining;
        vec![
            Action::Send(ClientMessage::Join {
                version: PROTOCOL_VERSION,
                name: self.request.name.clone(),
                room: self.request.room.clone(),
                token: self.request.token.clone(),
                resume: self.request.resume.clone(),
            }),
            Action::Emit(SignalingEvent::Connected),
        ]
    }

    /// A text frame arrived from the relay.
    pub fn on_text(&mut self, text: &str) -> Vec<Action> {
        if self.phase == Phase::Closed {
            return Vec::new();
        }
        let message = match decode_server(text) {
            Ok(message) => message,
            Err(err) => {
                return vec![Action::Emit(SignalingEvent::Failure(AppError::BadFrame(
                    err.to_string(),
                )))]
            }
        };
        let event = match message {
            ServerMessage::Welcome {
                version: _,
                peer_id,
                room,
                name,
                members,
                ice_servers,
                limits,
                keepalive,
                resume,
                resumed,
            } => {
                self.phase = Phase::Joined;
                let interval_ms = keepalive.interval_ms.max(MIN_KEEPALIVE_MS);
                let welcome = Welcome {
                    peer_id,
                    room,
                    name,
                    members,
                    ice_servers,
                    limits,
                    keepalive,
                    resume,
                    resumed,
                };
                return vec![
                    Action::Emit(SignalingEvent::Welcome(welcome)),
                    Action::StartKeepalive {
                        interval_ms: u32::try_from(interval_ms).unwrap_or(u32::MAX),
                    },
                ];
            }
            ServerMessage::Left { room } => {
                self.phase = Phase::Idle;
                return vec![
                    Action::StopKeepalive,
                    Action::Emit(SignalingEvent::Left { room }),
                ];
            }
            ServerMessage::Pong { .. } => return Vec::new(),
            ServerMessage::Error { code, message } => {
                if self.phase == Phase::Joining {
                    self.phase = Phase::Idle;
                }
                SignalingEvent::Error { code, message }
            }
            ServerMessage::MemberJoined { member } => SignalingEvent::MemberJoined(member),
            ServerMessage::MemberLeft { id, reason } => SignalingEvent::MemberLeft { id, reason },
            ServerMessage::MemberRenamed { id, name } => SignalingEvent::MemberRenamed { id, name },
            ServerMessage::Signal { from, payload } => SignalingEvent::Signal { from, payload },
            ServerMessage::IceServers { ice_servers } => SignalingEvent::IceServers(ice_servers),
        };
        vec![Action::Emit(event)]
    }

    /// A binary frame arrived; the protocol is JSON text only.
    pub fn on_binary(&mut self) -> Vec<Action> {
        vec![Action::Emit(SignalingEvent::Failure(AppError::BadFrame(
            "a binary frame".into(),
        )))]
    }

    /// The socket reported an error. A `close` always follows, which ends the session.
    pub fn on_socket_error(&mut self) -> Vec<Action> {
        if self.phase == Phase::Closed {
            return Vec::new();
        }
        vec![Action::Emit(SignalingEvent::Failure(AppError::Socket))]
    }

    /// The socket closed.
    pub fn on_close(&mut self, code: u16, reason: &str, clean: bool) -> Vec<Action> {
        if self.phase == Phase::Closed {
            return Vec::new();
        }
        self.phase = Phase::Closed;
        vec![
            Action::StopKeepalive,
            Action::Emit(SignalingEvent::Closed {
                code,
                reason: reason.to_owned(),
                clean,
            }),
        ]
    }

    /// The keep-alive interval elapsed: the ping to send, if the client is in a room.
    pub fn on_keepalive_tick(&mut self) -> Option<ClientMessage> {
        if self.phase != Phase::Joined {
            return None;
        }
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        Some(ClientMessage::Ping { nonce })
    }

    /// The message that sends `payload` to `to`, if the client is in a room.
    pub fn signal(&self, to: PeerId, payload: Payload) -> Result<ClientMessage, AppError> {
        self.require_joined()?;
        Ok(ClientMessage::Signal { to, payload })
    }

    /// The message that renames this client, if it is in a room.
    pub fn rename(&mut self, name: String) -> Result<ClientMessage, AppError> {
        self.require_joined()?;
        self.request.name = name.clone();
        Ok(ClientMessage::Rename { name })
    }

    /// The message that leaves the room, if the client is in one.
    pub fn leave(&self) -> Result<ClientMessage, AppError> {
        self.require_joined()?;
        Ok(ClientMessage::Leave)
    }

    fn require_joined(&self) -> Result<(), AppError> {
        if self.phase == Phase::Joined {
            Ok(())
        } else {
            Err(AppError::NotConnected)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use peerlab_protocol::encode_server;

    pub(crate) fn member(id: &str, name: &str) -> Member {
        Member {
            id: PeerId::from(id),
            name: name.into(),
        }
    }

    pub(crate) fn welcome_frame(peer_id: &str, members: Vec<Member>, interval_ms: u64) -> String {
        encode_server(&ServerMessage::Welcome {
            version: PROTOCOL_VERSION,
            peer_id: PeerId::from(peer_id),
            room: "lobby".into(),
            name: "Ada".into(),
            members,
            ice_servers: Vec::new(),
            limits: RoomLimits {
                max_peers: 8,
                max_message_bytes: 65_536,
            },
            keepalive: KeepAlive {
                interval_ms,
                timeout_ms: interval_ms * 3,
            },
            resume: Some(format!("resume-{peer_id}")),
            resumed: false,
        })
    }

    fn session() -> Session {
        Session::new(JoinRequest {
            room: "lobby".into(),
            name: "Ada".into(),
            token: None,
            resume: None,
        })
    }

    fn joined() -> Session {
        let mut s = session();
        s.on_open();
        s.on_text(&welcome_frame("p1", Vec::new(), 20_000));
        s
    }

    #[test]
    fn open_sends_join_with_protocol_version() {
        let mut s = session();
        let actions = s.on_open();
        assert_eq!(
            actions,
            vec![
                Action::Send(ClientMessage::Join {
                    version: PROTOCOL_VERSION,
                    name: "Ada".into(),
                    room: "lobby".into(),
                    token: None,
                    resume: None,
                }),
                Action::Emit(SignalingEvent::Connected),
            ]
        );
        assert_eq!(s.phase(), Phase::Joining);
        assert!(s.on_open().is_empty(), "a second open joins nothing");
    }

    #[test]
    fn welcome_starts_keepalive_at_the_relays_interval() {
        let mut s = session();
        s.on_open();
        let actions = s.on_text(&welcome_frame("p1", vec![member("p0", "Bob")], 15_000));
        assert!(matches!(
            &actions[0],
            Action::Emit(SignalingEvent::Welcome(w)) if w.peer_id == PeerId::from("p1") && w.members == vec![member("p0", "Bob")]
        ));
        assert_eq!(
            actions[1],
            Action::StartKeepalive {
                interval_ms: 15_000
            }
        );
        assert_eq!(s.phase(), Phase::Joined);
    }

    #[test]
    fn the_token_from_the_room_link_goes_into_the_join() {
        let mut s = Session::new(JoinRequest {
            room: "team".into(),
            name: "Ada".into(),
            token: Some("v1.1767225600.sig".into()),
            resume: None,
        });
        assert!(matches!(
            &s.on_open()[0],
            Action::Send(ClientMessage::Join { token: Some(t), room, .. }) if t == "v1.1767225600.sig" && room == "team"
        ));
    }

    #[test]
    fn refreshed_ice_servers_are_reported() {
        let mut s = joined();
        let actions = s.on_text(
            r#"{"type":"ice_servers","ice_servers":[{"urls":["turn:t:3478"],"username":"9:p1","credential":"c"}]}"#,
        );
        assert_eq!(
            actions,
            vec![Action::Emit(SignalingEvent::IceServers(vec![IceServer {
                urls: vec!["turn:t:3478".into()],
                username: Some("9:p1".into()),
                credential: Some("c".into()),
            }]))]
        );
    }

    #[test]
    fn keepalive_interval_has_a_floor() {
        let mut s = session();
        s.on_open();
        let actions = s.on_text(&welcome_frame("p1", Vec::new(), 0));
        assert_eq!(actions[1], Action::StartKeepalive { interval_ms: 1_000 });
    }

    #[test]
    fn pings_only_after_welcome_with_increasing_nonces() {
        let mut s = session();
        assert_eq!(s.on_keepalive_tick(), None);
        s.on_open();
        assert_eq!(s.on_keepalive_tick(), None);
        s.on_text(&welcome_frame("p1", Vec::new(), 20_000));
        assert_eq!(
            s.on_keepalive_tick(),
            Some(ClientMessage::Ping { nonce: 1 })
        );
        assert_eq!(
            s.on_keepalive_tick(),
            Some(ClientMessage::Ping { nonce: 2 })
        );
        assert!(s.on_text(r#"{"type":"pong","nonce":2}"#).is_empty());
    }

    #[test]
    fn relay_errors_are_typed_and_a_refused_join_goes_idle() {
        let mut s = session();
        s.on_open();
        let actions =
            s.on_text(r#"{"type":"error","code":"room_full","message":"The room holds 8."}"#);
        assert_eq!(
            actions,
            vec![Action::Emit(SignalingEvent::Error {
                code: ErrorCode::RoomFull,
                message: "The room holds 8.".into()
            })]
        );
        assert_eq!(s.phase(), Phase::Idle);
        assert_eq!(s.on_keepalive_tick(), None);
    }

    #[test]
    fn room_events_are_decoded() {
        let mut s = joined();
        assert_eq!(
            s.on_text(r#"{"type":"member_joined","member":{"id":"p2","name":"Bob"}}"#),
            vec![Action::Emit(SignalingEvent::MemberJoined(member(
                "p2", "Bob"
            )))]
        );
        assert_eq!(
            s.on_text(r#"{"type":"member_left","id":"p2","reason":"timeout"}"#),
            vec![Action::Emit(SignalingEvent::MemberLeft {
                id: PeerId::from("p2"),
                reason: LeaveReason::Timeout
            })]
        );
        let actions = s.on_text(r#"{"type":"signal","from":"p3","payload":{"sdp":"x"}}"#);
        match &actions[..] {
            [Action::Emit(SignalingEvent::Signal { from, payload })] => {
                assert_eq!(from, &PeerId::from("p3"));
                assert_eq!(payload.as_json(), r#"{"sdp":"x"}"#);
            }
            other => panic!("unexpected actions {other:?}"),
        }
    }

    #[test]
    fn undecodable_frames_are_reported_not_fatal() {
        let mut s = joined();
        let actions = s.on_text("{nope");
        assert!(matches!(
            &actions[..],
            [Action::Emit(SignalingEvent::Failure(AppError::BadFrame(_)))]
        ));
        assert_eq!(s.phase(), Phase::Joined);
    }

    #[test]
    fn close_stops_keepalive_once() {
        let mut s = joined();
        assert_eq!(
            s.on_close(1006, "", false),
            vec![
                Action::StopKeepalive,
                Action::Emit(SignalingEvent::Closed {
                    code: 1006,
                    reason: String::new(),
                    clean: false
                })
            ]
        );
        assert!(s.on_close(1006, "", false).is_empty());
        assert!(s.on_text(r#"{"type":"pong","nonce":1}"#).is_empty());
        assert_eq!(s.on_keepalive_tick(), None);
    }

    #[test]
    fn room_messages_need_a_joined_session() {
        let mut s = session();
        assert_eq!(s.leave(), Err(AppError::NotConnected));
        assert_eq!(s.rename("Bo".into()), Err(AppError::NotConnected));
        let mut s = joined();
        assert_eq!(
            s.rename("Bo".into()),
            Ok(ClientMessage::Rename { name: "Bo".into() })
        );
        assert_eq!(
            s.request().name,
            "Bo",
            "a reconnect would join under the new name"
        );
        assert_eq!(s.leave(), Ok(ClientMessage::Leave));
        assert_eq!(
            s.on_text(r#"{"type":"left","room":"lobby"}"#),
            vec![
                Action::StopKeepalive,
                Action::Emit(SignalingEvent::Left {
                    room: "lobby".into()
                })
            ]
        );
    }
}
