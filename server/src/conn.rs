//! One client connection: the only async loop of the relay's protocol. It reads the client's frames,
//! feeds them to the connection's [`Session`], and carries out what the session returns: replies and
//! closes written to the client, signals delivered to other members' outboxes, forwards and admissions
//! through the cluster, the timers, and the resume grace of a dropped member. It also writes what other
//! members queued for this client, and closes it when it falls behind, is replaced, or the relay shuts down.
//!
//! The loop is generic over the socket (`Stream` + `Sink` of WebSocket messages), so it is the same code for
//! a real connection and for a test. It decides no protocol rule; [`crate::session`] does, and room changes
//! go through [`crate::membership`].
//!
//! Per connection the relay holds one bounded queue, reached by others through a [`ConnHandle`]. Messages
//! for a member are serialized once and the same bytes are queued for every recipient. A member whose queue
//! is full when something is queued for it is evicted (close code 4001) rather than letting the relay's
//! memory grow. Signals may go straight into the receiver's socket (see `crate::transport::outbox`): they are
//! *corked* and written once this connection has no more input to handle, so a burst to one member costs
//! one write.

use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use peerlab_protocol::{encode_server, PeerId, ServerMessage};
use tokio::time::sleep_until;

use crate::membership::{Admission, Recipient};
use crate::session::{random_id, Admit, Close, Due, End, Env, Frame, Output, Session};
use crate::transport::{CloseFrame, Commit, Message, Outbox, Push, QueueLimits, Utf8Bytes};
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

impl Recipient for ConnHandle {
    /// A full queue evicts the client; a closed one means the client is already going, and the frame is
    /// dropped with it.
    type Limits = QueueLimits;

    fn deliver(&self, frame: Utf8Bytes, limits: &QueueLimits) -> bool {
        self.0.push(frame, limits) == Push::Evicted
    }

    fn deliver_signal(&self, from: &PeerId, payload: &str, limits: &QueueLimits) -> bool {
        self.deliver(signal_frame(from, payload).into(), limits)
    }

    fn replace(&self) {
        self.0.replace();
    }
}

impl ConnHandle {
    /// Delivers the signal `payload` from `from`: straight into the client's socket when its outbox allows
    /// it (then `corked` remembers the handle, whose bytes the caller writes before it waits for anything),
    /// queued otherwise.
    fn deliver_corked(
        self,
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
            if corked.last() != Some(&self) {
                corked.push(self);
            }
        } else if self.deliver_signal(from, payload, &state.config.queue_limits()) {
            state.counters.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }
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
fn signal_frame(from: &PeerId, payload: &str) -> String {
    match signal_parts(from, payload) {
        Some(parts) => parts.concat(),
        None => encode_server(&ServerMessage::Signal {
            from: from.clone(),
            payload: peerlab_protocol::Payload::from_json(payload)
                .expect("a payload the relay accepted is one JSON value"),
        }),
    }
}

/// The current Unix time in milliseconds, for tokens and credentials.
fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What the session reads of the relay, now.
fn env(state: &AppState) -> Env<'_, ConnHandle> {
    Env {
        config: &state.config,
        members: state.members(),
        resume: &state.resume,
        clustered: state.cluster.get().is_some_and(|c| c.is_up()),
        shutting_down: state.shutdown.is_cancelled(),
        now: Instant::now(),
        unix_ms: unix_now_ms(),
        fresh_id: random_id,
    }
}

/// The connection's side of a session: what it committed to others, and how to reach its own queue.
struct Conn {
    state: Arc<AppState>,
    outbox: Arc<Outbox>,
    /// Connections this one committed signals to that are not written yet: written (by
    /// [`Conn::flush_corked`]) once this connection has no more input to handle, and always before it
    /// waits for anything, so a burst to one member costs one write.
    corked: Vec<ConnHandle>,
}

impl Conn {
    /// Writes what this connection committed to other members' sockets (see `corked`).
    fn flush_corked(&mut self) {
        if self.corked.is_empty() {
            return;
        }
        for handle in std::mem::take(&mut self.corked) {
            handle.0.flush_unsent();
        }
    }

    /// Whether the loop is about to end by eviction, replacement or shutdown (its first `select!` arms
    /// handle those).
    fn ending(&self) -> bool {
        self.outbox.is_interrupted() || self.state.shutdown.is_cancelled()
    }

