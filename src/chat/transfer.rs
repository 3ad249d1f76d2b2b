//! File transfers as plain data: the state machine every transfer goes through, the sender's chunk plan
//! and the receiver's reassembly bookkeeping, both hashing with SHA-256 in one pass as bytes go by.
//!
//! ```text
//! offered ─▶ accepted ─▶ sending / receiving ─▶ verifying ─▶ done
//!    │           │                │                  │
//!    └▶ declined └──────────── cancelled{by} | failed{reason} ◀┘
//! ```
//!
//! A transition that does not apply in the current state (a cancel after done, an accept after a cancel,
//! a second decline) changes nothing and reports `false`, so the races between two browsers resolve to
//! whichever event came first. Each state carries its own token for `data-state` attributes and its
//! words for the transfer's line ([`TransferState::words`], [`TransferState::error_text`]), so the page
//! holds none. Pure: no `web_sys`, no Leptos, no clock.

use std::ops::Range;

use sha2::{Digest, Sha256};

/// Bytes per binary message. Below every browser's data-channel message limit (Chrome: 256 KiB,
/// Firefox: 1 GiB) and large enough that per-message overhead is small.
pub const CHUNK_BYTES: u64 = 64 * 1024;

/// How many bytes the sender reads from the file at once (`File.slice(a, b).arrayBuffer()`), sent as
/// `READ_BLOCK_BYTES / CHUNK_BYTES` chunks. Only this much of the file is in memory on the sending side.
pub const READ_BLOCK_BYTES: u64 = 16 * CHUNK_BYTES;

/// The sender stops sending while the channel's `bufferedAmount` is at or above this, so the browser's
/// send queue stays bounded whatever the file size.
pub const HIGH_WATER_BYTES: u32 = 1024 * 1024;

/// The `bufferedAmountLowThreshold` set on each file channel: the `bufferedamountlow` event at this level
/// wakes the sender while 256 KiB are still queued, so the channel never runs dry while it reads on.
pub const LOW_WATER_BYTES: u32 = 256 * 1024;

/// The receiver folds its pending chunks into the growing `Blob` once this many bytes are pending, so at
/// most this much is held twice (as chunks and inside the new blob) at any moment.
pub const FOLD_BYTES: u64 = 8 * 1024 * 1024;

/// A transfer with no progress for this long, while the peer connection is not connected, fails.
pub const STALL_TIMEOUT_MS: f64 = 15_000.0;

/// Whether the sender may put another chunk on the channel now.
pub fn may_send(buffered_amount: u32) -> bool {
    buffered_amount < HIGH_WATER_BYTES
}

/// Where a transfer is in its life. The last four are final.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferState {
    /// The sender offered the file; the receiver has not answered.
    Offered,
    /// The receiver accepted; the file channel is being opened.
    Accepted,
    /// Bytes are going out (sender side).
    Sending,
    /// Bytes are coming in (receiver side).
    Receiving,
    /// All bytes are through; the digests are being compared.
    Verifying,
    Done,
    Declined,
    /// `by` is the display name of whoever cancelled (this side's own name when it was us).
    Cancelled {
        by: String,
    },
    /// `reason` is the sentence shown after "transfer failed: ".
    Failed {
        reason: String,
    },
}

impl TransferState {
    /// The stable token of `data-state` attributes.
    pub fn token(&self) -> &'static str {
        match self {
            TransferState::Offered => "offered",
            TransferState::Accepted => "accepted",
            TransferState::Sending => "sending",
            TransferState::Receiving => "receiving",
            TransferState::Verifying => "verifying",
            TransferState::Done => "done",
            TransferState::Declined => "declined",
            TransferState::Cancelled { .. } => "cancelled",
            TransferState::Failed { .. } => "failed",
        }
    }

    /// Whether nothing more can happen.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            TransferState::Done
                | TransferState::Declined
                | TransferState::Cancelled { .. }
                | TransferState::Failed { .. }
        )
    }

    /// Whether the transfer may still be cancelled (it was not answered or bytes may still move).
    pub fn is_active(&self) -> bool {
        !self.is_final()
    }

    /// What the transfer's line says about where it is; the sender and the receiver of an offer or a
    /// finished transfer read different words.
    pub fn words(&self, direction: Direction) -> &'static str {
        match (self, direction) {
            (TransferState::Offered, Direction::Out) => "waiting for an answer",
            (TransferState::Offered, Direction::In) => "wants to send you this file",
            (TransferState::Accepted, _) => "accepted; opening the file channel",
            (TransferState::Sending, _) => "sending",
            (TransferState::Receiving, _) => "receiving",
            (TransferState::Verifying, _) => "checking the SHA-256",
            (TransferState::Done, Direction::Out) => "delivered, SHA-256 verified",
            (TransferState::Done, Direction::In) => "received, SHA-256 verified",
            (TransferState::Declined, _) => "declined",
            (TransferState::Cancelled { .. }, _) => "cancelled",
            (TransferState::Failed { .. }, _) => "failed",
        }
    }

    /// The line shown for a cancelled or failed transfer.
    pub fn error_text(&self) -> Option<String> {
        match self {
            TransferState::Cancelled { by } => Some(format!("cancelled by {by}")),
            TransferState::Failed { reason } => Some(format!("transfer failed: {reason}")),
            TransferState::Declined => Some("declined".into()),
            _ => None,
        }
    }
}

