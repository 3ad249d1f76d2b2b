//! One client's session as a state machine: what a connection's frames, timers and end mean for the
//! relay, without the connection itself.
//!
//! A [`Session`] takes one input at a time (a frame from the client, the cluster's answer to a join, a
//! timer, the end of the connection) together with an [`Env`] (the relay's settings, its membership, the
//! time now) and returns what the connection must do: an [`Output`] (reply to this client, deliver a signal
//! to another member, forward it to another node, ask the cluster to admit a join, close with a code) or a
//! [`Due`] of its timers. It owns the protocol rules of one connection: join (validation, join tokens,
//! resume tokens, capacity), rename and its budget, leave, signals and where they go, the rate limit, the
//! join and keep-alive deadlines, the TURN credential refresh, and what the others hear when the
//! connection ends.
//!
//! It does no I/O and reads no clock: time comes in with every input, so every protocol case is a table
//! test below, in the style of `crate::rooms`. Room changes go through [`crate::membership`], which reaches
//! other connections through a trait; `crate::conn` is the async loop that feeds a session and carries
//! out its outputs.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use peerlab_protocol::{
    close_code, decode_client, validate_name, validate_room, ClientMessage, ErrorCode, LeaveReason,
    Member, PeerId, ServerMessage, PROTOCOL_VERSION,
};

use crate::config::Config;
use crate::credentials::verify_join_token;
use crate::limits::{ChangeLimiter, RateLimiter, Verdict, JOIN_COST, RENAME_COST};
use crate::membership::{Admission, Members, Recipient, Reclaimed, Refusal};
use crate::resume::Resume;
use crate::rooms::{At, NodeId};

/// What a session reads of the relay for one input.
pub struct Env<'a, H: Recipient> {
    /// The relay's settings.
    pub config: &'a Config,
    /// Who is in which room, and the one way to change it.
    pub members: Members<'a, H>,
    /// The resume-token key and the grace of dropped members.
    pub resume: &'a Resume,
    /// Whether the relay is in a cluster whose Redis answers: a join then waits for the cluster to admit it.
    pub clustered: bool,
    /// Whether the relay is shutting down: a dropped member then leaves at once.
    pub shutting_down: bool,
    /// Now, for deadlines and budgets.
    pub now: Instant,
    /// Now as Unix time in milliseconds, for tokens and credentials.
    pub unix_ms: u64,
    /// Makes a fresh peer id: [`random_id`] in the relay, counted in tests.
    pub fresh_id: fn() -> PeerId,
}

/// One frame from the client, as far as the session cares.
#[derive(Debug, Clone, Copy)]
pub enum Frame<'t> {
    /// A text frame: a protocol message.
    Text(&'t str),
    /// A binary frame of this many bytes: not part of the protocol.
    Binary(usize),
    /// A ping or pong of this many bytes: charged to the rate limit and proof of life, nothing else.
    Control(usize),
}

/// What the connection must do after an input.
#[derive(Debug)]
pub enum Output<'t, H> {
    /// Nothing.
    None,
    /// Send this message to the client.
    Reply(ServerMessage),
    /// Deliver the signal `payload` (JSON text, from the input frame) from this member to a member on this
    /// relay.
    Signal { to: H, payload: &'t str },
    /// Forward the signal `payload` from this member to member `to` of its room on node `node`.
    Forward {
        node: NodeId,
        to: PeerId,
        payload: &'t str,
    },
    /// Ask the cluster to admit this join, then hand it back with the answer to [`Session::admitted`]. The
    /// session keeps nothing of it meanwhile: the member is reserved in the room, and the join is here.
    Admit(Admit),
    /// Close the connection.
    Close(Close),
}

/// A join for the cluster to admit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admit {
    pub room: String,
    pub id: PeerId,
    pub name: String,
    /// The room's capacity on all nodes together.
    pub max_peers: u32,
    /// Whether the id comes from a resume token (another live node's holding of it then wins).
    pub resumed: bool,
    /// Whether the join came with a resume token at all (a refusal of its id is then counted).
    pub with_token: bool,
}

/// How the connection closes.
#[derive(Debug, Clone, PartialEq)]
pub struct Close {
    /// The close code (`peerlab_protocol::close_code`).
    pub code: u16,
    /// The close frame's reason, for people reading a trace.
    pub reason: &'static str,
    /// A typed error to send before the close frame.
    pub notice: Option<ServerMessage>,
    /// What to hand [`Session::finish`] once the close is sent.
    pub end: End,
}

