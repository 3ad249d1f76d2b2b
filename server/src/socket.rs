//! One client connection: a single task that reads the client's messages, answers them, writes what other
//! members queued for it, pings it, and closes it when it goes quiet, falls behind, or the relay shuts down.
//!
//! The loop is generic over the socket (`Stream` + `Sink` of WebSocket messages), so it is the same code for a
//! real connection and for a test. It does not decide room rules; [`crate::rooms`] does.
//!
//! Per connection the relay holds one bounded queue. Messages for a member are serialized once and the same
//! bytes are queued for every recipient. A member whose queue is full when something is queued for it is
//! evicted (close code 4001) rather than letting the relay's memory grow.
//!
//! The loop also enforces the per-connection limits: a token-bucket rate limit on every incoming frame, by
//! count and size ([`crate::limits::RateLimiter`]; 4002 for a client far over it), a budget for joins and
//! renames, which every other member hears of ([`crate::limits::ChangeLimiter`]), a join timeout for
//! connections in no room (4003), and join tokens for protected rooms. When TURN credentials are issued it sends fresh ones
//! (`ice_servers`) before they expire.
//!
//! Reconnect with resume: every `welcome` carries a resume token. A connection that ends without a clean
//! close from the client (no close frame, a close code other than 1000/1001, a failed write, the keep-alive
//! timeout) leaves its member *away* for the grace period instead of announcing it (`crate::resume`); a
//! clean close, `leave`, eviction, the rate-limit close and shutdown announce the leave at once. A `join`
//! with a resume token takes the id back: from an away slot, from a live connection (which is closed with
//! 4004), or, after a relay restart, into the room afresh; anything else gets a fresh id.

use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use peerlab_protocol::{
    close_code, decode_client, encode_server, validate_name, validate_room, ClientMessage,
    ErrorCode, LeaveReason, Member, PeerId, ServerMessage, PROTOCOL_VERSION,
};
use tokio::time::{sleep_until, Instant};

use crate::cluster::Admission;
use crate::credentials::verify_join_token;
use crate::limits::{ChangeLimiter, RateLimiter, Verdict, JOIN_COST, RENAME_COST};
use crate::rooms::{At, JoinRefusal, Resumed};
use crate::transport::{CloseFrame, Commit, Message, Outbox, Push, Utf8Bytes};
use crate::AppState;

/// How other connections reach this one: its outgoing queue.
#[derive(Clone)]
pub struct ConnHandle(Arc<Outbox>);

impl std::fmt::Debug for ConnHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnHandle")
    }
}

/// Two handles are equal when they reach the same connection: how the registry tells whether a connection
/// still holds its member or a newer one took it over.
impl PartialEq for ConnHandle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl ConnHandle {
    /// Queues `frame` for this client without waiting. A full queue evicts the client; a closed one means the
    /// client is already going, and the frame is dropped with it.
    pub(crate) fn deliver(&self, frame: Utf8Bytes, state: &AppState) {
        if self.0.push(frame, &state.config.queue_limits()) == Push::Evicted {
            state.counters.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Delivers the signal `payload` from `from`: straight into the client's socket when its outbox allows
    /// it (then `corked` remembers the handle, whose bytes the caller writes before it waits for anything),
    /// queued otherwise.
    fn deliver_signal(
        &self,
        from: &PeerId,
        payload: &str,
        state: &AppState,
        corked: &mut Vec<ConnHandle>,
    ) {
        let committed = match signal_parts(from, payload) {
            Some(parts) => self.0.commit_text(&parts) == Commit::Committed,
            None => false,
        };
        if committed {
            if corked.last() != Some(self) {
                corked.push(self.clone());
            }
        } else {
            self.deliver(signal_frame(from, payload).into(), state);
        }
    }
}

/// The room membership of a connection that has joined.
struct Membership {
    room: String,
    id: PeerId,
    name: String,
}

/// Why the loop ended, which decides what the others are told.
#[derive(Debug, Clone, Copy)]
enum End {
    /// The client closed with 1000, 1001 or no code: it meant to go.
    Closed,
    /// The connection ended without a clean close: the member may come back (`crate::resume`).
    Dropped,
    Timeout,
    /// A newer connection took over this one's peer id: it leaves nothing behind.
    Replaced,
    Evicted,
    RateLimited,
    JoinTimeout,
    Shutdown,
}

/// The part of a connection that interprets messages: its membership and the shared state.
struct Session {
    state: Arc<AppState>,
    handle: ConnHandle,
    membership: Option<Membership>,
    /// When to send fresh TURN credentials; set while in a room on a relay that issues them.
    refresh_at: Option<Instant>,
    /// Connections this one committed signals to that are not written yet: written (by
    /// [`Session::flush_corked`]) once this connection has no more input to handle, and always before
    /// it waits for anything, so a burst to one member costs one write.
    corked: Vec<ConnHandle>,
    /// The budget for joins and renames, which every other member hears of (see [`ChangeLimiter`]).
    changes: ChangeLimiter,
}

/// The current Unix time in seconds, for token and credential expiry.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether a close frame from the client means it left on purpose.
fn is_clean_close(frame: Option<&CloseFrame>) -> bool {
    frame.is_none_or(|f| matches!(u16::from(f.code), 1000 | 1001))
}

/// What a join with a resume token found under the token's id on this relay.
enum TakeBack {
    /// The id was here (away or connected) and is now this connection's: the welcome.
    Done(ServerMessage),
    /// The id is in the room nowhere this relay knows of.
    Absent,
    /// Another node holds the id: a fresh id follows.
    Elsewhere,
}

/// The end of [`Session::enter`].
enum Entered {
    /// A welcome, or the refusal to send instead (`room_full`, `too_many_rooms`).
    Reply(ServerMessage),
    /// The requested id is already taken (only a resumed id can be): a fresh id follows.
    Taken,
}

fn frame(message: &ServerMessage) -> Utf8Bytes {
    Utf8Bytes::from(encode_server(message))
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

/// The text of a forwarded signal, in pieces, exactly as `encode_server` writes
/// `ServerMessage::Signal { from, payload }`; `None` when `from` would need escaping (a relay-assigned id
/// never does).
fn signal_parts<'a>(from: &'a PeerId, payload: &'a str) -> Option<[&'a str; 5]> {
    let id = from.as_str();
    if id.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        return None;
    }
    Some([
        r#"{"type":"signal","from":""#,
        id,
        r#"","payload":"#,
        payload,
        "}",
    ])
}

/// The text of a forwarded signal, as one string.
pub(crate) fn signal_frame(from: &PeerId, payload: &str) -> String {
    match signal_parts(from, payload) {
        Some(parts) => parts.concat(),
        None => encode_server(&ServerMessage::Signal {
            from: from.clone(),
            payload: peerlab_protocol::Payload::from_json(payload)
                .expect("a payload the relay accepted is one JSON value"),
        }),
    }
}

impl Session {
    /// Writes what this connection committed to other members' sockets (see `corked`).
    fn flush_corked(&mut self) {
        if self.corked.is_empty() {
            return;
        }
        for handle in std::mem::take(&mut self.corked) {
            handle.0.flush_unsent();
        }
    }

