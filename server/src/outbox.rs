//! A connection's outgoing queue: bounded, shared by every sender, and free of allocations while empty.
//!
//! Other connections push already-serialized frames; the owning connection takes them all at once and writes
//! them in one flush. A push that finds the queue full marks the connection evicted instead of waiting or
//! growing, so a client that stops reading costs the relay at most `capacity` frames. Most connections are
//! idle most of the time, so an empty queue holds no buffer (tokio's bounded channel keeps a block of slots
//! per connection, which dominated the memory of an idle member).
//!
//! # Writing straight into the receiver's socket
//!
//! When the connection's TCP socket is known (plain TCP, not TLS), the outbox also owns it: every byte the
//! relay writes to this client goes through the outbox's lock, in one order. The owner's own writes
//! (through [`crate::ws::RelaySocket`]) and a signal from another member ([`Outbox::commit_text`]) are both
//! *commits*: whole WebSocket frames appended to the bytes not yet written (`unsent`), which are written from
//! their head only, so frames never interleave, however a write is cut short. A sender may commit a frame
//! only while the owner allows it (after its `welcome` is out, never while it holds frames it took from the
//! queue and has not written yet, never after its close frame) and nothing is queued before it; otherwise the
//! frame is queued as before. The sender then writes the committed bytes itself ([`Outbox::flush_unsent`])
//! once it has no more input to handle, so a burst of signals costs one write, and a signal to an idle
//! member costs no wake-up of the member's task. What a sender cannot write without waiting stays in
//! `unsent` and the owner is woken to finish it, waiting for the socket as it always did.
//!
//! This module knows nothing of rooms. Of WebSockets it knows only how a server's unmasked text frame
//! begins.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// How many committed bytes may wait unwritten before senders queue frames instead (and the owner's own
/// writes wait): bounds what a client that stops reading holds besides its queue.
pub const UNSENT_LIMIT: usize = 64 * 1024;

/// What happened to a pushed frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Push {
    /// Queued.
    Queued,
    /// The queue was full: the frame was dropped and the connection is now marked evicted.
    Evicted,
    /// The connection is already evicted or closed; the frame was dropped with it.
    Gone,
}

#[derive(Default)]
struct Inner {
    frames: VecDeque<Utf8Bytes>,
    /// The client's socket, when the relay can write to it from any task (plain TCP); taken out (and so
    /// closed) when the connection closes.
    wire: Option<TcpStream>,
    /// Committed bytes, whole frames in order, not yet written to `wire`; unallocated while empty.
    unsent: Vec<u8>,
    /// Whether other connections may commit frames to `unsent` themselves (see the module doc).
    direct: bool,
    /// Set once: by a push that found the queue full, or by the owner when it closes.
    gone: bool,
    /// Whether `gone` was caused by a full queue.
    evicted: bool,
    /// Whether `gone` was caused by a newer connection taking over this one's peer id.
    replaced: bool,
}

