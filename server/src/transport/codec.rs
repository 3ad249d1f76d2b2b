//! The relay's RFC 6455 framing as pure functions: client frames in, messages out; messages in, server
//! frames out. No I/O, no clock, no shared state; it imports nothing from the rest of the crate (the fuzz
//! target compiles this file on its own), so it can be tested and fuzzed on byte slices alone.
//!
//! It speaks RFC 6455 as a server without extensions: client frames must be masked and have no reserved bits
//! set; control frames are final and at most 125 bytes; fragmented messages are reassembled (control frames
//! may come between their fragments) up to [`Limits::max_message`] exactly; text must be UTF-8; a frame over
//! [`Limits::max_frame`] is refused from its header, before its payload is read. Every violation is a
//! [`FrameError`], and every [`FrameError`] has the close code and reason the connection ends with
//! ([`FrameError::close`]: 1002, 1007 or 1009). A ping asks for a pong and a close for a close echoing its
//! code ([`Reply`]); the caller writes them.
//!
//! [`FrameReader`] holds what one connection's reader needs between reads: a frame that arrived in part, and
//! the frames of one read after the one last returned, taken by a cursor (never by shifting the buffer,
//! which made a read of many small frames quadratic in their number). A read that ends with a whole frame
//! leaves it holding nothing, so an idle connection costs no buffer.

use std::fmt;

use tungstenite::protocol::CloseFrame;
use tungstenite::{Bytes, Message, Utf8Bytes};

/// Close code for a broken framing rule.
pub const PROTOCOL_ERROR: u16 = 1002;
/// Close code for text (or a close reason) that is not UTF-8.
pub const INVALID_DATA: u16 = 1007;
/// Close code for a frame or message over the size limit.
pub const TOO_BIG: u16 = 1009;

const OP_CONTINUATION: u8 = 0x0;
/// The opcode of a text frame.
pub const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// A client's violation of the framing rules: the connection ends with [`FrameError::close`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The client broke the framing rules (close code 1002).
    Protocol(&'static str),
    /// A text message or close reason that is not UTF-8 (close code 1007).
    InvalidUtf8,
    /// A frame or reassembled message over the limit: its size so far, and the limit (close code 1009).
    TooBig(u64, usize),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Protocol(why) => write!(f, "WebSocket protocol error: {why}"),
            FrameError::InvalidUtf8 => f.write_str("text that is not UTF-8"),
            FrameError::TooBig(size, limit) => write!(
                f,
                "a frame or message of {size} bytes or more, over the limit of {limit}"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

impl FrameError {
    /// The close code the relay answers this with, and the close frame's reason.
    pub fn close(&self) -> (u16, &'static str) {
        match self {
            FrameError::Protocol(why) => (PROTOCOL_ERROR, why),
            FrameError::InvalidUtf8 => (INVALID_DATA, "text that is not UTF-8"),
            FrameError::TooBig(..) => (TOO_BIG, "frame or message over the size limit"),
        }
    }
}

/// Size limits on what a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest frame payload accepted.
    pub max_frame: usize,
    /// The largest message accepted over all its fragments, each fragment counted as at least
    /// [`FRAGMENT_MIN_COST`] bytes.
    pub max_message: usize,
}

/// What each fragment of a message costs against [`Limits::max_message`] at least: a message may not
/// arrive in more than `max_message / 64` fragments, so a client cannot keep the reader busy with endless
/// empty fragments that never make a message (and so never reach the rate limiter).
pub const FRAGMENT_MIN_COST: usize = 64;

/// One client frame's header.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Payload length.
    len: usize,
    /// Header length (2 to 14 bytes).
    size: usize,
}