    fn error(&self, code: ErrorCode, message: impl Into<String>) -> ServerMessage {
        self.state.counters.error(code);
        let message = message.into();
        match &self.membership {
            Some(m) => tracing::debug!(room = %m.room, peer = %m.id, %code, %message, "refused"),
            None => tracing::debug!(%code, %message, "refused"),
        }
        ServerMessage::Error { code, message }
    }

    /// Handles one text frame it owns (see the connection loop) and returns the direct reply, if any.
    async fn on_frame(&mut self, text: Utf8Bytes) -> Option<ServerMessage> {
        self.on_text(text.as_str()).await
    }

    /// Handles one text frame and returns the direct reply, if any.
    async fn on_text(&mut self, text: &str) -> Option<ServerMessage> {
        let max = self.state.config.max_message_bytes as usize;
        if text.len() > max {
            return Some(self.error(
                ErrorCode::MessageTooLarge,
                format!(
                    "the message is {} bytes; the relay accepts at most {max}",
                    text.len()
                ),
            ));
        }
        // Signals, nearly all the traffic, are read through a borrowed view: the payload is copied once,
        // into the frame for the receiver.
        if let Some(view) = signal_view(text) {
            return self.relay_signal(&PeerId(view.to.into_owned()), view.payload.get());
        }
        let message = match decode_client(text) {
            Ok(message) => message,
            Err(err) => return Some(self.error(err.code(), err.to_string())),
        };
        match message {
            ClientMessage::Join {
                version,
                name,
                room,
                token,
                resume,
            } => {
                // A join may wait for Redis: what this connection committed elsewhere goes out first.
                self.flush_corked();
                // Boxed so the connection's long-lived future is not sized for a join's (Redis) state.
                Some(
                    Box::pin(self.join(version, &name, &room, token.as_deref(), resume.as_deref()))
                        .await,
                )
            }
            ClientMessage::Rename { name } => self.rename(&name),
            ClientMessage::Signal { to, payload } => self.relay_signal(&to, payload.as_json()),
            ClientMessage::Leave => match self.leave(LeaveReason::Left) {
                Some(room) => Some(ServerMessage::Left { room }),
                None => Some(self.not_joined()),
            },
            ClientMessage::Ping { nonce } => Some(ServerMessage::Pong { nonce }),
        }
    }