/// The queue. Shared through an `Arc` between the owning connection and the room registry.
#[derive(Default)]
pub struct Outbox {
    inner: Mutex<Inner>,
    /// Wakes the owner when frames arrive or the connection is evicted.
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
        let Some(wire) = &self.wire else {
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
}

impl Outbox {
    /// An outbox that also owns the client's socket, so that other connections can write to it.
    pub fn with_wire(wire: TcpStream) -> Outbox {
        Outbox {
            inner: Mutex::new(Inner {
                wire: Some(wire),
                ..Inner::default()
            }),
            ready: AtomicWaker::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every critical section is a push or a swap; a panic inside cannot leave `Inner` inconsistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `frame` unless the queue already holds `capacity` frames.
    pub fn push(&self, frame: Utf8Bytes, capacity: usize) -> Push {
        let mut inner = self.lock();
        if inner.gone {
            return Push::Gone;
        }
        if inner.frames.len() >= capacity {
            inner.gone = true;
            inner.evicted = true;
            inner.frames = VecDeque::new();
            drop(inner);
            self.ready.wake();
            return Push::Evicted;
        }
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
        crate::ws::put_header(&mut inner.unsent, crate::ws::OP_TEXT, len);
        for part in parts {
            inner.unsent.extend_from_slice(part.as_bytes());
        }
        Commit::Committed
    }

    /// Writes the committed bytes that the socket takes now, from another connection's task, without
    /// waiting; wakes the owner to write the rest.
    pub fn flush_unsent(&self) {
        let mut inner = self.lock();
        if inner.unsent.is_empty() {
            return;
        }
        inner.try_flush();
        let rest = !inner.unsent.is_empty();
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
        std::mem::take(&mut inner.frames)
    }

    /// Waits until there is something to do: frames to write, committed bytes a sender could not write, an
    /// eviction, or a replacement.
    pub async fn ready(&self) {
        std::future::poll_fn(|cx| {
            self.ready.register(cx.waker());
            let inner = self.lock();
            if inner.evicted
                || inner.replaced
                || !inner.frames.is_empty()
                || !inner.unsent.is_empty()
            {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Completes when a push has found the queue full or the connection was replaced: either way the
    /// connection must stop what it is doing and close.
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
        inner.frames = VecDeque::new();
        drop(inner);
        self.ready.wake();
    }

    /// Whether a newer connection took over this one's peer id.
    pub fn is_replaced(&self) -> bool {
        self.lock().replaced
    }

    /// Takes every queued frame (and the buffer that held them, so an idle queue holds none).
    pub fn take(&self) -> VecDeque<Utf8Bytes> {
        std::mem::take(&mut self.lock().frames)
    }

    /// Whether a push found the queue full.
    pub fn is_evicted(&self) -> bool {
        self.lock().evicted
    }

    /// Marks the connection closed: later pushes are dropped, and the socket, if the outbox holds it, is
    /// closed.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.gone = true;
        inner.direct = false;
        inner.frames = VecDeque::new();
        inner.unsent = Vec::new();
        let wire = inner.wire.take();
        drop(inner);
        drop(wire);
    }
}

impl Inner {
    /// Writes `unsent` until it is empty or the socket is full (then the owner's task is woken when it
    /// can take more).
    fn poll_flush_unsent(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.unsent.is_empty() {
            let Some(wire) = self.wire.as_mut() else {
                return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
            };
            match Pin::new(wire).poll_write(cx, &self.unsent) {
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
        Poll::Ready(Ok(()))
    }
}

/// The owner's side of the socket (plain TCP only), used by [`crate::ws::RelaySocket`]: reads go straight
/// to the socket; writes are commits (see the module doc), so they never interleave with frames other
/// connections write.
impl Outbox {
    /// Reads from the client's socket; the end of input once the outbox is closed.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.lock();
        match inner.wire.as_mut() {
            Some(wire) => Pin::new(wire).poll_read(cx, buf),
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

    /// Writes every committed byte, then shuts the socket's sending side.
    pub fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.lock();
        std::task::ready!(inner.poll_flush_unsent(cx))?;
        match inner.wire.as_mut() {
            Some(wire) => Pin::new(wire).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &'static str) -> Utf8Bytes {
        Utf8Bytes::from_static(s)
    }

    #[test]
    fn frames_come_out_in_order_and_the_buffer_goes_with_them() {
        let outbox = Outbox::default();
        assert_eq!(outbox.push(f("a"), 4), Push::Queued);
        assert_eq!(outbox.push(f("b"), 4), Push::Queued);
        let taken: Vec<_> = outbox.take().into_iter().collect();
        assert_eq!(taken, vec![f("a"), f("b")]);
        assert_eq!(outbox.lock().frames.capacity(), 0);
    }

    #[test]
    fn a_full_queue_evicts_once_and_drops_everything_after() {
        let outbox = Outbox::default();
        for _ in 0..3 {
            assert_eq!(outbox.push(f("x"), 3), Push::Queued);
        }
        assert_eq!(outbox.push(f("y"), 3), Push::Evicted);
        assert!(outbox.is_evicted());
        assert_eq!(outbox.push(f("z"), 3), Push::Gone);
        assert!(outbox.take().is_empty(), "an evicted queue holds nothing");
    }

    #[test]
    fn a_closed_queue_takes_nothing() {
        let outbox = Outbox::default();
        outbox.close();
        assert_eq!(outbox.push(f("x"), 3), Push::Gone);
        assert!(!outbox.is_evicted());
    }

    #[tokio::test]
    async fn a_replaced_queue_wakes_its_owner_and_drops_what_comes_after() {
        let outbox = std::sync::Arc::new(Outbox::default());
        outbox.push(f("before"), 4);
        let owner = outbox.clone();
        let waiter = tokio::spawn(async move { owner.interrupted().await });
        tokio::task::yield_now().await;
        outbox.replace();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        assert!(outbox.is_replaced() && !outbox.is_evicted());
        assert_eq!(outbox.push(f("after"), 4), Push::Gone);
        assert!(outbox.take().is_empty());
        outbox.ready().await;
    }

    #[test]
    fn text_headers_use_the_shortest_length_form() {
        let cases: [(usize, &[u8]); 5] = [
            (0, &[0x81, 0]),
            (125, &[0x81, 125]),
            (126, &[0x81, 126, 0, 126]),
            (65_535, &[0x81, 126, 0xff, 0xff]),
            (65_536, &[0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ];
        for (len, expected) in cases {
            let mut header = Vec::new();
            crate::ws::put_header(&mut header, crate::ws::OP_TEXT, len);
            assert_eq!(&header[..], expected, "{len}");
        }
    }

    #[tokio::test]
    async fn senders_commit_only_when_allowed_and_nothing_is_queued() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let outbox = Outbox::with_wire(server);
        assert_eq!(
            outbox.commit_text(&["x"]),
            Commit::Declined,
            "not allowed yet"
        );
        outbox.allow_direct();
        assert_eq!(outbox.push(f("queued"), 4), Push::Queued);
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
        outbox.push(f("early"), 4);
        outbox.ready().await;
        outbox.take();
        let pusher = outbox.clone();
        let waiter = tokio::spawn(async move { outbox.ready().await });
        tokio::task::yield_now().await;
        pusher.push(f("late"), 4);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }
}