/// Parses a client frame's header from the start of `buf`: `None` until all of it is there. Refuses a frame
/// over `limits.max_frame` from its header alone, so its payload is never read into memory.
fn parse_header(buf: &[u8], limits: &Limits) -> Result<Option<Header>, FrameError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(FrameError::Protocol(
            "reserved bits set (no extension was agreed)",
        ));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    match opcode {
        OP_CONTINUATION | OP_TEXT | OP_BINARY => {}
        OP_CLOSE | OP_PING | OP_PONG => {
            if !fin {
                return Err(FrameError::Protocol("fragmented control frame"));
            }
            if b1 & 0x7F > 125 {
                return Err(FrameError::Protocol("control frame over 125 bytes"));
            }
        }
        _ => return Err(FrameError::Protocol("unknown opcode")),
    }
    if b1 & 0x80 == 0 {
        return Err(FrameError::Protocol("client frames must be masked"));
    }
    let (len, at) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut n = [0u8; 8];
                n.copy_from_slice(b);
                let len = u64::from_be_bytes(n);
                if len >> 63 != 0 {
                    return Err(FrameError::Protocol("frame length with its top bit set"));
                }
                (len, 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if len > limits.max_frame as u64 {
        return Err(FrameError::TooBig(len, limits.max_frame));
    }
    let Some(m) = buf.get(at..at + 4) else {
        return Ok(None);
    };
    Ok(Some(Header {
        fin,
        opcode,
        mask: [m[0], m[1], m[2], m[3]],
        len: len as usize,
        size: at + 4,
    }))
}

/// Appends `src` unmasked with `mask` (starting at mask byte 0) to `out`.
fn unmask_into(out: &mut Vec<u8>, src: &[u8], mask: [u8; 4]) {
    let start = out.len();
    out.extend_from_slice(src);
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = out[start..].chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // Every chunk so far was 8 bytes, so the rest starts at mask byte 0 again.
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

fn unmasked(src: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    unmask_into(&mut out, src, mask);
    out
}

/// Whether a client may send `code` in a close frame (RFC 6455 §7.4).
fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A message being reassembled from fragments.
#[derive(Debug)]
struct Fragments {
    opcode: u8,
    data: Vec<u8>,
    /// The fragments' size with each counted as at least [`FRAGMENT_MIN_COST`]; held to
    /// [`Limits::max_message`].
    cost: usize,
}

/// The frame a message asks the server to answer with, as soon as it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A pong carrying the ping's payload.
    Pong(Bytes),
    /// A close frame echoing the client's code (none when the client gave none).
    Close(Option<u16>),
}

impl Reply {
    /// Appends the server frame for this reply to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Pong(data) => {
                put_header(out, OP_PONG, data.len());
                out.extend_from_slice(data);
            }
            Reply::Close(None) => put_header(out, OP_CLOSE, 0),
            Reply::Close(Some(code)) => {
                put_header(out, OP_CLOSE, 2);
                out.extend_from_slice(&code.to_be_bytes());
            }
        }
    }
}

/// What one whole frame gave.
#[derive(Debug)]
enum Step {
    /// A message for the caller, and the frame to answer it with, if any.
    Message(Message, Option<Reply>),
    /// A fragment that does not finish its message.
    Nothing,
}

/// Turns client frames into messages: the framing rules and fragment reassembly.
#[derive(Debug, Default)]
struct Decoder {
    /// The message whose fragments are arriving; `None` nearly always (browsers do not fragment signals).
    fragments: Option<Box<Fragments>>,
}