/// Which way the bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn token(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// One transfer as the conversation shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Transfer {
    pub id: String,
    pub direction: Direction,
    pub name: String,
    pub size: u64,
    pub mime: String,
    pub state: TransferState,
    /// Bytes through so far (sent or received), updated at most every progress interval.
    pub bytes: u64,
    /// The current throughput in bytes per second, when known.
    pub rate: Option<f64>,
    /// This side's SHA-256 of the whole file (hex), once computed.
    pub sha256: Option<String>,
    /// The `blob:` URL of the received file, once verified.
    pub url: Option<String>,
}

impl Transfer {
    pub fn new(id: &str, direction: Direction, name: &str, size: u64, mime: &str) -> Self {
        Transfer {
            id: id.to_owned(),
            direction,
            name: name.to_owned(),
            size,
            mime: mime.to_owned(),
            state: TransferState::Offered,
            bytes: 0,
            rate: None,
            sha256: None,
            url: None,
        }
    }

    fn to(&mut self, allowed: bool, next: TransferState) -> bool {
        if allowed {
            self.state = next;
        }
        allowed
    }

    /// The receiver accepted.
    pub fn accept(&mut self) -> bool {
        let ok = self.state == TransferState::Offered;
        self.to(ok, TransferState::Accepted)
    }

    /// The receiver declined.
    pub fn decline(&mut self) -> bool {
        let ok = self.state == TransferState::Offered;
        self.to(ok, TransferState::Declined)
    }

    /// The file channel opened: bytes start to move.
    pub fn start(&mut self) -> bool {
        let ok = self.state == TransferState::Accepted;
        let next = match self.direction {
            Direction::Out => TransferState::Sending,
            Direction::In => TransferState::Receiving,
        };
        self.to(ok, next)
    }

    /// All bytes are through.
    pub fn verifying(&mut self) -> bool {
        let ok = matches!(
            self.state,
            TransferState::Sending | TransferState::Receiving
        );
        self.to(ok, TransferState::Verifying)
    }

    /// The digests matched.
    pub fn done(&mut self) -> bool {
        let ok = self.state == TransferState::Verifying;
        self.to(ok, TransferState::Done)
    }

    /// Someone cancelled; the first final state wins.
    pub fn cancel(&mut self, by: &str) -> bool {
        let ok = self.state.is_active();
        self.to(ok, TransferState::Cancelled { by: by.to_owned() })
    }

    /// Something went wrong; the first final state wins.
    pub fn fail(&mut self, reason: impl Into<String>) -> bool {
        let ok = self.state.is_active();
        self.to(
            ok,
            TransferState::Failed {
                reason: reason.into(),
            },
        )
    }

    /// The completed fraction, 0 to 1 (an empty file is complete once it is through).
    pub fn fraction(&self) -> f64 {
        if self.size == 0 {
            return if matches!(self.state, TransferState::Verifying | TransferState::Done) {
                1.0
            } else {
                0.0
            };
        }
        (self.bytes as f64 / self.size as f64).clamp(0.0, 1.0)
    }
}

/// The lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The sender's side: which bytes to read next, which to send next, and the running digest.
#[derive(Clone, Debug)]
pub struct SendPlan {
    size: u64,
    /// Bytes read from the file so far (the end of the last block asked for).
    read: u64,
    /// Bytes handed to the channel and hashed.
    sent: u64,
    hasher: Sha256,
}