    /// Forwards `payload` (JSON text) to member `to` of this connection's room, stamped with this member's
    /// id; the direct reply is an error when `to` cannot be reached.
    fn relay_signal(&mut self, to: &PeerId, payload: &str) -> Option<ServerMessage> {
        let Some(m) = &self.membership else {
            return Some(self.not_joined());
        };
        let state = &self.state;
        let corked = &mut self.corked;
        let routed = state.rooms.with_room(&m.room, |rooms| {
            let target = rooms.route(&m.room, to)?;
            match target {
                At::Local(handle) => handle.deliver_signal(&m.id, payload, state, corked),
                At::Remote(node) => {
                    if let Some(cluster) = state.cluster.get() {
                        cluster.forward(&node, &m.room, to, &m.id, payload);
                    }
                }
                At::Away { until } => return Some(Err(until)),
            }
            Some(Ok(()))
        });
        match routed {
            Some(Ok(())) => {
                self.state
                    .counters
                    .signals_relayed
                    .fetch_add(1, Ordering::Relaxed);
                None
            }
            Some(Err(until)) => {
                let left = until.saturating_duration_since(std::time::Instant::now());
                let seconds = left.as_millis().div_ceil(1000);
                Some(self.error(
                    ErrorCode::PeerAway,
                    format!("peer {to}'s connection dropped; it may return within {seconds} seconds; retry later"),
                ))
            }
            None => {
                let room = m.room.clone();
                Some(self.error(
                    ErrorCode::PeerNotFound,
                    format!("peer {to} is not in room {room:?}; it may have left"),
                ))
            }
        }
    }

    /// Whether the loop is about to end by eviction, replacement or shutdown (its first `select!` arms
    /// handle those).
    fn ending(&self) -> bool {
        self.handle.0.is_interrupted() || self.state.shutdown.is_cancelled()
    }

    fn not_joined(&self) -> ServerMessage {
        self.error(
            ErrorCode::NotJoined,
            "join a room first: send {\"type\":\"join\",...}",
        )
    }

    async fn join(
        &mut self,
        version: u32,
        name: &str,
        room: &str,
        token: Option<&str>,
        resume: Option<&str>,
    ) -> ServerMessage {
        if let Some(m) = &self.membership {
            let room = m.room.clone();
            return self.error(
                ErrorCode::AlreadyJoined,
                format!("this connection is already in room {room:?}; send leave before joining another"),
            );
        }
        if version != PROTOCOL_VERSION {
            return self.error(
                ErrorCode::UnsupportedVersion,
                format!("this relay speaks protocol version {PROTOCOL_VERSION}, the app sent {version}; reload the page to get the current app"),
            );
        }
        let name = match validate_name(name) {
            Ok(name) => name,
            Err(err) => return self.error(ErrorCode::InvalidName, err.to_string()),
        };
        let room = match validate_room(room) {
            Ok(room) => room,
            Err(err) => return self.error(ErrorCode::InvalidRoom, err.to_string()),
        };
        if let Some(secret) = &self.state.config.join_secret {
            if let Err(err) = verify_join_token(secret.as_bytes(), &room, token, unix_now()) {
                return self.error(err.code(), err.to_string());
            }
        }
        // A join is always answered, so a refused one is too (not only the first of a run).
        if self.changes.check(std::time::Instant::now(), JOIN_COST) != Verdict::Allow {
            return self.changes_refused();
        }
        if let Some(claim) = resume.and_then(|token| self.state.resume.verify(&room, token)) {
            match self.take_back(&room, &name, &claim.id) {
                TakeBack::Done(welcome) => return welcome,
                TakeBack::Absent if self.state.resume.survives_restart(&claim) => {
                    match Box::pin(self.enter(&room, &name, claim.id, true)).await {
                        Entered::Reply(reply) => return reply,
                        Entered::Taken => {}
                    }
                }
                TakeBack::Absent | TakeBack::Elsewhere => {}
            }
        }
        if resume.is_some() {
            self.state
                .counters
                .resume_refused
                .fetch_add(1, Ordering::Relaxed);
        }
        loop {
            // A fresh id is 128 random bits, so `Taken` would take a collision; the loop only makes
            // uniqueness hold without relying on that.
            let id = PeerId(format!("{:032x}", rand::random::<u128>()));
            if let Entered::Reply(reply) = Box::pin(self.enter(&room, &name, id, false)).await {
                return reply;
            }
        }
    }

    /// Gives this connection the id `id` of `room` if this relay holds it: an away member comes back, a
    /// live one is taken over (its connection closed with 4004). Nobody hears of it except, when `name`
    /// changed, as `member_renamed`.
    fn take_back(&mut self, room: &str, name: &str, id: &PeerId) -> TakeBack {
        let state = self.state.clone();
        let renamed = frame(&ServerMessage::MemberRenamed {
            id: id.clone(),
            name: name.to_owned(),
        });
        let found = state.rooms.with_room(room, |rooms| {
            let found = rooms.resume(room, id, name, self.handle.clone());
            if let Resumed::Away {
                joined,
                renamed: true,
            }
            | Resumed::Replaced {
                joined,
                renamed: true,
                ..
            } = &found
            {
                for other in &joined.others {
                    other.deliver(renamed.clone(), &state);
                }
            }
            found
        });
        let (joined, was_renamed, how) = match found {
            Resumed::Away { joined, renamed } => {
                state.counters.resumed_away.fetch_add(1, Ordering::Relaxed);
                (joined, renamed, "away")
            }
            Resumed::Replaced {
                joined,
                old,
                renamed,
            } => {
                old.0.replace();
                state
                    .counters
                    .resumed_replaced
                    .fetch_add(1, Ordering::Relaxed);
                (joined, renamed, "replaced a live connection")
            }
            Resumed::Absent => return TakeBack::Absent,
            Resumed::Elsewhere => return TakeBack::Elsewhere,
        };
        if was_renamed {
            if let Some(cluster) = state.cluster.get() {
                cluster.renamed(room, id, name);
            }
        }
        tracing::info!(%room, peer = %id, how, "resumed");
        TakeBack::Done(self.welcome(room, name, id.clone(), joined.members, true))
    }