impl Decoder {
    /// Reads the first frame of `buf`: `Ok(None)` until the whole frame is there, else what it gave and how
    /// many bytes it took.
    fn step(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<(Step, usize)>, FrameError> {
        let Some(h) = parse_header(buf, limits)? else {
            return Ok(None);
        };
        let Some(payload) = buf.get(h.size..h.size + h.len) else {
            return Ok(None);
        };
        let used = h.size + h.len;
        let step = match h.opcode {
            OP_TEXT | OP_BINARY if self.fragments.is_some() => {
                return Err(FrameError::Protocol(
                    "a new message began before the fragmented one ended",
                ))
            }
            OP_TEXT | OP_BINARY if h.fin => {
                Step::Message(data_message(h.opcode, unmasked(payload, h.mask))?, None)
            }
            OP_TEXT | OP_BINARY => {
                let cost = h.len.max(FRAGMENT_MIN_COST);
                if cost > limits.max_message {
                    return Err(FrameError::TooBig(cost as u64, limits.max_message));
                }
                self.fragments = Some(Box::new(Fragments {
                    opcode: h.opcode,
                    data: unmasked(payload, h.mask),
                    cost,
                }));
                Step::Nothing
            }
            OP_CONTINUATION => {
                let Some(fragments) = self.fragments.as_mut() else {
                    return Err(FrameError::Protocol(
                        "a continuation frame with no message to continue",
                    ));
                };
                fragments.cost += h.len.max(FRAGMENT_MIN_COST);
                if fragments.cost > limits.max_message {
                    return Err(FrameError::TooBig(
                        fragments.cost as u64,
                        limits.max_message,
                    ));
                }
                unmask_into(&mut fragments.data, payload, h.mask);
                if !h.fin {
                    return Ok(Some((Step::Nothing, used)));
                }
                let Some(done) = self.fragments.take() else {
                    return Ok(Some((Step::Nothing, used)));
                };
                Step::Message(data_message(done.opcode, done.data)?, None)
            }
            OP_PING => {
                let data = Bytes::from(unmasked(payload, h.mask));
                Step::Message(Message::Ping(data.clone()), Some(Reply::Pong(data)))
            }
            OP_PONG => Step::Message(Message::Pong(Bytes::from(unmasked(payload, h.mask))), None),
            _ => {
                // A close frame: echo its code, as RFC 6455 asks.
                let data = unmasked(payload, h.mask);
                let (frame, code) = match data.len() {
                    0 => (None, None),
                    1 => return Err(FrameError::Protocol("a close frame with a 1-byte payload")),
                    _ => {
                        let code = u16::from_be_bytes([data[0], data[1]]);
                        if !close_code_allowed(code) {
                            return Err(FrameError::Protocol("a close code clients may not send"));
                        }
                        let reason = Utf8Bytes::try_from(data[2..].to_vec())
                            .map_err(|_| FrameError::InvalidUtf8)?;
                        let frame = CloseFrame {
                            code: code.into(),
                            reason,
                        };
                        (Some(frame), Some(code))
                    }
                };
                Step::Message(Message::Close(frame), Some(Reply::Close(code)))
            }
        };
        Ok(Some((step, used)))
    }
}

fn data_message(opcode: u8, data: Vec<u8>) -> Result<Message, FrameError> {
    Ok(if opcode == OP_TEXT {
        Message::Text(
            String::from_utf8(data)
                .map_err(|_| FrameError::InvalidUtf8)?
                .into(),
        )
    } else {
        Message::Binary(Bytes::from(data))
    })
}

/// A message read from the client, and the frame the server must answer it with at once, if any.
#[derive(Debug)]
pub struct Decoded {
    pub message: Message,
    pub reply: Option<Reply>,
}

/// One connection's reader: the bytes of a frame that is not whole yet, or of frames after the one last
/// returned, and the message being reassembled. See the module doc.
#[derive(Debug)]
pub struct FrameReader {
    /// Bytes read but not yet made into messages. Unallocated while there are none, which is nearly always.
    pending: Vec<u8>,
    /// How much of `pending` has been made into messages (the cursor; see the module doc).
    taken: usize,
    decoder: Decoder,
    limits: Limits,
}

impl FrameReader {
    /// A reader that first reads `pending` (bytes already read from the socket, such as what followed the
    /// handshake).
    pub fn new(pending: Vec<u8>, limits: Limits) -> Self {
        FrameReader {
            pending,
            taken: 0,
            decoder: Decoder::default(),
            limits,
        }
    }

    /// Reads messages from `input` until one is complete: it, and how many bytes were used.
    fn next_in(
        decoder: &mut Decoder,
        input: &[u8],
        limits: &Limits,
    ) -> (Option<Result<Decoded, FrameError>>, usize) {
        let mut used = 0;
        loop {
            match decoder.step(&input[used..], limits) {
                Ok(None) => return (None, used),
                Ok(Some((Step::Nothing, n))) => used += n,
                Ok(Some((Step::Message(message, reply), n))) => {
                    return (Some(Ok(Decoded { message, reply })), used + n)
                }
                Err(err) => return (Some(Err(err)), used),
            }
        }
    }

