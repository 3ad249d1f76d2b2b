//! A connection's outgoing side: the owner of the client's socket (plain TCP or TLS, [`Wire`]), the queue of
//! frames other connections push for it, and the bytes committed to the socket but not yet written. It
//! holds no buffer while idle.
//!
//! # The queue, bounded by how far behind the client is
//! Other connections push already-serialized frames; the owning connection takes them all at once and
//! writes them in one flush. The queue is bounded by how far behind its client is, not by how many frames
//! it holds: a push that would take the bytes waiting for the client (queued and committed) over
//! [`QueueLimits::max_bytes`], or that finds the oldest queued frame waiting longer than
//! [`QueueLimits::max_delay`], marks the connection evicted instead of waiting or growing. So a client that
//! stops reading costs the relay at most `max_bytes` (plus one frame), and a burst of many small frames to a
//! client that keeps reading (a join storm, a flurry of candidates) evicts no one. An empty queue holds no
//! buffer (tokio's bounded channel keeps a block of slots per connection, which dominated the memory of an
//! idle member).
//!
//! # Writing straight into the receiver's socket
//! Every byte the relay writes to a client goes through its outbox's lock, in one order. The owner's own
//! writes (through [`super::RelaySocket`]) and a signal from another member ([`Outbox::commit_text`]) are
//! both *commits*: whole WebSocket frames appended to the bytes not yet written (`unsent`), which are
//! written from their head only, so frames never interleave, however a write is cut short. A sender may
//! commit a frame only while the owner allows it (after its `welcome` is out, never while it holds frames it
//! took from the queue and has not written yet, never after its close frame) and nothing is queued before
//! it; otherwise the frame is queued. The sender then writes the committed bytes itself
//! ([`Outbox::flush_unsent`]) once it has no more input to handle, so a burst of signals costs one write,
//! and a signal to an idle member costs no wake-up of the member's task. What a sender cannot write without
//! waiting stays behind (in `unsent`, or encrypted in the TLS session) and the owner is woken to finish it,
//! waiting for the socket.
//!
//! A sender's write never registers a waker with the socket (it uses `try_write`, and for TLS encrypts into
//! the session and writes its records with `try_write`), so it cannot take the socket's wake-up away from
//! the owner's task.
//!
//! This module knows nothing of rooms. Of WebSockets it knows only how a server's text frame begins
//! ([`super::codec::put_header`]).

use std::collections::VecDeque;
use std::io::{self, Write as _};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tungstenite::Utf8Bytes;

use super::codec::{put_header, OP_TEXT};

/// How many committed bytes may wait unwritten before senders queue frames instead (and the owner's own
/// writes wait): bounds what a client that stops reading holds besides its queue.
pub const UNSENT_LIMIT: usize = 64 * 1024;

/// How far behind a client may fall before it is evicted (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Bytes waiting for the client (queued frames and committed bytes not yet written) at most.
    pub max_bytes: usize,
    /// How long the oldest queued frame may wait for the client's connection to take it.
    pub max_delay: Duration,
    /// Queued frames at most; 0 for no cap by count (the default: count says little about memory, and a
    /// burst of small frames to a client that keeps up must not evict it).
    pub max_frames: usize,
}

/// What happened to a pushed frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Push {
    /// Queued.
    Queued,
    /// The client was too far behind: the frame was dropped and the connection is now marked evicted.
    Evicted,
    /// The connection is already evicted or closed; the frame was dropped with it.
    Gone,
}

/// The client's socket: what the outbox writes to from any task and the owner reads from.
pub enum Wire {
    Tcp(TcpStream),
    /// Boxed: a TLS session is large, and most relays serve plain TCP behind a proxy.
    Tls(Box<TlsStream<TcpStream>>),
}

/// `std::io::Write` over a TCP socket's `try_write`: never waits, never registers a waker.
struct TryWrite<'a>(&'a TcpStream);