impl SendPlan {
    pub fn new(size: u64) -> Self {
        SendPlan {
            size,
            read: 0,
            sent: 0,
            hasher: Sha256::new(),
        }
    }

    /// The next block of the file to read, or `None` when every byte has been asked for.
    pub fn next_block(&mut self) -> Option<Range<u64>> {
        if self.read >= self.size {
            return None;
        }
        let end = (self.read + READ_BLOCK_BYTES).min(self.size);
        let block = self.read..end;
        self.read = end;
        Some(block)
    }

    /// The chunks (offsets inside a block of `block_len` bytes) to send, in order.
    pub fn chunks(block_len: u64) -> impl Iterator<Item = Range<u64>> {
        (0..block_len)
            .step_by(CHUNK_BYTES as usize)
            .map(move |start| start..(start + CHUNK_BYTES).min(block_len))
    }

    /// Records a chunk as sent and hashes it.
    pub fn sent(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.sent += chunk.len() as u64;
    }

    pub fn bytes_sent(&self) -> u64 {
        self.sent
    }

    pub fn is_complete(&self) -> bool {
        self.sent >= self.size
    }

    /// The hex SHA-256 of everything sent.
    pub fn digest(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }
}

/// Why a received file is not the file that was offered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveError {
    #[error("{received} bytes arrived but the offer said {expected}")]
    TooMuch { expected: u64, received: u64 },
    #[error("the file ended after {received} of {expected} bytes")]
    SizeMismatch { expected: u64, received: u64 },
    #[error("the SHA-256 of the received file ({received}) differs from the sender's ({sent}); the file is damaged, ask for it again")]
    HashMismatch { sent: String, received: String },
}

/// The receiver's side: bytes counted against the offer, hashed as they arrive, and when to fold the
/// pending chunks into the growing blob.
#[derive(Clone, Debug)]
pub struct Reassembly {
    expected: u64,
    received: u64,
    /// Bytes received since the last fold.
    pending: u64,
    hasher: Sha256,
}

impl Reassembly {
    pub fn new(expected: u64) -> Self {
        Reassembly {
            expected,
            received: 0,
            pending: 0,
            hasher: Sha256::new(),
        }
    }

    /// Takes one chunk. More bytes than offered is an error (the chunk is not hashed).
    pub fn chunk(&mut self, bytes: &[u8]) -> Result<(), ReceiveError> {
        let received = self.received + bytes.len() as u64;
        if received > self.expected {
            return Err(ReceiveError::TooMuch {
                expected: self.expected,
                received,
            });
        }
        self.hasher.update(bytes);
        self.received = received;
        self.pending += bytes.len() as u64;
        Ok(())
    }

    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// Whether the pending chunks should be folded into the blob now.
    pub fn should_fold(&self) -> bool {
        self.pending >= FOLD_BYTES
    }

    /// The pending chunks were folded into the blob.
    pub fn folded(&mut self) {
        self.pending = 0;
    }