    /// The next message from the bytes kept from earlier reads alone, if they hold one. After an error the
    /// reader holds nothing and must not be used again.
    pub fn next_pending(&mut self) -> Option<Result<Decoded, FrameError>> {
        if self.taken == self.pending.len() {
            return None;
        }
        let (item, used) =
            Self::next_in(&mut self.decoder, &self.pending[self.taken..], &self.limits);
        self.taken += used;
        if self.taken == self.pending.len() || matches!(item, Some(Err(_))) {
            self.pending = Vec::new();
            self.taken = 0;
        }
        item
    }

    /// Takes the bytes of one read from the socket (`got`): the message they complete, if any. Whatever is
    /// left over is kept (read it with [`FrameReader::next_pending`] before the next read); nothing is kept
    /// when `got` ends with a whole frame.
    pub fn feed(&mut self, got: &[u8]) -> Option<Result<Decoded, FrameError>> {
        if self.taken < self.pending.len() {
            // Compacted once per read, not per frame taken.
            self.pending.drain(..self.taken);
            self.taken = 0;
            self.pending.extend_from_slice(got);
            return self.next_pending();
        }
        // The usual case: whole frames straight from the caller's buffer.
        let (item, used) = Self::next_in(&mut self.decoder, got, &self.limits);
        if used < got.len() && !matches!(item, Some(Err(_))) {
            self.pending = got[used..].to_vec();
            self.taken = 0;
        }
        item
    }

    /// Whether the input so far ends between messages: the end of input here is a clean end, elsewhere
    /// a truncated frame or message.
    pub fn at_boundary(&self) -> bool {
        self.taken == self.pending.len() && self.decoder.fragments.is_none()
    }

    /// Drops whatever is held (after an error or the client's close).
    pub fn clear(&mut self) {
        self.pending = Vec::new();
        self.taken = 0;
        self.decoder.fragments = None;
    }

    /// The capacity of the buffer held between reads: zero once every frame read is taken.
    pub fn held_bytes(&self) -> usize {
        self.pending.capacity()
    }
}

/// Appends a server (unmasked, final) frame's header for a payload of `len` bytes to `out`.
pub fn put_header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    let b0 = 0x80 | opcode;
    if len < 126 {
        out.extend_from_slice(&[b0, len as u8]);
    } else if len <= u16::MAX as usize {
        out.extend_from_slice(&[b0, 126]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.extend_from_slice(&[b0, 127]);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Why a message cannot be written as a server frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsendable(pub &'static str);

impl fmt::Display for Unsendable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot send {}", self.0)
    }
}

impl std::error::Error for Unsendable {}

/// Whether [`encode`] can write `message` as a server frame.
pub fn check_sendable(message: &Message) -> Result<(), Unsendable> {
    let control = match message {
        Message::Text(_) | Message::Binary(_) => 0,
        Message::Ping(b) | Message::Pong(b) => b.len(),
        Message::Close(None) => 0,
        Message::Close(Some(frame)) => 2 + frame.reason.len(),
        Message::Frame(_) => return Err(Unsendable("raw frames")),
    };
    if control > 125 {
        return Err(Unsendable("a control frame over 125 bytes"));
    }
    Ok(())
}

/// Appends the server frame for `message` (checked by [`check_sendable`]) to `out`.
pub fn encode(out: &mut Vec<u8>, message: &Message) {
    let (opcode, payload): (u8, &[u8]) = match message {
        Message::Text(t) => (OP_TEXT, t.as_bytes()),
        Message::Binary(b) => (OP_BINARY, b),
        Message::Ping(b) => (OP_PING, b),
        Message::Pong(b) => (OP_PONG, b),
        Message::Close(None) => (OP_CLOSE, &[]),
        Message::Close(Some(frame)) => {
            encode_close(out, frame.code.into(), &frame.reason);
            return;
        }
        Message::Frame(_) => return,
    };
    put_header(out, opcode, payload.len());
    out.extend_from_slice(payload);
}

/// Appends a close frame with `code` and `reason` (at most 123 bytes, as [`check_sendable`] checks) to `out`.
pub fn encode_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    put_header(out, OP_CLOSE, 2 + reason.len());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_frame: 70_000,
        max_message: 100_000,
    };