/// What the timers ask for when they fire.
#[derive(Debug)]
pub enum Due {
    /// Close the connection.
    Close(Close),
    /// Send fresh ICE servers, a ping, both or neither.
    Send {
        ice_servers: Option<ServerMessage>,
        ping: bool,
    },
}

/// Why a connection ended, which decides what the others are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client closed with 1000, 1001 or no code: it meant to go.
    Closed,
    /// The connection ended without a clean close: the member may come back (`crate::resume`).
    Dropped,
    /// The client was silent past the keep-alive timeout: it may come back too.
    Timeout,
    /// A newer connection took over this one's peer id: it leaves nothing behind.
    Replaced,
    /// Its queue overflowed.
    Evicted,
    /// It sent far over the rate limit.
    RateLimited,
    /// It joined no room in time.
    JoinTimeout,
    /// The relay is shutting down.
    Shutdown,
}

impl End {
    /// Whether a close frame with `code` (`None`: no code) means the client left on purpose.
    pub fn of_close(code: Option<u16>) -> End {
        match code {
            None | Some(1000 | 1001) => End::Closed,
            Some(_) => End::Dropped,
        }
    }
}

/// A member kept away after its connection ended: the connection schedules the end of its grace
/// (`crate::resume::schedule`).
#[derive(Debug, PartialEq, Eq)]
pub struct Away {
    pub room: String,
    pub id: PeerId,
    pub until: Instant,
    pub reason: LeaveReason,
}

/// The room membership of a connection that has joined.
#[derive(Debug)]
struct Joined {
    room: String,
    id: PeerId,
    name: String,
}

/// The state of one client's session.
pub struct Session<H> {
    /// How other connections and the registry reach this one.
    handle: H,
    /// The room this connection is in, if any.
    joined: Option<Joined>,
    /// The rate limit on every incoming frame, by count and bytes.
    limiter: RateLimiter,
    /// The budget for joins and renames, which every other member hears of.
    changes: ChangeLimiter,
    /// When the client's silence ends the connection (keep-alive); moved by every frame.
    silent_at: Instant,
    /// When the next ping is due.
    next_ping: Instant,
    /// Set while in no room: the connection must join by then.
    join_by: Option<Instant>,
    /// When to send fresh TURN credentials; set while in a room on a relay that issues them.
    refresh_at: Option<Instant>,
}

/// A fresh peer id: 128 random bits as 32 hex digits.
pub fn random_id() -> PeerId {
    PeerId(format!("{:032x}", rand::random::<u128>()))
}

/// The fields of a client's `signal` that the relay needs, borrowed from the frame. The same view as
/// `peerlab_protocol::decode_client`'s, which decodes anything this does not accept (and reports errors).
#[derive(serde::Deserialize)]
struct SignalView<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    to: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    payload: &'a serde_json::value::RawValue,
}

fn signal_view(text: &str) -> Option<SignalView<'_>> {
    serde_json::from_str::<SignalView>(text)
        .ok()
        .filter(|v| v.kind == "signal")
}

impl<H: Recipient> Session<H> {
    /// A session for a connection that opened at `now`, reached through `handle`.
    pub fn new(handle: H, config: &Config, now: Instant) -> Self {
        Session {
            handle,
            joined: None,
            limiter: RateLimiter::new(config.rate_limit, config.rate_burst, now),
            changes: ChangeLimiter::new(now),
            silent_at: now + config.keepalive_timeout(),
            next_ping: now + config.ping_interval(),
            join_by: Some(now + config.join_timeout()),
            refresh_at: None,
        }
    }

    /// Whether the connection is in a room.
    pub fn is_joined(&self) -> bool {
        self.joined.is_some()
    }

    /// This member's id, once joined.
    pub fn peer_id(&self) -> Option<&PeerId> {
        self.joined.as_ref().map(|j| &j.id)
    }

    /// This member's room, once joined.
    pub fn room(&self) -> Option<&str> {
        self.joined.as_ref().map(|j| j.room.as_str())
    }

    /// When the session next needs [`Session::on_timer`].
    pub fn next_wake(&self) -> Instant {
        let mut at = self.next_ping.min(self.silent_at);
        for other in [self.join_by, self.refresh_at].into_iter().flatten() {
            at = at.min(other);
        }
        at
    }

    fn error(
        &self,
        env: &Env<'_, H>,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> ServerMessage {
        env.members.counters.error(code);
        let message = message.into();
        match &self.joined {
            Some(m) => tracing::debug!(room = %m.room, peer = %m.id, %code, %message, "refused"),
            None => tracing::debug!(%code, %message, "refused"),
        }
        ServerMessage::Error { code, message }
    }

