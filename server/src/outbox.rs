//! A connection's outgoing queue: bounded, shared by every sender, and free of allocations while empty.
//!
//! Other connections push already-serialized frames; the owning connection takes them all at once and writes
//! them in one flush. A push that finds the queue full marks the connection evicted instead of waiting or
//! growing, so a client that stops reading costs the relay at most `capacity` frames. Most connections are
//! idle most of the time, so an empty queue holds no buffer (tokio's bounded channel keeps a block of slots
//! per connection, which dominated the memory of an idle member).
//!
//! This module knows nothing of WebSockets or rooms.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

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
    ready: Notify,
}

impl Outbox {
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
            self.ready.notify_one();
            return Push::Evicted;
        }
        inner.frames.push_back(frame);
        drop(inner);
        self.ready.notify_one();
        Push::Queued
    }

    /// Waits until there is something to do: frames to write, an eviction, or a replacement.
    pub async fn ready(&self) {
        loop {
            {
                let inner = self.lock();
                if inner.evicted || inner.replaced || !inner.frames.is_empty() {
                    return;
                }
            }
            self.ready.notified().await;
        }
    }

    /// Completes when a push has found the queue full or the connection was replaced: either way the
    /// connection must stop what it is doing and close.
    pub async fn interrupted(&self) {
        while !self.is_interrupted() {
            self.ready.notified().await;
        }
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
        self.ready.notify_one();
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

    /// Marks the connection closed: later pushes are dropped.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.gone = true;
        inner.frames = VecDeque::new();
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