    /// The sender's end message arrived: checks the size (against the offer and the sender's count) and
    /// the digest, and returns this side's digest either way.
    pub fn finish(&self, sent_size: u64, sent_sha256: &str) -> (String, Result<(), ReceiveError>) {
        let digest = hex(&self.hasher.clone().finalize());
        let result = if self.received != self.expected || sent_size != self.expected {
            Err(ReceiveError::SizeMismatch {
                expected: self.expected,
                received: self.received,
            })
        } else if !digest.eq_ignore_ascii_case(sent_sha256) {
            Err(ReceiveError::HashMismatch {
                sent: sent_sha256.to_owned(),
                received: digest.clone(),
            })
        } else {
            Ok(())
        };
        (digest, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn sha(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    /// Sends `file` through a plan, chunk by chunk, and feeds a reassembly.
    fn transfer(file: &[u8]) -> (SendPlan, Reassembly, usize) {
        let mut plan = SendPlan::new(file.len() as u64);
        let mut rx = Reassembly::new(file.len() as u64);
        let mut messages = 0;
        while let Some(block) = plan.next_block() {
            let block_bytes = &file[block.start as usize..block.end as usize];
            for chunk in SendPlan::chunks(block_bytes.len() as u64) {
                let bytes = &block_bytes[chunk.start as usize..chunk.end as usize];
                assert!(bytes.len() as u64 <= CHUNK_BYTES);
                plan.sent(bytes);
                rx.chunk(bytes).unwrap();
                messages += 1;
                if rx.should_fold() {
                    rx.folded();
                }
            }
        }
        (plan, rx, messages)
    }

    #[test]
    fn a_file_arrives_whole_with_the_same_digest_on_both_sides() {
        for len in [
            0,
            1,
            CHUNK_BYTES as usize - 1,
            CHUNK_BYTES as usize,
            READ_BLOCK_BYTES as usize + 1,
            3 * 1024 * 1024 + 17,
        ] {
            let file = data(len);
            let (plan, rx, messages) = transfer(&file);
            assert!(plan.is_complete());
            assert_eq!(plan.bytes_sent(), len as u64);
            assert_eq!(messages, len.div_ceil(CHUNK_BYTES as usize), "{len}");
            assert_eq!(plan.digest(), sha(&file));
            let (digest, result) = rx.finish(len as u64, &plan.digest());
            assert_eq!(result, Ok(()), "{len}");
            assert_eq!(digest, sha(&file));
        }
    }

    #[test]
    fn blocks_cover_the_file_exactly_once() {
        let size = 5 * READ_BLOCK_BYTES + 3;
        let mut plan = SendPlan::new(size);
        let mut next = 0;
        while let Some(block) = plan.next_block() {
            assert_eq!(block.start, next);
            assert!(block.end - block.start <= READ_BLOCK_BYTES);
            next = block.end;
        }
        assert_eq!(next, size);
        assert_eq!(plan.next_block(), None);
        assert_eq!(SendPlan::next_block(&mut SendPlan::new(0)), None);
    }

    #[test]
    fn the_receiver_folds_every_eight_mebibytes() {
        let mut rx = Reassembly::new(20 * 1024 * 1024);
        let chunk = vec![0u8; CHUNK_BYTES as usize];
        let mut folds = 0;
        for _ in 0..(20 * 1024 * 1024 / CHUNK_BYTES) {
            rx.chunk(&chunk).unwrap();
            if rx.should_fold() {
                folds += 1;
                rx.folded();
            }
        }
        assert_eq!(folds, 2);
        assert!(!rx.should_fold(), "4 MiB pending, below the fold size");
    }

    #[test]
    fn more_bytes_than_offered_is_refused() {
        let mut rx = Reassembly::new(10);
        rx.chunk(&[1; 8]).unwrap();
        assert_eq!(
            rx.chunk(&[1; 3]),
            Err(ReceiveError::TooMuch {
                expected: 10,
                received: 11
            })
        );
        assert_eq!(rx.bytes_received(), 8, "the refused chunk is not counted");
    }

    #[test]
    fn a_short_file_is_a_size_mismatch() {
        let file = data(100);
        let mut rx = Reassembly::new(100);
        rx.chunk(&file[..60]).unwrap();
        let (_, result) = rx.finish(100, &sha(&file));
        assert_eq!(
            result,
            Err(ReceiveError::SizeMismatch {
                expected: 100,
                received: 60
            })
        );
        // The sender claims a different size than it offered.
        let mut rx = Reassembly::new(100);
        rx.chunk(&file).unwrap();
        assert!(matches!(
            rx.finish(99, &sha(&file)).1,
            Err(ReceiveError::SizeMismatch { .. })
        ));
    }

    #[test]
    fn a_changed_byte_is_a_hash_mismatch() {
        let file = data(1000);
        let mut damaged = file.clone();
        damaged[500] ^= 1;
        let mut rx = Reassembly::new(1000);
        rx.chunk(&damaged).unwrap();
        let (digest, result) = rx.finish(1000, &sha(&file));
        assert_eq!(digest, sha(&damaged));
        let err = result.unwrap_err();
        assert!(matches!(err, ReceiveError::HashMismatch { .. }));
        assert!(err.to_string().contains("ask for it again"));
        // Upper-case hex from a peer is the same digest.
        let mut rx = Reassembly::new(1000);
        rx.chunk(&file).unwrap();
        assert_eq!(rx.finish(1000, &sha(&file).to_uppercase()).1, Ok(()));
    }

    #[test]
    fn flow_control_stops_at_the_high_water_mark() {
        assert!(may_send(0));
        assert!(may_send(HIGH_WATER_BYTES - 1));
        assert!(!may_send(HIGH_WATER_BYTES));
        const {
            assert!(LOW_WATER_BYTES < HIGH_WATER_BYTES);
            assert!(CHUNK_BYTES <= 256 * 1024, "below Chrome's message limit");
            assert!(READ_BLOCK_BYTES.is_multiple_of(CHUNK_BYTES));
        }
    }

    fn offered(direction: Direction) -> Transfer {
        Transfer::new("t-1", direction, "a.bin", 10, "application/octet-stream")
    }

    #[test]
    fn the_happy_path_of_both_sides() {
        let mut out = offered(Direction::Out);
        let mut inn = offered(Direction::In);
        assert!(inn.accept() && out.accept());
        assert!(out.start() && inn.start());
        assert_eq!(out.state, TransferState::Sending);
        assert_eq!(inn.state, TransferState::Receiving);
        assert!(out.verifying() && inn.verifying());
        assert!(out.done() && inn.done());
        assert_eq!(out.state.token(), "done");
        assert!(out.state.is_final());
        assert_eq!(out.state.error_text(), None);
    }

    #[test]
    fn the_first_final_state_wins_a_cancel_race() {
        let mut t = offered(Direction::Out);
        t.accept();
        t.start();
        assert!(t.cancel("Ada"));
        assert!(!t.cancel("Bob"), "the other side's cancel arrives second");
        assert!(!t.fail("Bob left"));
        assert!(!t.verifying());
        assert_eq!(t.state.error_text().as_deref(), Some("cancelled by Ada"));

        let mut t = offered(Direction::In);
        t.accept();
        t.start();
        t.verifying();
        t.done();
        assert!(!t.cancel("Ada"), "a cancel after done changes nothing");
        assert_eq!(t.state, TransferState::Done);
    }

    #[test]
    fn answers_only_apply_to_an_offer() {
        let mut t = offered(Direction::In);
        assert!(t.decline());
        assert!(!t.accept(), "accept after decline");
        assert!(!t.decline(), "a second decline");
        assert!(!t.cancel("Ada"));
        assert_eq!(t.state.token(), "declined");

        let mut t = offered(Direction::Out);
        assert!(t.cancel("Ada"), "an offer may be withdrawn");
        assert!(!t.accept(), "the accept that crossed the cancel");
        assert!(!t.start());
        assert_eq!(t.state.token(), "cancelled");

        let mut t = offered(Direction::Out);
        assert!(!t.start(), "nothing starts before the answer");
        assert!(!t.done());
    }

    #[test]
    fn each_side_reads_where_the_transfer_is() {
        let check = |state: TransferState, out: &str, inn: &str| {
            assert_eq!(state.words(Direction::Out), out, "{state:?}");
            assert_eq!(state.words(Direction::In), inn, "{state:?}");
        };
        check(
            TransferState::Offered,
            "waiting for an answer",
            "wants to send you this file",
        );
        let accepted = "accepted; opening the file channel";
        check(TransferState::Accepted, accepted, accepted);
        check(TransferState::Sending, "sending", "sending");
        check(TransferState::Receiving, "receiving", "receiving");
        let verifying = "checking the SHA-256";
        check(TransferState::Verifying, verifying, verifying);
        check(
            TransferState::Done,
            "delivered, SHA-256 verified",
            "received, SHA-256 verified",
        );
        check(TransferState::Declined, "declined", "declined");
        let cancelled = TransferState::Cancelled { by: "Ada".into() };
        check(cancelled, "cancelled", "cancelled");
        let failed = TransferState::Failed {
            reason: "Ada left".into(),
        };
        check(failed, "failed", "failed");
    }

    #[test]
    fn failure_text_names_the_reason() {
        let mut t = offered(Direction::In);
        t.accept();
        t.fail("Ada left");
        assert_eq!(
            t.state.error_text().as_deref(),
            Some("transfer failed: Ada left")
        );
    }

    #[test]
    fn progress_is_a_clamped_fraction() {
        let mut t = offered(Direction::In);
        t.bytes = 5;
        assert_eq!(t.fraction(), 0.5);
        t.bytes = 50;
        assert_eq!(t.fraction(), 1.0);
        let mut empty = Transfer::new("t", Direction::In, "e", 0, "");
        assert_eq!(empty.fraction(), 0.0);
        empty.accept();
        empty.start();
        empty.verifying();
        assert_eq!(empty.fraction(), 1.0);
    }
}