impl io::Write for TryWrite<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Wire {
    /// Writes what the socket takes now from `buf` without waiting: how many bytes of `buf` were taken
    /// (for TLS: encrypted into the session, whose records are then written as far as the socket takes
    /// them). `WouldBlock` when none.
    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Tcp(tcp) => tcp.try_write(buf),
            Wire::Tls(tls) => {
                let (tcp, session) = tls.get_mut();
                Self::try_write_records(tcp, session)?;
                let n = session.writer().write(buf)?;
                Self::try_write_records(tcp, session)?;
                if n == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            }
        }
    }

    /// Writes the TLS session's encrypted records as far as the socket takes them now.
    fn try_write_records(
        tcp: &TcpStream,
        session: &mut tokio_rustls::rustls::ServerConnection,
    ) -> io::Result<()> {
        while session.wants_write() {
            match session.write_tls(&mut TryWrite(tcp)) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether bytes the socket took are still held in user space (encrypted TLS records not yet written).
    fn holds_records(&self) -> bool {
        match self {
            Wire::Tcp(_) => false,
            Wire::Tls(tls) => tls.get_ref().1.wants_write(),
        }
    }

    fn pinned(&mut self) -> Pin<&mut (dyn AsyncReadWrite + Send)> {
        match self {
            Wire::Tcp(tcp) => Pin::new(tcp),
            Wire::Tls(tls) => Pin::new(&mut **tls),
        }
    }

    /// Ends the connection: a TLS session says so first (close_notify, written if the socket takes it now).
    fn close(mut self) {
        if let Wire::Tls(tls) = &mut self {
            let (tcp, session) = tls.get_mut();
            session.send_close_notify();
            let _ = Self::try_write_records(tcp, session);
        }
    }
}

trait AsyncReadWrite: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> AsyncReadWrite for T {}

#[derive(Default)]
struct Inner {
    frames: VecDeque<Utf8Bytes>,
    /// The bytes of `frames`.
    queued_bytes: usize,
    /// When the oldest frame in `frames` was queued; `None` while the queue is empty.
    oldest: Option<Instant>,
    /// The client's socket; taken out (and so closed) when the connection closes. `None` for an outbox
    /// made without one (tests, and sockets the relay does not frame itself).
    wire: Option<Wire>,
    /// Committed bytes, whole frames in order, not yet given to `wire`; unallocated while empty.
    unsent: Vec<u8>,
    /// Whether other connections may commit frames to `unsent` themselves (see the module doc).
    direct: bool,
    /// Set once: by a push that found the client too far behind, or by the owner when it closes.
    gone: bool,
    /// Whether `gone` was caused by the client falling too far behind.
    evicted: bool,
    /// Whether `gone` was caused by a newer connection taking over this one's peer id.
    replaced: bool,
}

/// A connection's outgoing side. Shared through an `Arc` between the owning connection and the room
/// registry.
#[derive(Default)]
pub struct Outbox {
    inner: Mutex<Inner>,
    /// Wakes the owner when frames arrive, committed bytes wait, or the connection is evicted.
    ///
    /// Only the owner's task ever waits, so one waker is enough; it is registered before the state is
    /// checked, so a change made after the check always wakes it. (A `Notify` waiter was registered and
    /// unregistered, under its lock, at every turn of the connection's loop.)
    ready: AtomicWaker,
}

/// What [`Outbox::commit_text`] did with a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Commit {
    /// Appended to the bytes to write: the caller must call [`Outbox::flush_unsent`] before it waits for
    /// anything.
    Committed,
    /// Not committed (no socket, not allowed now, or frames queued before it): push it instead.
    Declined,
}

