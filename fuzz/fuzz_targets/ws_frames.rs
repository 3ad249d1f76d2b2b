//! Fuzzes the relay's WebSocket frame reader (`server/src/transport/codec.rs`, compiled here from its
//! source: the codec imports nothing of the server crate, so it builds without the relay's dependencies).
//!
//! The first four bytes choose the limits and a split point; the rest is what a client sends. It checks
//! that nothing panics; that the messages, the replies, the error and whether the input ends between
//! messages are the same whether the input arrives whole, split at the chosen point, or (when short) one
//! byte at a time; that every error maps to a close code the relay may send (1002, 1007 or 1009) with a
//! reason that fits in a close frame; that no message is longer than the limits allow; and that a reader
//! that took every whole frame holds no buffer.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../server/src/transport/codec.rs"]
mod codec;

use codec::{FrameError, FrameReader, Limits, Reply};
use tungstenite::Message;

/// Everything the reader gave for one way of cutting the input.
#[derive(Debug, PartialEq)]
struct Outcome {
    items: Vec<Result<(Message, Option<Reply>), FrameError>>,
    at_boundary: bool,
}

/// Feeds `input` in pieces that end at `cuts` (and at its end), reading whatever each piece completes.
fn run(input: &[u8], cuts: &[usize], limits: Limits) -> Outcome {
    let mut reader = FrameReader::new(Vec::new(), limits);
    let mut items = Vec::new();
    let mut at = 0;
    for &end in cuts.iter().chain(std::iter::once(&input.len())) {
        if end <= at {
            continue;
        }
        let mut item = reader.feed(&input[at..end]);
        at = end;
        while let Some(got) = item {
            let failed = got.is_err();
            items.push(got.map(|d| (d.message, d.reply)));
            if failed {
                return Outcome {
                    items,
                    at_boundary: false,
                };
            }
            item = reader.next_pending();
        }
    }
    let at_boundary = reader.at_boundary();
    if at_boundary {
        assert_eq!(reader.held_bytes(), 0, "a reader between messages holds a buffer");
    }
    Outcome { items, at_boundary }
}

fuzz_target!(|data: &[u8]| {
    let [f, m, s0, s1, ref input @ ..] = *data else {
        return;
    };
    // Small limits, so that the size checks are reached as often as the rest.
    let max_frame = usize::from(f) * 32;
    let limits = Limits {
        max_frame,
        max_message: max_frame + usize::from(m) * 32,
    };
    let whole = run(input, &[], limits);
    for item in &whole.items {
        match item {
            Ok((Message::Text(t), _)) => assert!(t.len() <= limits.max_message.max(limits.max_frame)),
            Ok((Message::Binary(b), _)) => assert!(b.len() <= limits.max_message.max(limits.max_frame)),
            Ok((Message::Ping(p), reply)) => {
                assert!(p.len() <= 125);
                assert_eq!(reply, &Some(Reply::Pong(p.clone())));
            }
            Ok((Message::Close(_), reply)) => assert!(matches!(reply, Some(Reply::Close(_)))),
            Ok((Message::Pong(_), reply)) => assert!(reply.is_none()),
            Ok((Message::Frame(_), _)) => panic!("the reader never gives raw frames"),
            Err(err) => {
                let (code, reason) = err.close();
                assert!(matches!(code, 1002 | 1007 | 1009), "{err:?} → {code}");
                assert!(!reason.is_empty() && reason.len() <= 123, "{reason:?}");
            }
        }
    }
    let at = usize::from(u16::from_le_bytes([s0, s1])) % (input.len() + 1);
    assert_eq!(run(input, &[at], limits), whole, "split at {at}");
    if input.len() <= 512 {
        let every: Vec<usize> = (1..input.len()).collect();
        assert_eq!(run(input, &every, limits), whole, "one byte at a time");
    }
});