    fn reply<'t>(
        &self,
        env: &Env<'_, H>,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Output<'t, H> {
        Output::Reply(self.error(env, code, message))
    }

    /// Handles one frame from the client: charges it to the rate limit, moves the keep-alive deadline,
    /// and answers it.
    pub fn on_frame<'t>(&mut self, frame: Frame<'t>, env: &Env<'_, H>) -> Output<'t, H> {
        let now = env.now;
        self.silent_at = now + env.config.keepalive_timeout();
        let counters = env.members.counters;
        // Every frame is charged, by count and by size: pings and pongs too, or a client could keep a core
        // busy with empty ones (each also moves the keep-alive deadline).
        let bytes = match frame {
            Frame::Text(text) => {
                counters.messages_received.fetch_add(1, Ordering::Relaxed);
                text.len()
            }
            Frame::Binary(bytes) => {
                counters.messages_received.fetch_add(1, Ordering::Relaxed);
                bytes
            }
            Frame::Control(bytes) => bytes,
        };
        match self.limiter.charge(now, bytes) {
            Verdict::Allow => {}
            Verdict::Drop => return Output::None,
            Verdict::Refuse => {
                let config = env.config;
                return self.reply(
                    env,
                    ErrorCode::RateLimited,
                    format!(
                        "more than {} messages a second (bursts of {}); messages are dropped until you slow down",
                        config.rate_limit, config.rate_burst
                    ),
                );
            }
            Verdict::Close => {
                counters.closed_rate_limited.fetch_add(1, Ordering::Relaxed);
                return Output::Close(Close {
                    code: close_code::RATE_LIMITED,
                    reason: "far over the message rate limit",
                    notice: None,
                    end: End::RateLimited,
                });
            }
        }
        match frame {
            Frame::Text(text) => self.on_text(text, env),
            Frame::Binary(_) => self.reply(
                env,
                ErrorCode::BinaryNotSupported,
                "binary frames are not part of the protocol; send JSON text",
            ),
            Frame::Control(_) => Output::None,
        }
    }

    fn on_text<'t>(&mut self, text: &'t str, env: &Env<'_, H>) -> Output<'t, H> {
        let max = env.config.max_message_bytes as usize;
        if text.len() > max {
            return self.reply(
                env,
                ErrorCode::MessageTooLarge,
                format!(
                    "the message is {} bytes; the relay accepts at most {max}",
                    text.len()
                ),
            );
        }
        // Signals, nearly all the traffic, are read through a borrowed view: the payload is copied once,
        // into the frame for the receiver.
        if let Some(view) = signal_view(text) {
            return self.signal(&PeerId(view.to.into_owned()), view.payload.get(), env);
        }
        let message = match decode_client(text) {
            Ok(message) => message,
            Err(err) => return self.reply(env, err.code(), err.to_string()),
        };
        match message {
            ClientMessage::Join {
                version,
                name,
                room,
                token,
                resume,
            } => self.join(
                version,
                &name,
                &room,
                token.as_deref(),
                resume.as_deref(),
                env,
            ),
            ClientMessage::Rename { name } => self.rename(&name, env),
            // Unreachable in practice: `decode_client` returns a signal only for a text with `type`, `to` and
            // `payload` of the same shapes the borrowed view above reads, and that view took every such text.
            ClientMessage::Signal { .. } => Output::None,
            ClientMessage::Leave => match self.leave(LeaveReason::Left, env) {
                Some(room) => Output::Reply(ServerMessage::Left { room }),
                None => Output::Reply(self.not_joined(env)),
            },
            ClientMessage::Ping { nonce } => Output::Reply(ServerMessage::Pong { nonce }),
        }
    }

    /// Routes the signal `payload` to member `to` of this connection's room, or says why it cannot.
    fn signal<'t>(&self, to: &PeerId, payload: &'t str, env: &Env<'_, H>) -> Output<'t, H> {
        let Some(m) = &self.joined else {
            return Output::Reply(self.not_joined(env));
        };
        let routed = env
            .members
            .rooms
            .with_room(&m.room, |rooms| rooms.route(&m.room, to));
        let output = match routed {
            Some(At::Local(to)) => Output::Signal { to, payload },
            Some(At::Remote(node)) => Output::Forward {
                node,
                to: to.clone(),
                payload,
            },
            Some(At::Away { until }) => {
                let seconds = until
                    .saturating_duration_since(env.now)
                    .as_millis()
                    .div_ceil(1000);
                return self.reply(
                    env,
                    ErrorCode::PeerAway,
                    format!("peer {to}'s connection dropped; it may return within {seconds} seconds; retry later"),
                );
            }
            None => {
                return self.reply(
                    env,
                    ErrorCode::PeerNotFound,
                    format!("peer {to} is not in room {:?}; it may have left", m.room),
                )
            }
        };
        env.members
            .counters
            .signals_relayed
            .fetch_add(1, Ordering::Relaxed);
        output
    }