    /// A client frame: `first` is the first header byte (FIN, RSV and opcode), masked with `mask` unless it
    /// is `None`.
    fn raw(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = Vec::new();
        let len = payload.len();
        let m = if mask.is_some() { 0x80 } else { 0 };
        if len < 126 {
            out.extend_from_slice(&[first, m | len as u8]);
        } else if len <= 0xFFFF {
            out.extend_from_slice(&[first, m | 126]);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.extend_from_slice(&[first, m | 127]);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        match mask {
            Some(mask) => {
                out.extend_from_slice(&mask);
                out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            }
            None => out.extend_from_slice(payload),
        }
        out
    }

    fn client(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        raw(
            if fin { 0x80 } else { 0 } | opcode,
            payload,
            Some([0x37, 0xfa, 0x21, 0x3d]),
        )
    }

    fn reader() -> FrameReader {
        FrameReader::new(Vec::new(), LIMITS)
    }

    /// Feeds `input` in pieces of the given sizes (the rest in one piece) and collects what comes out, as
    /// the socket adapter does: whatever is kept is read before the next piece.
    fn feed(
        reader: &mut FrameReader,
        input: &[u8],
        sizes: &[usize],
    ) -> Vec<Result<Message, String>> {
        let mut out = Vec::new();
        let mut at = 0;
        let mut sizes = sizes.iter().copied();
        while at < input.len() {
            let n = sizes
                .next()
                .unwrap_or(input.len() - at)
                .clamp(1, input.len() - at);
            let mut item = reader.feed(&input[at..at + n]);
            at += n;
            while let Some(got) = item {
                let failed = got.is_err();
                out.push(got.map(|d| d.message).map_err(|e| e.to_string()));
                if failed {
                    return out;
                }
                item = reader.next_pending();
            }
        }
        out
    }

    fn text(s: &str) -> Result<Message, String> {
        Ok(Message::text(s))
    }

    /// A stream with every kind of frame a client sends, and the messages it must give.
    fn mixed_stream() -> (Vec<u8>, Vec<Result<Message, String>>) {
        let long = "é".repeat(40_000);
        let sizes = [0usize, 1, 125, 126, 65_535, 65_536];
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for n in sizes {
            let s = "x".repeat(n);
            input.extend(client(true, OP_TEXT, s.as_bytes()));
            expected.push(text(&s));
        }
        // A text message in three fragments, with a ping and a pong between them; the split falls
        // inside a two-byte character.
        let bytes = long.as_bytes();
        input.extend(client(false, OP_TEXT, &bytes[..33_333]));
        input.extend(client(true, OP_PING, b"are you there"));
        input.extend(client(false, OP_CONTINUATION, &bytes[33_333..50_001]));
        input.extend(client(true, OP_PONG, b""));
        input.extend(client(true, OP_CONTINUATION, &bytes[50_001..]));
        expected.push(Ok(Message::Ping(Bytes::from_static(b"are you there"))));
        expected.push(Ok(Message::Pong(Bytes::new())));
        expected.push(text(&long));
        input.extend(client(true, OP_BINARY, &[0, 1, 2, 3, 255]));
        expected.push(Ok(Message::Binary(Bytes::from_static(&[0, 1, 2, 3, 255]))));
        input.extend(client(true, OP_TEXT, br#"{"type":"signal"}"#));
        expected.push(text(r#"{"type":"signal"}"#));
        let mut close = 1000u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"bye");
        input.extend(client(true, OP_CLOSE, &close));
        expected.push(Ok(Message::Close(Some(CloseFrame {
            code: 1000.into(),
            reason: "bye".into(),
        }))));
        (input, expected)
    }

    #[test]
    fn a_whole_frame_becomes_its_message_and_nothing_is_kept() {
        let mut r = reader();
        let frame = client(true, OP_TEXT, b"hello");
        assert_eq!(feed(&mut r, &frame, &[]), vec![text("hello")]);
        assert_eq!(r.held_bytes(), 0);
        assert!(r.at_boundary());
    }

    #[test]
    fn every_split_of_the_input_gives_the_same_messages() {
        let (input, expected) = mixed_stream();
        // One byte at a time, then random splits (a small xorshift, so failures repeat).
        let mut r = reader();
        assert_eq!(feed(&mut r, &input, &vec![1; input.len()]), expected);
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..300 {
            let mut sizes = Vec::new();
            let mut total = 0;
            while total < input.len() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Mostly short pieces, sometimes long ones, so frames end anywhere in a piece.
                let n = match seed % 4 {
                    0 => (seed >> 8) as usize % 8 + 1,
                    1 => (seed >> 8) as usize % 2_000 + 1,
                    _ => (seed >> 8) as usize % 70_000 + 1,
                };
                sizes.push(n);
                total += n;
            }
            let mut r = reader();
            assert_eq!(
                feed(&mut r, &input, &sizes),
                expected,
                "round {round}: {sizes:?}"
            );
            assert_eq!(r.held_bytes(), 0, "round {round}: nothing kept at the end");
            assert!(r.at_boundary());
        }
    }

    #[test]
    fn frames_of_one_read_are_taken_by_a_cursor_without_shifting_the_rest() {
        let mut r = reader();
        let input: Vec<u8> = (0..10_000)
            .flat_map(|_| client(true, OP_PONG, b""))
            .collect();
        let pong = |item: Option<Result<Decoded, FrameError>>| matches!(item, Some(Ok(Decoded { message: Message::Pong(b), reply: None })) if b.is_empty());
        assert!(pong(r.feed(&input)));
        let (kept, at) = (r.pending.len(), r.pending.as_ptr());
        assert_eq!(kept, input.len() - 6);
        for i in 1..10_000 {
            assert_eq!(
                r.pending.len(),
                kept,
                "frame {i}: the kept bytes were shifted"
            );
            assert_eq!(r.pending.as_ptr(), at);
            assert!(pong(r.next_pending()), "frame {i}");
        }
        assert!(r.next_pending().is_none());
        assert_eq!(r.held_bytes(), 0, "freed once every frame is taken");
    }

    #[test]
    fn pings_ask_for_a_pong_and_closes_for_an_echo() {
        let cases: Vec<(Vec<u8>, Reply, &[u8])> = vec![
            (
                client(true, OP_PING, b"p1"),
                Reply::Pong(Bytes::from_static(b"p1")),
                b"\x8a\x02p1",
            ),
            (
                client(true, OP_CLOSE, &1001u16.to_be_bytes()),
                Reply::Close(Some(1001)),
                b"\x88\x02\x03\xe9",
            ),
            (client(true, OP_CLOSE, b""), Reply::Close(None), b"\x88\x00"),
        ];
        for (input, reply, wire) in cases {
            let decoded = reader().feed(&input).unwrap().unwrap();
            assert_eq!(decoded.reply.as_ref(), Some(&reply));
            let mut out = Vec::new();
            reply.encode(&mut out);
            assert_eq!(out, wire);
        }
    }

    #[test]
    fn bad_frames_are_refused_with_the_close_code_that_says_why() {
        let close = |code: u16, reason: &[u8]| {
            let mut p = code.to_be_bytes().to_vec();
            p.extend_from_slice(reason);
            client(true, OP_CLOSE, &p)
        };
        let mut too_long = vec![0x81, 0xFF];
        too_long.extend_from_slice(&(1u64 << 63).to_be_bytes());
        too_long.extend_from_slice(&[0; 4]);
        let cases: Vec<(&str, Vec<u8>, u16)> = vec![
            ("unmasked", raw(0x81, b"hi", None), PROTOCOL_ERROR),
            (
                "reserved bit",
                raw(0xC1, b"hi", Some([1, 2, 3, 4])),
                PROTOCOL_ERROR,
            ),
            ("unknown opcode", client(true, 0x3, b"hi"), PROTOCOL_ERROR),
            (
                "fragmented ping",
                client(false, OP_PING, b""),
                PROTOCOL_ERROR,
            ),
            (
                "long ping",
                client(true, OP_PING, &[0; 126]),
                PROTOCOL_ERROR,
            ),
            (
                "lone continuation",
                client(true, OP_CONTINUATION, b"x"),
                PROTOCOL_ERROR,
            ),
            (
                "text inside a fragmented message",
                [client(false, OP_TEXT, b"a"), client(true, OP_TEXT, b"b")].concat(),
                PROTOCOL_ERROR,
            ),
            ("1-byte close", client(true, OP_CLOSE, &[3]), PROTOCOL_ERROR),
            ("close code 1005", close(1005, b""), PROTOCOL_ERROR),
            ("close code 999", close(999, b""), PROTOCOL_ERROR),
            ("close code 5000", close(5000, b""), PROTOCOL_ERROR),
            ("length with its top bit", too_long, PROTOCOL_ERROR),
            (
                "text not UTF-8",
                client(true, OP_TEXT, &[0xC3, 0x28]),
                INVALID_DATA,
            ),
            (
                "fragments not UTF-8 together",
                [
                    client(false, OP_TEXT, &[0xE2, 0x82]),
                    client(true, OP_CONTINUATION, &[0x28]),
                ]
                .concat(),
                INVALID_DATA,
            ),
            ("close reason not UTF-8", close(1000, &[0xFF]), INVALID_DATA),
            // Refused from its header, before its payload is read.
            (
                "frame over the limit",
                client(true, OP_TEXT, &vec![b'x'; 70_001])[..14].to_vec(),
                TOO_BIG,
            ),
            (
                "a message in more empty fragments than the limit allows",
                [client(false, OP_TEXT, b"")]
                    .into_iter()
                    .chain(
                        (0..100_000 / FRAGMENT_MIN_COST)
                            .map(|_| client(false, OP_CONTINUATION, b"")),
                    )
                    .collect::<Vec<_>>()
                    .concat(),
                TOO_BIG,
            ),
            (
                "message over the limit by one byte",
                [
                    client(false, OP_TEXT, &vec![b'x'; 60_000]),
                    client(true, OP_CONTINUATION, &vec![b'x'; 40_001]),
                ]
                .concat(),
                TOO_BIG,
            ),
        ];
        for (what, input, code) in cases {
            let mut r = reader();
            let out = feed(&mut r, &input, &[]);
            assert!(matches!(out.last(), Some(Err(_))), "{what}: {out:?}");
            let mut r = reader();
            let err = loop {
                match r.feed(&input) {
                    Some(Err(err)) => break err,
                    Some(Ok(_)) if r.next_pending().is_none() => panic!("{what}: no error"),
                    _ => continue,
                }
            };
            assert_eq!(err.close().0, code, "{what}: {err}");
        }
    }

    #[test]
    fn a_message_of_exactly_the_limit_passes_in_fragments() {
        let input = [
            client(false, OP_TEXT, &vec![b'x'; 60_000]),
            client(true, OP_CONTINUATION, &vec![b'x'; 40_000]),
        ]
        .concat();
        assert_eq!(
            feed(&mut reader(), &input, &[]),
            vec![text(&"x".repeat(100_000))]
        );
    }

    #[test]
    fn server_frames_use_the_shortest_header() {
        for (len, head) in [
            (0usize, vec![0x81, 0]),
            (125, vec![0x81, 125]),
            (126, vec![0x81, 126, 0, 126]),
            (65_535, vec![0x81, 126, 0xff, 0xff]),
            (65_536, vec![0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let mut out = Vec::new();
            encode(&mut out, &Message::text("x".repeat(len)));
            assert_eq!(&out[..head.len()], &head[..], "{len}");
            assert_eq!(out.len(), head.len() + len);
        }
        assert!(check_sendable(&Message::Ping(Bytes::from(vec![0; 126]))).is_err());
        let mut out = Vec::new();
        encode(
            &mut out,
            &Message::Close(Some(CloseFrame {
                code: 4001.into(),
                reason: "slow".into(),
            })),
        );
        assert_eq!(out, b"\x88\x06\x0f\xa1slow");
    }
}