    /// Enters `room` as a new member with id `id` (fresh, or `resumed` from before a relay restart), tells
    /// the others, and returns the welcome.
    async fn enter(&mut self, room: &str, name: &str, id: PeerId, resumed: bool) -> Entered {
        let (room, name) = (room.to_owned(), name.to_owned());
        let state = self.state.clone();
        let config = &state.config;
        let cluster = state.cluster.get().filter(|c| c.is_up());
        // In a cluster Redis decides capacity; locally the mirror of remote members may lag behind.
        let local_cap = if cluster.is_some() {
            u32::MAX
        } else {
            config.max_peers
        };
        // The member enters the local registry first, unannounced, so that events from other nodes about
        // this room reach it from now on; it is announced once the cluster has admitted it.
        // In a cluster the member is reserved in the local registry first, unannounced, so that events
        // from other nodes about this room are mirrored from now on; it is announced once Redis admits it,
        // and a refusal leaves no trace. Without a cluster it joins at once.
        let entered = match cluster {
            Some(cluster) => state
                .rooms
                .reserve(
                    &room,
                    id.clone(),
                    name.clone(),
                    self.handle.clone(),
                    local_cap,
                    config.max_rooms,
                )
                .map(|()| Err(cluster)),
            None => state
                .rooms
                .join(
                    &room,
                    id.clone(),
                    name.clone(),
                    self.handle.clone(),
                    local_cap,
                    config.max_rooms,
                )
                .map(Ok),
        };
        let joined = match entered {
            Ok(joined) => joined,
            Err(JoinRefusal::Full { max_peers }) => {
                return Entered::Reply(self.room_full(&room, max_peers))
            }
            Err(JoinRefusal::TooManyRooms { max_rooms }) => {
                return Entered::Reply(self.error(
                    ErrorCode::TooManyRooms,
                    format!("this relay holds its maximum of {max_rooms} rooms; join an existing room or try again later"),
                ))
            }
            Err(JoinRefusal::IdTaken) => return Entered::Taken,
        };
        let joined = match joined {
            Ok(joined) => joined,
            Err(cluster) => {
                let admission = cluster
                    .admit(&room, &id, &name, config.max_peers, resumed)
                    .await;
                let confirmed = state.rooms.with_room(&room, |rooms| {
                    match admission {
                        Admission::Full => {
                            rooms.leave(&room, &id);
                            return Err(false);
                        }
                        Admission::Held => {
                            rooms.leave(&room, &id);
                            return Err(true);
                        }
                        Admission::Admitted(remote) => {
                            for (member, node) in remote {
                                if let Some(locals) = rooms.add_remote(&room, member.clone(), node)
                                {
                                    let announce = frame(&ServerMessage::MemberJoined { member });
                                    for local in &locals {
                                        local.deliver(announce.clone(), &state);
                                    }
                                }
                            }
                        }
                        // Redis did not answer: this node's view decides, under the room cap.
                        Admission::Unavailable => {
                            return rooms
                                .confirm_within(&room, &id, config.max_peers)
                                .map_err(|_| false);
                        }
                    }
                    rooms.confirm(&room, &id).ok_or(false)
                });
                match confirmed {
                    Ok(joined) => joined,
                    Err(true) => return Entered::Taken,
                    Err(false) => return Entered::Reply(self.room_full(&room, config.max_peers)),
                }
            }
        };
        let members = joined.members;
        let me = Member {
            id: id.clone(),
            name: name.clone(),
        };
        let announce = frame(&ServerMessage::MemberJoined { member: me.clone() });
        for other in &joined.others {
            other.deliver(announce.clone(), &state);
        }
        if let Some(cluster) = state.cluster.get() {
            cluster.joined(&room, &me);
        }
        tracing::info!(room = %room, peer = %id, members = members.len() + 1, resumed, "joined");
        if resumed {
            state
                .counters
                .resumed_restart
                .fetch_add(1, Ordering::Relaxed);
        }
        Entered::Reply(self.welcome(&room, &name, id, members, resumed))
    }