    fn not_joined(&self, env: &Env<'_, H>) -> ServerMessage {
        self.error(
            env,
            ErrorCode::NotJoined,
            "join a room first: send {\"type\":\"join\",...}",
        )
    }

    fn join<'t>(
        &mut self,
        version: u32,
        name: &str,
        room: &str,
        token: Option<&str>,
        resume: Option<&str>,
        env: &Env<'_, H>,
    ) -> Output<'t, H> {
        if let Some(m) = &self.joined {
            return self.reply(
                env,
                ErrorCode::AlreadyJoined,
                format!(
                    "this connection is already in room {:?}; send leave before joining another",
                    m.room
                ),
            );
        }
        if version != PROTOCOL_VERSION {
            return self.reply(
                env,
                ErrorCode::UnsupportedVersion,
                format!("this relay speaks protocol version {PROTOCOL_VERSION}, the app sent {version}; reload the page to get the current app"),
            );
        }
        let mut name = match validate_name(name) {
            Ok(name) => name,
            Err(err) => return self.reply(env, ErrorCode::InvalidName, err.to_string()),
        };
        let room = match validate_room(room) {
            Ok(room) => room,
            Err(err) => return self.reply(env, ErrorCode::InvalidRoom, err.to_string()),
        };
        if let Some(secret) = &env.config.join_secret {
            if let Err(err) = verify_join_token(secret.as_bytes(), &room, token, env.unix_ms / 1000)
            {
                return self.reply(env, err.code(), err.to_string());
            }
        }
        // A join is always answered, so a refused one is too (not only the first of a run).
        if self.changes.check(env.now, JOIN_COST) != Verdict::Allow {
            return Output::Reply(self.changes_refused(env));
        }
        if let Some(claim) = resume.and_then(|token| env.resume.verify(&room, token)) {
            match env
                .members
                .reclaim(&room, &claim.id, &name, self.handle.clone())
            {
                Reclaimed::Done(members) => {
                    return Output::Reply(self.welcome(room, name, claim.id, members, true, env))
                }
                Reclaimed::Absent if env.resume.survives_restart(&claim, env.unix_ms) => {
                    let member = Member { id: claim.id, name };
                    match self.enter(room.clone(), member, true, true, env) {
                        Entered::Taken(member) => name = member.name,
                        Entered::Output(output) => return output,
                    }
                }
                Reclaimed::Absent | Reclaimed::Elsewhere => {}
            }
        }
        if resume.is_some() {
            env.members
                .counters
                .resume_refused
                .fetch_add(1, Ordering::Relaxed);
        }
        self.enter_fresh(room, name, resume.is_some(), env)
    }

    /// Enters `room` under a fresh id. A fresh id is 128 random bits, so `Taken` would take a collision;
    /// the loop only makes uniqueness hold without relying on that.
    fn enter_fresh<'t>(
        &mut self,
        room: String,
        name: String,
        with_token: bool,
        env: &Env<'_, H>,
    ) -> Output<'t, H> {
        let mut name = name;
        loop {
            let member = Member {
                id: (env.fresh_id)(),
                name,
            };
            match self.enter(room.clone(), member, false, with_token, env) {
                Entered::Output(output) => return output,
                Entered::Taken(member) => name = member.name,
            }
        }
    }

    /// Enters `room` as `member` (a fresh id, or one `resumed` from before a relay restart): at once on a
    /// single relay, or reserved until the cluster admits it.
    fn enter<'t>(
        &mut self,
        room: String,
        member: Member,
        resumed: bool,
        with_token: bool,
        env: &Env<'_, H>,
    ) -> Entered<'t, H> {
        let config = env.config;
        let entered = if env.clustered {
            env.members
                .reserve(&room, &member, self.handle.clone(), config.max_rooms)
                .map(|()| None)
        } else {
            env.members
                .join(
                    &room,
                    &member,
                    self.handle.clone(),
                    config.max_peers,
                    config.max_rooms,
                    resumed,
                )
                .map(Some)
        };
        match entered {
            Ok(Some(members)) => Entered::Output(Output::Reply(self.welcome(
                room,
                member.name,
                member.id,
                members,
                resumed,
                env,
            ))),
            Ok(None) => Entered::Output(Output::Admit(Admit {
                room,
                id: member.id,
                name: member.name,
                max_peers: config.max_peers,
                resumed,
                with_token,
            })),
            Err(Refusal::Taken) => Entered::Taken(member),
            Err(refusal) => Entered::Output(Output::Reply(self.refused(&room, refusal, env))),
        }
    }

    /// Settles `admit`, the join that waited for the cluster ([`Output::Admit`]), with the cluster's answer.
    pub fn admitted<'t>(
        &mut self,
        admit: Admit,
        admission: Admission,
        env: &Env<'_, H>,
    ) -> Output<'t, H> {
        let Admit {
            room,
            id,
            name,
            resumed,
            with_token,
            ..
        } = admit;
        let member = Member { id, name };
        match env
            .members
            .admitted(&room, &member, admission, env.config.max_peers, resumed)
        {
            Ok(members) => {
                Output::Reply(self.welcome(room, member.name, member.id, members, resumed, env))
            }
            Err(Refusal::Taken) => {
                // A resumed id another node holds: the join goes on with a fresh id, as a refused resume.
                if resumed && with_token {
                    env.members
                        .counters
                        .resume_refused
                        .fetch_add(1, Ordering::Relaxed);
                }
                self.enter_fresh(room, member.name, with_token, env)
            }
            Err(refusal) => Output::Reply(self.refused(&room, refusal, env)),
        }
    }

    fn refused(&self, room: &str, refusal: Refusal, env: &Env<'_, H>) -> ServerMessage {
        let max_peers = match refusal {
            Refusal::TooManyRooms { max_rooms } => {
                return self.error(
                    env,
                    ErrorCode::TooManyRooms,
                    format!("this relay holds its maximum of {max_rooms} rooms; join an existing room or try again later"),
                )
            }
            Refusal::Full { max_peers } => max_peers,
            // Settled before a refusal is answered (a fresh id follows); full is the nearest word.
            Refusal::Taken => env.config.max_peers,
        };
        self.error(
            env,
            ErrorCode::RoomFull,
            format!("room {room:?} is full ({max_peers} of {max_peers} members); try again later or choose another room"),
        )
    }

    /// Records the membership and builds its welcome, with a resume token made now (not stored: the
    /// session keeps no copy).
    fn welcome(
        &mut self,
        room: String,
        name: String,
        id: PeerId,
        members: Vec<Member>,
        resumed: bool,
        env: &Env<'_, H>,
    ) -> ServerMessage {
        let config = env.config;
        let (ice_servers, expiry) = config.ice_servers_for(id.as_str(), env.unix_ms / 1000);
        self.refresh_at = expiry.map(|_| env.now + config.turn_refresh_after());
        self.join_by = None;
        let welcome = ServerMessage::Welcome {
            version: PROTOCOL_VERSION,
            resume: Some(env.resume.mint(&room, &id, env.unix_ms)),
            peer_id: id.clone(),
            room: room.clone(),
            name: name.clone(),
            members,
            ice_servers,
            limits: config.limits(),
            keepalive: config.keepalive(),
            resumed,
        };
        self.joined = Some(Joined { room, id, name });
        welcome
    }

    fn changes_refused(&self, env: &Env<'_, H>) -> ServerMessage {
        self.error(
            env,
            ErrorCode::RateLimited,
            format!(
                "renames and joins: at most {} at once and one a second after; this one was dropped",
                crate::limits::ROOM_CHANGE_BURST
            ),
        )
    }

    fn rename<'t>(&mut self, name: &str, env: &Env<'_, H>) -> Output<'t, H> {
        if self.joined.is_none() {
            return Output::Reply(self.not_joined(env));
        }
        let name = match validate_name(name) {
            Ok(name) => name,
            Err(err) => return self.reply(env, ErrorCode::InvalidName, err.to_string()),
        };
        match self.changes.check(env.now, RENAME_COST) {
            Verdict::Allow => {}
            Verdict::Refuse => return Output::Reply(self.changes_refused(env)),
            Verdict::Drop | Verdict::Close => return Output::None,
        }
        let Some(m) = self.joined.as_mut() else {
            return Output::None;
        };
        m.name = name;
        env.members.rename(&m.room, &m.id, &self.handle, &m.name);
        Output::None
    }

    /// Leaves the room, telling the others `reason`. Returns the room left, or `None` when not in one.
    fn leave(&mut self, reason: LeaveReason, env: &Env<'_, H>) -> Option<String> {
        let m = self.joined.take()?;
        self.refresh_at = None;
        self.join_by = Some(env.now + env.config.join_timeout());
        env.members
            .leave(&m.room, &m.id, &m.name, &self.handle, reason);
        Some(m.room)
    }

    /// Handles the timers due at `env.now`: the keep-alive and join deadlines close the connection; the
    /// TURN refresh and the ping schedule send.
    pub fn on_timer(&mut self, env: &Env<'_, H>) -> Due {
        let now = env.now;
        let counters = env.members.counters;
        if now >= self.silent_at {
            counters.closed_keepalive.fetch_add(1, Ordering::Relaxed);
            return Due::Close(Close {
                code: close_code::KEEPALIVE_TIMEOUT,
                reason: "keep-alive timeout",
                notice: None,
                end: End::Timeout,
            });
        }
        if self.join_by.is_some_and(|at| now >= at) {
            counters.closed_join_timeout.fetch_add(1, Ordering::Relaxed);
            return Due::Close(Close {
                code: close_code::JOIN_TIMEOUT,
                reason: "joined no room in time; reconnect to join",
                notice: None,
                end: End::JoinTimeout,
            });
        }
        let mut ice_servers = None;
        if self.refresh_at.is_some_and(|at| now >= at) {
            if let Some(m) = &self.joined {
                let config = env.config;
                let (servers, _) = config.ice_servers_for(m.id.as_str(), env.unix_ms / 1000);
                self.refresh_at = Some(now + config.turn_refresh_after());
                ice_servers = Some(ServerMessage::IceServers {
                    ice_servers: servers,
                });
            }
        }
        let ping = now >= self.next_ping;
        if ping {
            self.next_ping = now + env.config.ping_interval();
        }
        Due::Send { ice_servers, ping }
    }

    /// The close for a relay that shuts down: a typed error that says to reconnect, then "going away".
    pub fn shutdown(&self, env: &Env<'_, H>) -> Close {
        Close {
            code: close_code::GOING_AWAY,
            reason: "relay shutting down; reconnect",
            notice: Some(self.error(
                env,
                ErrorCode::ShuttingDown,
                "the relay is shutting down; reconnect, possibly to another relay",
            )),
            end: End::Shutdown,
        }
    }

    /// Ends the session: the member leaves (a clean close, `leave`, eviction, the rate-limit close, the
    /// join timeout, shutdown), goes away for the resume grace (a dropped connection, the keep-alive
    /// timeout), or is left to the connection that replaced this one. Returns the away member whose
    /// grace the connection must schedule.
    pub fn finish(&mut self, end: End, env: &Env<'_, H>) -> Option<Away> {
        match end {
            End::Closed | End::Shutdown | End::JoinTimeout => {
                self.leave(LeaveReason::Left, env);
                None
            }
            End::Dropped => self.go_away(LeaveReason::Left, env),
            End::Timeout => self.go_away(LeaveReason::Timeout, env),
            End::Evicted | End::RateLimited => {
                self.leave(LeaveReason::Evicted, env);
                None
            }
            // The member is the newer connection's now.
            End::Replaced => {
                self.joined = None;
                None
            }
        }
    }

    /// Keeps the member in its room as away for the grace period, telling nobody; `reason` is what the
    /// others hear if it does not come back. Leaves at once when there is no grace or the relay is
    /// shutting down.
    fn go_away(&mut self, reason: LeaveReason, env: &Env<'_, H>) -> Option<Away> {
        let grace: Duration = env.resume.grace();
        if grace.is_zero() || env.shutting_down {
            self.leave(reason, env);
            return None;
        }
        let m = self.joined.take()?;
        self.refresh_at = None;
        let until = env.members.go_away(
            &m.room,
            &m.id,
            &m.name,
            &self.handle,
            reason,
            (env.now, grace),
            env.config.max_rooms,
        )?;
        Some(Away {
            room: m.room,
            id: m.id,
            until,
            reason,
        })
    }
}

/// The end of [`Session::enter`].
enum Entered<'t, H> {
    /// What the connection does next: a welcome, a refusal, or the cluster's admission to ask for.
    Output(Output<'t, H>),
    /// The requested id is already taken (only a resumed id can be): a fresh id follows.
    Taken(Member),
}

#[cfg(test)]
mod tests;