impl Inner {
    /// Writes as much of `unsent` as the socket takes now, without waiting. An error ends the writing: the
    /// bytes are dropped and the owner finds the error when it reads or writes.
    fn try_flush(&mut self) {
        let Some(wire) = &mut self.wire else {
            self.unsent = Vec::new();
            return;
        };
        while !self.unsent.is_empty() {
            match wire.try_write(&self.unsent) {
                Ok(n) if n == self.unsent.len() => self.unsent = Vec::new(),
                Ok(n) if n > 0 => {
                    self.unsent.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // An error, or a socket that takes nothing (which would loop here forever).
                _ => {
                    self.unsent = Vec::new();
                    self.direct = false;
                }
            }
        }
    }

    /// Whether bytes wait that the owner must write: committed ones, or TLS records a sender could not.
    fn owes_writes(&self) -> bool {
        !self.unsent.is_empty() || self.wire.as_ref().is_some_and(Wire::holds_records)
    }

    fn drop_queue(&mut self) {
        self.frames = VecDeque::new();
        self.queued_bytes = 0;
        self.oldest = None;
    }

    fn take_queue(&mut self) -> VecDeque<Utf8Bytes> {
        self.queued_bytes = 0;
        self.oldest = None;
        std::mem::take(&mut self.frames)
    }
}

impl Outbox {
    /// An outbox that owns the client's socket, so that other connections can write to it.
    pub fn with_wire(wire: Wire) -> Outbox {
        Outbox {
            inner: Mutex::new(Inner {
                wire: Some(wire),
                ..Inner::default()
            }),
            ready: AtomicWaker::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every critical section is a push, a swap or a non-blocking write; a panic inside cannot leave
        // `Inner` inconsistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `frame` unless the client is too far behind by `limits` (then it is evicted).
    pub fn push(&self, frame: Utf8Bytes, limits: &QueueLimits) -> Push {
        self.push_at(frame, limits, Instant::now())
    }

    /// [`Outbox::push`] at `now`.
    pub fn push_at(&self, frame: Utf8Bytes, limits: &QueueLimits, now: Instant) -> Push {
        let mut inner = self.lock();
        if inner.gone {
            return Push::Gone;
        }
        let behind = inner.queued_bytes + inner.unsent.len() + frame.len();
        let too_far = !inner.frames.is_empty()
            && (behind > limits.max_bytes
                || inner
                    .oldest
                    .is_some_and(|at| now.saturating_duration_since(at) > limits.max_delay));
        let too_many = limits.max_frames > 0 && inner.frames.len() >= limits.max_frames;
        if too_far || too_many {
            inner.gone = true;
            inner.evicted = true;
            inner.drop_queue();
            drop(inner);
            self.ready.wake();
            return Push::Evicted;
        }
        if inner.frames.is_empty() {
            inner.oldest = Some(now);
        }
        inner.queued_bytes += frame.len();
        inner.frames.push_back(frame);
        drop(inner);
        self.ready.wake();
        Push::Queued
    }

    /// Commits the text frame made of `parts` to be written straight to the socket, if the owner allows it
    /// now and nothing is queued before it (see the module doc). The frame is whole in `unsent` or not there
    /// at all.
    pub fn commit_text(&self, parts: &[&str]) -> Commit {
        let mut inner = self.lock();
        if !inner.direct
            || inner.gone
            || !inner.frames.is_empty()
            || inner.unsent.len() >= UNSENT_LIMIT
            || inner.wire.is_none()
        {
            return Commit::Declined;
        }
        let len = parts.iter().map(|p| p.len()).sum();
        inner.unsent.reserve_exact(10 + len);
        put_header(&mut inner.unsent, OP_TEXT, len);
        for part in parts {
            inner.unsent.extend_from_slice(part.as_bytes());
        }
        Commit::Committed
    }

    /// Writes the committed bytes that the socket takes now, from another connection's task, without
    /// waiting; wakes the owner to write the rest.
    pub fn flush_unsent(&self) {
        let mut inner = self.lock();
        if !inner.owes_writes() {
            return;
        }
        inner.try_flush();
        let rest = inner.owes_writes();
        drop(inner);
        if rest {
            self.ready.wake();
        }
    }

    /// Lets other connections commit frames directly (when the outbox has a socket).
    pub fn allow_direct(&self) {
        let mut inner = self.lock();
        inner.direct = inner.wire.is_some() && !inner.gone;
    }

    /// Stops other connections from committing frames directly: the owner is about to write frames it
    /// took from the queue, or a close frame.
    pub fn stop_direct(&self) {
        self.lock().direct = false;
    }

    /// Takes every queued frame, as [`Outbox::take`], and stops direct commits until the owner allows them
    /// again (after writing what it took).
    pub fn take_for_write(&self) -> VecDeque<Utf8Bytes> {
        let mut inner = self.lock();
        inner.direct = false;
        inner.take_queue()
    }

    /// Waits until there is something to do: frames to write, bytes a sender could not write, an eviction,
    /// or a replacement.
    pub async fn ready(&self) {
        std::future::poll_fn(|cx| {
            self.ready.register(cx.waker());
            let inner = self.lock();
            if inner.evicted || inner.replaced || !inner.frames.is_empty() || inner.owes_writes() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Completes when a push has found the client too far behind or the connection was replaced: either
    /// way the connection must stop what it is doing and close.
    pub async fn interrupted(&self) {
        std::future::poll_fn(|cx| {
            self.ready.register(cx.waker());
            if self.is_interrupted() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Whether the connection was evicted or replaced.
    pub fn is_interrupted(&self) -> bool {
        let inner = self.lock();
        inner.evicted || inner.replaced
    }

    /// Marks the connection replaced by a newer one with the same peer id: later pushes are dropped and
    /// the owner closes (4004) without leaving the room, which now belongs to the newer connection.
    pub fn replace(&self) {
        let mut inner = self.lock();
        inner.gone = true;
        inner.replaced = true;
        inner.drop_queue();
        drop(inner);
        self.ready.wake();
    }

    /// Whether a newer connection took over this one's peer id.
    pub fn is_replaced(&self) -> bool {
        self.lock().replaced
    }

    /// Takes every queued frame (and the buffer that held them, so an idle queue holds none).
    pub fn take(&self) -> VecDeque<Utf8Bytes> {
        self.lock().take_queue()
    }

    /// Whether a push found the client too far behind.
    pub fn is_evicted(&self) -> bool {
        self.lock().evicted
    }

    /// Marks the connection closed: later pushes are dropped, and the socket, if the outbox holds it, is
    /// closed.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.gone = true;
        inner.direct = false;
        inner.drop_queue();
        inner.unsent = Vec::new();
        let wire = inner.wire.take();
        drop(inner);
        if let Some(wire) = wire {
            wire.close();
        }
    }
}

impl Inner {
    /// Writes `unsent` (and, for TLS, the session's records) until all is out or the socket is full (then
    /// the owner's task is woken when it can take more).
    fn poll_flush_unsent(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(wire) = self.wire.as_mut() else {
            if self.unsent.is_empty() {
                return Poll::Ready(Ok(()));
            }
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        while !self.unsent.is_empty() {
            match wire.pinned().poll_write(cx, &self.unsent) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) if n == self.unsent.len() => self.unsent = Vec::new(),
                Poll::Ready(Ok(n)) => {
                    self.unsent.drain(..n);
                }
                Poll::Ready(Err(e)) => {
                    self.unsent = Vec::new();
                    self.direct = false;
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        if wire.holds_records() {
            if let Err(e) = std::task::ready!(wire.pinned().poll_flush(cx)) {
                self.direct = false;
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The owner's side of the socket, used by [`super::RelaySocket`]: reads go straight to the socket; writes
/// are commits (see the module doc), so they never interleave with frames other connections write.
impl Outbox {
    /// Reads from the client's socket; the end of input once the outbox is closed.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.lock();
        match inner.wire.as_mut() {
            Some(wire) => wire.pinned().poll_read(cx, buf),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Appends whole frames the owner writes (`put` appends them) to the bytes to write. The owner may
    /// always commit; [`Outbox::poll_room`] first keeps what waits bounded.
    pub fn commit_own(&self, put: impl FnOnce(&mut Vec<u8>)) {
        let mut inner = self.lock();
        if inner.wire.is_some() {
            put(&mut inner.unsent);
        }
    }

    /// Ready once fewer than [`UNSENT_LIMIT`] committed bytes wait, writing them as the socket takes them.
    pub fn poll_room(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.lock();
        if inner.unsent.len() < UNSENT_LIMIT {
            return Poll::Ready(Ok(()));
        }
        match inner.poll_flush_unsent(cx) {
            Poll::Pending if inner.unsent.len() >= UNSENT_LIMIT => Poll::Pending,
            Poll::Pending => Poll::Ready(Ok(())),
            done => done,
        }
    }

    /// Writes every committed byte, waiting for the socket as needed.
    pub fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.lock().poll_flush_unsent(cx)
    }

    /// Writes every committed byte, then shuts the socket's sending side (for TLS, after close_notify).
    pub fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.lock();
        std::task::ready!(inner.poll_flush_unsent(cx))?;
        match inner.wire.as_mut() {
            Some(wire) => wire.pinned().poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl From<TcpStream> for Wire {
    fn from(tcp: TcpStream) -> Wire {
        Wire::Tcp(tcp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &'static str) -> Utf8Bytes {
        Utf8Bytes::from_static(s)
    }

    /// Limits by bytes only, as the relay runs by default.
    fn bytes(max_bytes: usize) -> QueueLimits {
        QueueLimits {
            max_bytes,
            max_delay: Duration::from_secs(30),
            max_frames: 0,
        }
    }

    #[test]
    fn frames_come_out_in_order_and_the_buffer_goes_with_them() {
        let outbox = Outbox::default();
        assert_eq!(outbox.push(f("a"), &bytes(4)), Push::Queued);
        assert_eq!(outbox.push(f("b"), &bytes(4)), Push::Queued);
        let taken: Vec<_> = outbox.take().into_iter().collect();
        assert_eq!(taken, vec![f("a"), f("b")]);
        assert_eq!(outbox.lock().frames.capacity(), 0);
        assert_eq!(outbox.lock().queued_bytes, 0);
    }

    #[test]
    fn a_client_too_many_bytes_behind_is_evicted_once_and_everything_after_is_dropped() {
        let outbox = Outbox::default();
        // 3 × 10 bytes fit a budget of 30; the fourth frame would make 40.
        for _ in 0..3 {
            assert_eq!(outbox.push(f("0123456789"), &bytes(30)), Push::Queued);
        }
        assert_eq!(outbox.push(f("0123456789"), &bytes(30)), Push::Evicted);
        assert!(outbox.is_evicted());
        assert_eq!(outbox.push(f("z"), &bytes(30)), Push::Gone);
        assert!(outbox.take().is_empty(), "an evicted queue holds nothing");
    }

    #[test]
    fn many_small_frames_within_the_byte_budget_evict_no_one() {
        let outbox = Outbox::default();
        let limits = bytes(1 << 20);
        // Ten thousand 60-byte notices (a join storm's worth) are 600 KB: inside the budget, though far
        // more frames than any count-based queue held.
        let notice = Utf8Bytes::from("n".repeat(60));
        for round in 0..3 {
            for i in 0..10_000 {
                assert_eq!(
                    outbox.push(notice.clone(), &limits),
                    Push::Queued,
                    "{round}/{i}"
                );
            }
            assert_eq!(outbox.take().len(), 10_000);
        }
        assert!(!outbox.is_evicted());
    }

    #[test]
    fn a_single_frame_over_the_budget_is_still_delivered_to_an_empty_queue() {
        let outbox = Outbox::default();
        assert_eq!(
            outbox.push(f("a frame of 26 bytes, say."), &bytes(8)),
            Push::Queued
        );
        assert_eq!(outbox.push(f("x"), &bytes(8)), Push::Evicted);
    }

    #[test]
    fn a_client_whose_oldest_frame_waits_too_long_is_evicted() {
        let outbox = Outbox::default();
        let limits = QueueLimits {
            max_delay: Duration::from_secs(10),
            ..bytes(1 << 20)
        };
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        // Taking the queue restarts the clock: a client that keeps reading is never behind in time.
        assert_eq!(outbox.push_at(f("a"), &limits, at(0)), Push::Queued);
        assert_eq!(outbox.push_at(f("b"), &limits, at(9)), Push::Queued);
        outbox.take();
        assert_eq!(outbox.push_at(f("c"), &limits, at(15)), Push::Queued);
        assert_eq!(outbox.push_at(f("d"), &limits, at(25)), Push::Queued);
        assert_eq!(outbox.push_at(f("e"), &limits, at(26)), Push::Evicted);
        assert!(outbox.is_evicted());
    }

    #[test]
    fn the_frame_cap_still_applies_when_set() {
        let outbox = Outbox::default();
        let limits = QueueLimits {
            max_frames: 3,
            ..bytes(1 << 20)
        };
        for _ in 0..3 {
            assert_eq!(outbox.push(f("x"), &limits), Push::Queued);
        }
        assert_eq!(outbox.push(f("y"), &limits), Push::Evicted);
    }

    #[test]
    fn a_closed_queue_takes_nothing() {
        let outbox = Outbox::default();
        outbox.close();
        assert_eq!(outbox.push(f("x"), &bytes(30)), Push::Gone);
        assert!(!outbox.is_evicted());
    }

    #[tokio::test]
    async fn a_replaced_queue_wakes_its_owner_and_drops_what_comes_after() {
        let outbox = std::sync::Arc::new(Outbox::default());
        outbox.push(f("before"), &bytes(30));
        let owner = outbox.clone();
        let waiter = tokio::spawn(async move { owner.interrupted().await });
        tokio::task::yield_now().await;
        outbox.replace();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        assert!(outbox.is_replaced() && !outbox.is_evicted());
        assert_eq!(outbox.push(f("after"), &bytes(30)), Push::Gone);
        assert!(outbox.take().is_empty());
        outbox.ready().await;
    }

    #[tokio::test]
    async fn senders_commit_only_when_allowed_and_nothing_is_queued() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let outbox = Outbox::with_wire(server.into());
        assert_eq!(
            outbox.commit_text(&["x"]),
            Commit::Declined,
            "not allowed yet"
        );
        outbox.allow_direct();
        assert_eq!(outbox.push(f("queued"), &bytes(30)), Push::Queued);
        assert_eq!(
            outbox.commit_text(&["x"]),
            Commit::Declined,
            "a frame is queued"
        );
        assert_eq!(outbox.take_for_write().len(), 1);
        assert_eq!(
            outbox.commit_text(&["x"]),
            Commit::Declined,
            "the owner is writing"
        );
        outbox.allow_direct();
        assert_eq!(outbox.commit_text(&["he", "llo"]), Commit::Committed);
        assert_eq!(outbox.commit_text(&["!"]), Commit::Committed);
        outbox.flush_unsent();
        let mut got = [0u8; 10];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"\x81\x05hello\x81\x01!");
        outbox.stop_direct();
        assert_eq!(
            outbox.commit_text(&["x"]),
            Commit::Declined,
            "after a close frame"
        );
        outbox.allow_direct();
        outbox.close();
        assert_eq!(outbox.commit_text(&["x"]), Commit::Declined, "closed");
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "closing the outbox closed the socket");
    }

    #[tokio::test]
    async fn ready_wakes_for_a_frame_pushed_before_or_while_waiting() {
        let outbox = std::sync::Arc::new(Outbox::default());
        outbox.push(f("early"), &bytes(30));
        outbox.ready().await;
        outbox.take();
        let pusher = outbox.clone();
        let waiter = tokio::spawn(async move { outbox.ready().await });
        tokio::task::yield_now().await;
        pusher.push(f("late"), &bytes(30));
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }
}