    /// Records the membership and builds its welcome, with a resume token computed now (not stored: the
    /// connection keeps no copy).
    fn welcome(
        &mut self,
        room: &str,
        name: &str,
        id: PeerId,
        members: Vec<peerlab_protocol::Member>,
        resumed: bool,
    ) -> ServerMessage {
        let config = &self.state.config;
        self.membership = Some(Membership {
            room: room.to_owned(),
            id: id.clone(),
            name: name.to_owned(),
        });
        let (ice_servers, expiry) = config.ice_servers_for(id.as_str(), unix_now());
        self.refresh_at = expiry.map(|_| Instant::now() + config.turn_refresh_after());
        ServerMessage::Welcome {
            version: PROTOCOL_VERSION,
            resume: Some(self.state.resume.mint(room, &id)),
            peer_id: id,
            room: room.to_owned(),
            name: name.to_owned(),
            members,
            ice_servers,
            limits: config.limits(),
            keepalive: config.keepalive(),
            resumed,
        }
    }

    fn changes_refused(&self) -> ServerMessage {
        self.error(
            ErrorCode::RateLimited,
            format!(
                "renames and joins: at most {} at once and one a second after; this one was dropped",
                crate::limits::ROOM_CHANGE_BURST
            ),
        )
    }

    fn room_full(&self, room: &str, max_peers: u32) -> ServerMessage {
        self.error(
            ErrorCode::RoomFull,
            format!("room {room:?} is full ({max_peers} of {max_peers} members); try again later or choose another room"),
        )
    }

    fn rename(&mut self, name: &str) -> Option<ServerMessage> {
        if self.membership.is_none() {
            return Some(self.not_joined());
        }
        let name = match validate_name(name) {
            Ok(name) => name,
            Err(err) => return Some(self.error(ErrorCode::InvalidName, err.to_string())),
        };
        match self.changes.check(std::time::Instant::now(), RENAME_COST) {
            Verdict::Allow => {}
            Verdict::Refuse => return Some(self.changes_refused()),
            Verdict::Drop | Verdict::Close => return None,
        }
        let m = self.membership.as_mut()?;
        m.name = name.clone();
        let renamed = frame(&ServerMessage::MemberRenamed {
            id: m.id.clone(),
            name,
        });
        let state = &self.state;
        let held = state.rooms.with_room(&m.room, |rooms| {
            let members = rooms.rename_held(&m.room, &m.id, &self.handle, m.name.clone())?;
            for member in members {
                member.deliver(renamed.clone(), state);
            }
            Some(())
        });
        // A connection that was just replaced no longer speaks for its id.
        if let (Some(()), Some(cluster)) = (held, state.cluster.get()) {
            cluster.renamed(&m.room, &m.id, &m.name);
        }
        None
    }

    /// Leaves the room, telling the others why. Returns the room left, or `None` when not in one.
    fn leave(&mut self, reason: LeaveReason) -> Option<String> {
        let m = self.membership.take()?;
        self.refresh_at = None;
        let left = frame(&ServerMessage::MemberLeft {
            id: m.id.clone(),
            reason,
        });
        let state = &self.state;
        let held = state.rooms.with_room(&m.room, |rooms| {
            let others = rooms.release(&m.room, &m.id, &self.handle)?;
            for other in others {
                other.deliver(left.clone(), state);
            }
            Some(())
        });
        // A replaced connection leaves nothing: the member is the newer connection's now.
        if held.is_some() {
            if let Some(cluster) = state.cluster.get() {
                cluster.left(&m.room, &m.id, reason);
            }
            tracing::info!(room = %m.room, peer = %m.id, name = %m.name, ?reason, "left");
        }
        Some(m.room)
    }

    /// Keeps the member in its room as away for the grace period (see `crate::resume`), telling nobody;
    /// `reason` is what the others hear if it does not come back. Leaves at once when there is no grace
    /// or the relay is shutting down.
    fn go_away(&mut self, reason: LeaveReason) {
        let state = self.state.clone();
        let grace = state.resume.grace();
        if grace.is_zero() || state.shutdown.is_cancelled() {
            self.leave(reason);
            return;
        }
        let Some(m) = &self.membership else {
            return;
        };
        // An away member alone in its room keeps the room open for nobody but itself, so connection
        // churn (join a new room, drop, repeat) could fill `--max-rooms` with such rooms for the length of
        // the grace. While the relay holds half its cap or more (this room counted), a member with nobody
        // connected in its room therefore leaves at once: such rooms stay under half the cap, and the
        // member loses nothing (it rejoins with a fresh id and finds the room as empty as it left it).
        let crowded = state.rooms.room_count() * 2 >= state.config.max_rooms as usize;
        if crowded
            && !state
                .rooms
                .with_room(&m.room, |rooms| rooms.has_live_other(&m.room, &m.id))
        {
            self.leave(reason);
            return;
        }
        let Some(m) = self.membership.take() else {
            return;
        };
        self.refresh_at = None;
        let until = std::time::Instant::now() + grace;
        let away = state.rooms.with_room(&m.room, |rooms| {
            rooms.set_away(&m.room, &m.id, &self.handle, until)
        });
        if away {
            state.counters.went_away.fetch_add(1, Ordering::Relaxed);
            tracing::info!(room = %m.room, peer = %m.id, ?reason, grace_ms = grace.as_millis() as u64, "away");
            crate::resume::schedule(&state, m.room, m.id, until, reason);
        }
    }