    /// Carries out a session's output, up to the direct reply, which it returns serialized (so the message
    /// itself is not held across the write). Returns the join to ask the cluster about, if that is the
    /// output ([`Conn::admit`] waits for it).
    fn carry_out(&mut self, session: &Session<ConnHandle>, output: Output<'_, ConnHandle>) -> Step {
        match output {
            Output::None => Step::Done(None),
            Output::Reply(reply) => Step::Done(Some(frame(&reply))),
            Output::Signal { to, payload } => {
                if let Some(from) = session.peer_id() {
                    to.deliver_corked(from, payload, &self.state, &mut self.corked);
                }
                Step::Done(None)
            }
            Output::Forward { node, to, payload } => {
                if let (Some(cluster), Some(room), Some(from)) =
                    (self.state.cluster.get(), session.room(), session.peer_id())
                {
                    cluster.forward(&node, room, &to, from, payload);
                }
                Step::Done(None)
            }
            Output::Admit(admit) => Step::Admit(Box::new(admit)),
            Output::Close(close) => Step::Close(Box::new(close)),
        }
    }

    /// Asks the cluster to admit `admit` and carries out what the session makes of the answer, until the
    /// join is settled (a refused resumed id is followed by a fresh one).
    async fn admit(&mut self, session: &mut Session<ConnHandle>, admit: Box<Admit>) -> Step {
        let mut admit = admit;
        loop {
            // A join may wait for Redis: what this connection committed elsewhere goes out first.
            self.flush_corked();
            let admission = match self.state.cluster.get() {
                Some(cluster) => {
                    cluster
                        .admit(
                            &admit.room,
                            &admit.id,
                            &admit.name,
                            admit.max_peers,
                            admit.resumed,
                        )
                        .await
                }
                None => Admission::Unavailable,
            };
            let output = session.admitted(*admit, admission, &env(&self.state));
            match self.carry_out(session, output) {
                Step::Admit(next) => admit = next,
                step => return step,
            }
        }
    }
}

/// What is left to do after [`Conn::carry_out`]. Small (the rare variants boxed), since it is held across
/// the connection loop's awaits, and the loop's future lives as long as the connection.
enum Step {
    /// Write this reply, if any.
    Done(Option<Utf8Bytes>),
    /// Wait for the cluster's admission of this join.
    Admit(Box<Admit>),
    /// Close the connection.
    Close(Box<Close>),
}

fn frame(message: &ServerMessage) -> Utf8Bytes {
    Utf8Bytes::from(encode_server(message))
}

/// Every `.await` inside the connection loop that holds a large state (a write, a message's handling) is
/// boxed: the loop's future lives as long as the connection, and its size is the largest state it may be
/// in, so boxing keeps an idle connection small and costs one short-lived allocation per burst.
///
/// Writes `messages` in one flush, unless the connection is evicted or shut down first, or the client does
/// not take them within the keep-alive timeout. Returns `false` when the connection should end.
async fn write<S, E>(sink: &mut S, messages: impl IntoIterator<Item = Message>, conn: &Conn) -> bool
where
    S: Sink<Message, Error = E> + Unpin,
{
    let timeout = conn.state.config.keepalive_timeout();
    let all = async {
        for message in messages {
            sink.feed(message).await?;
        }
        sink.flush().await
    };
    tokio::select! {
        sent = tokio::time::timeout(timeout, all) => matches!(sent, Ok(Ok(()))),
        _ = conn.outbox.interrupted() => false,
        _ = conn.state.shutdown.cancelled() => false,
    }
}

/// How many frames one turn of a connection's loop handles before it looks at its other work.
const MAX_FRAMES_PER_TURN: usize = 32;

/// How long the relay tries to deliver a close frame. A client being closed for not reading would not take
/// it anyway, so this is short.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// Sends the close's notice (a typed error saying why), if any, and then the close frame, within
/// [`CLOSE_TIMEOUT`] together.
async fn close<S, E>(sink: &mut S, outbox: &Outbox, close: Close) -> End
where
    S: Sink<Message, Error = E> + Unpin,
{
    // Nothing may follow the close frame.
    outbox.stop_direct();
    let frame = Message::Close(Some(CloseFrame {
        code: close.code.into(),
        reason: Utf8Bytes::from_static(close.reason),
    }));
    let all = async {
        if let Some(notice) = close.notice {
            sink.feed(Message::Text(self::frame(&notice))).await?;
        }
        sink.send(frame).await
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, all).await;
    close.end
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
    let mut session = Session::new(ConnHandle(outbox.clone()), &state.config, Instant::now());
    let mut conn = Conn {
        state: state.clone(),
        outbox: outbox.clone(),
        corked: Vec::new(),
    };
    // One timer serves every deadline of the session (keep-alive, pings, join, TURN refresh): it fires at
    // the earliest, and an incoming frame only moves the session's deadlines, never the timer.
    let timer = sleep_until(session.next_wake().into());
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
                conn.flush_corked();
                // Boxed in its own statement: a temporary of the awaiting statement would be held across
                // the await, in the connection's long-lived future.
                let closing = Box::new(session.shutdown(&env(&state)));
                break 'conn Box::pin(self::close(&mut socket, &outbox, *closing)).await;
            }
            () = outbox.ready() => {
                conn.flush_corked();
                if outbox.is_evicted() {
                    let evicted = Close { code: peerlab_protocol::close_code::SLOW_CONSUMER, reason: "too many unread messages; reconnect", notice: None, end: End::Evicted };
                    break 'conn Box::pin(close(&mut socket, &outbox, evicted)).await;
                }
                if outbox.is_replaced() {
                    let replaced = Close { code: peerlab_protocol::close_code::REPLACED, reason: "replaced by a newer connection", notice: None, end: End::Replaced };
                    break 'conn Box::pin(close(&mut socket, &outbox, replaced)).await;
                }
                let frames = outbox.take_for_write();
                if !Box::pin(write(&mut socket, frames.into_iter().map(Message::Text), &conn)).await {
                    if conn.ending() { continue 'conn; }
                    break 'conn End::Dropped;
                }
                if session.is_joined() {
                    outbox.allow_direct();
                }
            }
            () = &mut timer => {
                conn.flush_corked();
                // Made small before anything is awaited: a close (with its notice) is boxed, fresh ICE servers
                // serialized.
                let (closing, fresh, ping) = match session.on_timer(&env(&state)) {
                    Due::Close(due) => (Some(Box::new(due)), None, false),
                    Due::Send { ice_servers, ping } => (None, ice_servers.map(|m| frame(&m)), ping),
                };
                if let Some(closing) = closing {
                    break 'conn Box::pin(close(&mut socket, &outbox, *closing)).await;
                }
                if let Some(fresh) = fresh {
                    if !Box::pin(write(&mut socket, [Message::Text(fresh)], &conn)).await {
                        if conn.ending() { continue 'conn; }
                        break 'conn End::Dropped;
                    }
                }
                if ping && !Box::pin(write(&mut socket, [Message::Ping(Default::default())], &conn)).await {
                    if conn.ending() { continue 'conn; }
                    break 'conn End::Dropped;
                }
                timer.as_mut().reset(session.next_wake().into());
            }
            incoming = socket.next() => {
                // Every frame already read is handled in this turn (up to a bound, so the timer and the
                // outbox get their turn), and what it committed to other members is written once after.
                let mut incoming = incoming;
                let mut handled = 0;
                loop {
                    let was_joined = session.is_joined();
                    let message = match incoming {
                        None => break 'conn End::Dropped,
                        Some(Ok(Message::Close(frame))) => break 'conn End::of_close(frame.map(|f| u16::from(f.code))),
                        Some(Err(err)) => {
                            tracing::debug!(%remote, %err, "connection error");
                            break 'conn End::Dropped;
                        }
                        Some(Ok(message)) => message,
                    };
                    let input = match &message {
                        Message::Text(text) => Frame::Text(text.as_str()),
                        Message::Binary(bytes) => Frame::Binary(bytes.len()),
                        other => Frame::Control(other.len()),
                    };
                    let output = session.on_frame(input, &env(&state));
                    let mut step = conn.carry_out(&session, output);
                    if let Step::Admit(admit) = step {
                        // Boxed so the connection's long-lived future is not sized for a join's (Redis)
                        // state.
                        step = Box::pin(conn.admit(&mut session, admit)).await;
                    }
                    let reply = match step {
                        Step::Done(reply) => reply,
                        // `Conn::admit` settles every join before it returns.
                        Step::Admit(_) => None,
                        Step::Close(closing) => {
                            conn.flush_corked();
                            break 'conn Box::pin(close(&mut socket, &outbox, *closing)).await;
                        }
                    };
                    drop(message);
                    // The timer moves only forward by itself; a deadline the frame brought closer resets it.
                    if session.next_wake() < timer.deadline().into_std() {
                        timer.as_mut().reset(session.next_wake().into());
                    }
                    if let Some(reply) = reply {
                        conn.flush_corked();
                        if !Box::pin(write(&mut socket, [Message::Text(reply)], &conn)).await {
                            if conn.ending() { continue 'conn; }
                            break 'conn End::Dropped;
                        }
                    }
                    // Signals may go straight to this client only once its welcome is out, and not after
                    // it left.
                    if session.is_joined() != was_joined {
                        if session.is_joined() {
                            outbox.allow_direct();
                        } else {
                            outbox.stop_direct();
                        }
                    }
                    handled += 1;
                    if handled == MAX_FRAMES_PER_TURN || conn.ending() {
                        break;
                    }
                    match std::future::poll_fn(|cx| Poll::Ready(socket.poll_next_unpin(cx))).await {
                        Poll::Ready(next) => incoming = next,
                        Poll::Pending => break,
                    }
                }
                conn.flush_corked();
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
            () = std::future::ready(()), if !conn.corked.is_empty() => {
                conn.flush_corked();
            }
        }
    };
    conn.flush_corked();
    outbox.close();
    if let Some(away) = session.finish(end, &env(&state)) {
        crate::resume::schedule(&state, away.room, away.id, away.until, away.reason);
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
}