    /// Fresh ICE servers for this member, and when to send the next ones.
    fn refreshed_ice_servers(&mut self) -> Option<ServerMessage> {
        let m = self.membership.as_ref()?;
        let config = &self.state.config;
        let (ice_servers, _) = config.ice_servers_for(m.id.as_str(), unix_now());
        self.refresh_at = Some(Instant::now() + config.turn_refresh_after());
        Some(ServerMessage::IceServers { ice_servers })
    }

    /// The earliest of the connection's deadlines besides keep-alive: a join timeout or a refresh.
    fn next_deadline(&self, join_deadline: Option<Instant>) -> Option<Instant> {
        match (join_deadline, self.refresh_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Every `.await` inside the connection loop that holds a large state (a write, a message's handling) is
/// boxed: the loop's future lives as long as the connection, and its size is the largest state it may be
/// in, so boxing keeps an idle connection small and costs one short-lived allocation per burst.
///
/// Writes `messages` in one flush, unless the connection is evicted or shut down first, or the client does
/// not take them within the keep-alive timeout. Returns `false` when the connection should end.
async fn write<S, E>(
    sink: &mut S,
    messages: impl IntoIterator<Item = Message>,
    session: &Session,
) -> bool
where
    S: Sink<Message, Error = E> + Unpin,
{
    let timeout = session.state.config.keepalive_timeout();
    let all = async {
        for message in messages {
            sink.feed(message).await?;
        }
        sink.flush().await
    };
    tokio::select! {
        sent = tokio::time::timeout(timeout, all) => matches!(sent, Ok(Ok(()))),
        _ = session.handle.0.interrupted() => false,
        _ = session.state.shutdown.cancelled() => false,
    }
}

/// How many frames one turn of a connection's loop handles before it looks at its other work.
const MAX_FRAMES_PER_TURN: usize = 32;

/// How long the relay tries to deliver a close frame. A client being closed for not reading would not take
/// it anyway, so this is short.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

async fn close<S, E>(sink: &mut S, outbox: &Outbox, code: u16, reason: &'static str)
where
    S: Sink<Message, Error = E> + Unpin,
{
    close_with_notice(sink, outbox, None, code, reason).await;
}

/// Sends `notice` (a typed error saying why) and then the close frame, within [`CLOSE_TIMEOUT`] together.
async fn close_with_notice<S, E>(
    sink: &mut S,
    outbox: &Outbox,
    notice: Option<ServerMessage>,
    code: u16,
    reason: &'static str,
) where
    S: Sink<Message, Error = E> + Unpin,
{
    // Nothing may follow the close frame.
    outbox.stop_direct();
    let frame = Message::Close(Some(CloseFrame {
        code: code.into(),
        reason: Utf8Bytes::from_static(reason),
    }));
    let all = async {
        if let Some(notice) = notice {
            sink.feed(Message::Text(self::frame(&notice))).await?;
        }
        sink.send(frame).await
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, all).await;
}

/// Runs one client connection to its end, then removes its member from the room.
pub async fn serve<S, E>(socket: S, state: Arc<AppState>, remote: SocketAddr)
where
    S: Stream<Item = Result<Message, E>> + Sink<Message, Error = E> + Unpin,
    E: Display,
{
    serve_with(socket, Arc::new(Outbox::default()), state, remote).await;
}

/// Like [`serve`], with the connection's outbox made by the caller: one that owns the client's TCP
/// socket ([`Outbox::with_wire`]), under a `socket` that reads and writes through it
/// ([`crate::transport::RelaySocket`]), lets other members write signals straight to the client.
pub async fn serve_with<S, E>(
    socket: S,
    outbox: Arc<Outbox>,
    state: Arc<AppState>,
    remote: SocketAddr,
) where
    S: Stream<Item = Result<Message, E>> + Sink<Message, Error = E> + Unpin,
    E: Display,
{
    state.counters.accepted.fetch_add(1, Ordering::Relaxed);
    // The socket is not split: reading and writing take turns in one loop, and a split would cost an
    // extra shared allocation per connection.
    let mut socket = socket;
    let mut session = Session {
        state: state.clone(),
        handle: ConnHandle(outbox.clone()),
        membership: None,
        refresh_at: None,
        corked: Vec::new(),
        changes: ChangeLimiter::new(std::time::Instant::now()),
    };
    let config = &state.config;
    let mut limiter = RateLimiter::new(
        config.rate_limit,
        config.rate_burst,
        Instant::now().into_std(),
    );
    // Set while the connection is in no room: it must join (again) by then.
    let mut join_deadline = Some(Instant::now() + config.join_timeout());
    // One timer serves both the keep-alive deadline and the ping schedule: it fires at whichever comes
    // first, and an incoming frame only moves `deadline`, never the timer.
    let timeout = state.config.keepalive_timeout();
    let period = state.config.ping_interval();
    let mut deadline = Instant::now() + timeout;
    let mut next_ping = Instant::now() + period;
    let wake = |session: &Session,
                join_deadline: Option<Instant>,
                next_ping: Instant,
                deadline: Instant| {
        let keepalive = next_ping.min(deadline);
        session
            .next_deadline(join_deadline)
            .map_or(keepalive, |other| other.min(keepalive))
    };
    let timer = sleep_until(wake(&session, join_deadline, next_ping, deadline));
    tokio::pin!(timer);
    tracing::debug!(%remote, "connected");

    // Polled in every turn of the loop but made once: a fresh `cancelled()` each turn registered and dropped
    // a waiter in the token's `Notify`, under its lock, for every message.
    let shutdown = state.shutdown.cancelled();
    tokio::pin!(shutdown);
    let end = 'conn: loop {
        tokio::select! {
            biased;
            () = &mut shutdown => {
                session.flush_corked();
                let notice = session.error(
                    ErrorCode::ShuttingDown,
                    "the relay is shutting down; reconnect, possibly to another relay",
                );
                Box::pin(close_with_notice(&mut socket, &outbox, Some(notice), close_code::GOING_AWAY, "relay shutting down; reconnect")).await;
                break 'conn End::Shutdown;
            }
            () = outbox.ready() => {
                session.flush_corked();
                if outbox.is_evicted() {
                    Box::pin(close(&mut socket, &outbox, close_code::SLOW_CONSUMER, "too many unread messages; reconnect")).await;
                    break 'conn End::Evicted;
                }
                if outbox.is_replaced() {
                    Box::pin(close(&mut socket, &outbox, close_code::REPLACED, "replaced by a newer connection")).await;
                    break 'conn End::Replaced;
                }
                let frames = outbox.take_for_write();
                if !Box::pin(write(&mut socket, frames.into_iter().map(Message::Text), &session)).await {
                    if session.ending() { continue 'conn; }
                    break 'conn End::Dropped;
                }
                if session.membership.is_some() {
                    outbox.allow_direct();
                }
            }
            () = &mut timer => {
                session.flush_corked();
                let now = Instant::now();
                if now >= deadline {
                    state.counters.closed_keepalive.fetch_add(1, Ordering::Relaxed);
                    Box::pin(close(&mut socket, &outbox, close_code::KEEPALIVE_TIMEOUT, "keep-alive timeout")).await;
                    break 'conn End::Timeout;
                }
                if join_deadline.is_some_and(|at| now >= at) {
                    state.counters.closed_join_timeout.fetch_add(1, Ordering::Relaxed);
                    Box::pin(close(&mut socket, &outbox, close_code::JOIN_TIMEOUT, "joined no room in time; reconnect to join")).await;
                    break 'conn End::JoinTimeout;
                }
                if session.refresh_at.is_some_and(|at| now >= at) {
                    // Serialized at once, so the message itself is not held across the write.
                    if let Some(fresh) = session.refreshed_ice_servers().map(|m| frame(&m)) {
                        if !Box::pin(write(&mut socket, [Message::Text(fresh)], &session)).await {
                            if session.ending() { continue 'conn; }
                            break 'conn End::Dropped;
                        }
                    }
                }
                if now >= next_ping {
                    next_ping = now + period;
                    if !Box::pin(write(&mut socket, [Message::Ping(Default::default())], &session)).await {
                        if session.ending() { continue 'conn; }
                        break 'conn End::Dropped;
                    }
                }
                timer.as_mut().reset(wake(&session, join_deadline, next_ping, deadline));
            }
            incoming = socket.next() => {
                // Every frame already read is handled in this turn (up to a bound, so the timer and the
                // outbox get their turn), and what it committed to other members is written once after.
                let mut incoming = incoming;
                let mut handled = 0;
                loop {
                    let now = Instant::now();
                    deadline = now + timeout;
                    // Every frame is charged, by count and by size: pings and pongs too, or a client
                    // could keep a core busy with empty ones (each also moves the keep-alive deadline).
                    let verdict = match &incoming {
                        Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                            state.counters.messages_received.fetch_add(1, Ordering::Relaxed);
                            limiter.charge(now.into_std(), message.len())
                        }
                        Some(Ok(message @ (Message::Ping(_) | Message::Pong(_)))) => {
                            limiter.charge(now.into_std(), message.len())
                        }
                        _ => Verdict::Allow,
                    };
                    let was_joined = session.membership.is_some();
                    let reply = match incoming {
                        None => break 'conn End::Dropped,
                        Some(Ok(Message::Close(frame))) if is_clean_close(frame.as_ref()) => break 'conn End::Closed,
                        Some(Ok(Message::Close(_))) => break 'conn End::Dropped,
                        Some(Err(err)) => {
                            tracing::debug!(%remote, %err, "connection error");
                            break 'conn End::Dropped;
                        }
                        Some(Ok(message)) => match verdict {
                            Verdict::Close => {
                                session.flush_corked();
                                state.counters.closed_rate_limited.fetch_add(1, Ordering::Relaxed);
                                Box::pin(close(&mut socket, &outbox, close_code::RATE_LIMITED, "far over the message rate limit")).await;
                                break 'conn End::RateLimited;
                            }
                            Verdict::Drop => None,
                            Verdict::Refuse => Some(session.error(
                                ErrorCode::RateLimited,
                                format!(
                                    "more than {} messages a second (bursts of {}); messages are dropped until you slow down",
                                    config.rate_limit, config.rate_burst
                                ),
                            )),
                            Verdict::Allow => match message {
                                // The frame moves into the boxed handler, so the loop's own state stays small.
                                Message::Text(text) => Box::pin(session.on_frame(text)).await,
                                Message::Binary(_) => Some(session.error(
                                    ErrorCode::BinaryNotSupported,
                                    "binary frames are not part of the protocol; send JSON text",
                                )),
                                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) | Message::Close(_) => None,
                            },
                        },
                    }
                    // Serialized at once, so the (large) message itself is not held across the write.
                    .map(|reply| frame(&reply));
                    if session.membership.is_some() != was_joined {
                        join_deadline = match session.membership {
                            Some(_) => None,
                            None => Some(now + config.join_timeout()),
                        };
                        timer.as_mut().reset(wake(&session, join_deadline, next_ping, deadline));
                    }
                    if let Some(reply) = reply {
                        session.flush_corked();
                        if !Box::pin(write(&mut socket, [Message::Text(reply)], &session)).await {
                            if session.ending() { continue 'conn; }
                            break 'conn End::Dropped;
                        }
                    }
                    // Signals may go straight to this client only once its welcome is out, and not after
                    // it left.
                    if session.membership.is_some() != was_joined {
                        if session.membership.is_some() {
                            outbox.allow_direct();
                        } else {
                            outbox.stop_direct();
                        }
                    }
                    handled += 1;
                    if handled == MAX_FRAMES_PER_TURN || session.ending() {
                        break;
                    }
                    match std::future::poll_fn(|cx| Poll::Ready(socket.poll_next_unpin(cx))).await {
                        Poll::Ready(next) => incoming = next,
                        Poll::Pending => break,
                    }
                }
                session.flush_corked();
                // A full turn means more input may be waiting already (frames parsed from one read
                // never make the task wait): the members this turn queued frames for get to write them
                // before this connection reads on, so one client's burst cannot fill their queues while
                // they wait for the thread.
                if handled == MAX_FRAMES_PER_TURN {
                    tokio::task::yield_now().await;
                }
            }
            // Last: once nothing else is ready, in particular no more input, what this connection
            // committed to other members' sockets is written.
            () = std::future::ready(()), if !session.corked.is_empty() => {
                session.flush_corked();
            }
        }
    };
    session.flush_corked();
    outbox.close();
    match end {
        End::Closed | End::Shutdown | End::JoinTimeout => {
            session.leave(LeaveReason::Left);
        }
        End::Dropped => session.go_away(LeaveReason::Left),
        End::Timeout => session.go_away(LeaveReason::Timeout),
        End::Evicted | End::RateLimited => {
            session.leave(LeaveReason::Evicted);
        }
        // The member is the newer connection's now.
        End::Replaced => session.membership = None,
    }
    tracing::debug!(%remote, ?end, "disconnected");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(from: &str, payload: &str) -> String {
        encode_server(&ServerMessage::Signal {
            from: PeerId(from.into()),
            payload: peerlab_protocol::Payload::from_json(payload).unwrap(),
        })
    }

    #[test]
    fn a_forwarded_signal_is_the_text_encode_server_writes() {
        for (from, payload) in [
            (
                "0123456789abcdef0123456789abcdef",
                r#"{"kind":"offer","sdp":"v=0\r\n"}"#,
            ),
            ("a", r#"[1, 2,  {"x" : "é\u00e9"}]"#),
            ("odd \"id\" with \\ and \n", r#""text""#),
        ] {
            let id = PeerId(from.into());
            assert_eq!(
                signal_frame(&id, payload),
                encoded(from, payload),
                "{from:?}"
            );
        }
        let plain = PeerId("abc".into());
        assert!(signal_parts(&plain, "1").is_some());
        assert!(signal_parts(&PeerId("a\"b".into()), "1").is_none());
    }

    #[test]
    fn only_signals_take_the_borrowed_path() {
        let view = signal_view(r#"{"type":"signal","to":"b","from":"forged","payload":{"n":1}}"#)
            .expect("a signal");
        assert_eq!(view.to, "b");
        assert_eq!(view.payload.get(), r#"{"n":1}"#);
        assert!(signal_view(r#"{"type":"ping","nonce":1}"#).is_none());
        assert!(signal_view(r#"{"type":"signal","payload":{}}"#).is_none());
        assert!(signal_view(r#"{"type":"signal","to":"b"}"#).is_none());
        assert!(signal_view(r#"{"type":"signal","to":"b","payload":{}"#).is_none());
    }
}
