//! The relay's own WebSocket framing for plain TCP connections: client frames parsed straight out of the
//! per-thread scratch buffer the socket is read into, and server frames appended to the outbox's bytes to
//! write.
//!
//! tungstenite read a 1.5 KB signal through its 128-byte read buffer (kept that small because it allocates
//! it up front, for every idle connection) in a dozen copies, and kept a write buffer the size of the largest
//! frame it had written. [`RelaySocket`] holds no buffer while idle: a frame that arrives whole is unmasked
//! from the scratch buffer into the message it becomes, and only the bytes of a frame that is not whole yet
//! (or of frames after the one returned) are kept until the rest arrives.
//!
//! It speaks RFC 6455 as a server without extensions: client frames must be masked and have no reserved bits
//! set; control frames are final and at most 125 bytes; fragmented messages are reassembled (control frames
//! may come between their fragments); text must be UTF-8; a frame or message over the hard limit is refused
//! before it is read. Each violation ends the connection with a close frame that says why (1002, 1007 or
//! 1009) and an error from the stream. A ping is answered with a pong and a close with a close echoing its
//! code, as soon as they are read; both are also handed to the caller, as tungstenite does.
//!
//! TLS connections still go through tungstenite (the outbox does not own their socket).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_util::{Sink, Stream};
use tokio::io::ReadBuf;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

use crate::outbox::Outbox;

/// Close codes the relay sends for bad framing.
const PROTOCOL_ERROR: u16 = 1002;
const INVALID_DATA: u16 = 1007;
const TOO_BIG: u16 = 1009;

const OP_CONTINUATION: u8 = 0x0;
pub(crate) const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// What ends a connection from the framing layer.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    /// The client broke the framing rules (close code 1002).
    #[error("WebSocket protocol error: {0}")]
    Protocol(&'static str),
    /// A text message or close reason that is not UTF-8 (close code 1007).
    #[error("text that is not UTF-8")]
    InvalidUtf8,
    /// A frame or reassembled message over the hard limit (close code 1009).
    #[error("a frame or message of {0} bytes or more, over the limit of {1}")]
    TooBig(u64, usize),
    /// The connection ended in the middle of a frame.
    #[error("the connection ended in the middle of a frame")]
    Truncated,
    /// Frames that cannot be sent (raw frames, control frames over 125 bytes).
    #[error("cannot send: {0}")]
    Unsendable(&'static str),
}

impl WsError {
    /// The close code the relay answers this with, and the close frame's reason.
    fn close(&self) -> Option<(u16, &'static str)> {
        match self {
            WsError::Protocol(why) => Some((PROTOCOL_ERROR, why)),
            WsError::InvalidUtf8 => Some((INVALID_DATA, "text that is not UTF-8")),
            WsError::TooBig(..) => Some((TOO_BIG, "frame or message over the size limit")),
            WsError::Io(_) | WsError::Truncated | WsError::Unsendable(_) => None,
        }
    }
}

/// Size limits on what a client sends.
#[derive(Debug, Clone, Copy)]
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
fn parse_header(buf: &[u8], limits: &Limits) -> Result<Option<Header>, WsError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(WsError::Protocol(
            "reserved bits set (no extension was agreed)",
        ));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    match opcode {
        OP_CONTINUATION | OP_TEXT | OP_BINARY => {}
        OP_CLOSE | OP_PING | OP_PONG => {
            if !fin {
                return Err(WsError::Protocol("fragmented control frame"));
            }
            if b1 & 0x7F > 125 {
                return Err(WsError::Protocol("control frame over 125 bytes"));
            }
        }
        _ => return Err(WsError::Protocol("unknown opcode")),
    }
    if b1 & 0x80 == 0 {
        return Err(WsError::Protocol("client frames must be masked"));
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
                    return Err(WsError::Protocol("frame length with its top bit set"));
                }
                (len, 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if len > limits.max_frame as u64 {
        return Err(WsError::TooBig(len, limits.max_frame));
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
struct Fragments {
    opcode: u8,
    data: Vec<u8>,
    /// The fragments' size with each counted as at least [`FRAGMENT_MIN_COST`]; held to
    /// [`Limits::max_message`].
    cost: usize,
}

/// Turns client frames into messages: the framing rules, fragment reassembly, and the replies a ping or
/// a close needs. Sans-I/O: it takes bytes and gives back messages and frames to write.
#[derive(Default)]
struct Reader {
    /// The message whose fragments are arriving; `None` nearly always (browsers do not fragment signals).
    fragments: Option<Box<Fragments>>,
}

/// What one whole frame gave.
enum Step {
    /// A message for the caller, and the frame to answer it with, if any (a pong or a close).
    Message(Message, Option<Vec<u8>>),
    /// A fragment that does not finish its message.
    Nothing,
}

impl Reader {
    /// Reads the first frame of `buf`: `Ok(None)` until the whole frame is there, else what it gave and how
    /// many bytes it took.
    fn step(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<(Step, usize)>, WsError> {
        let Some(h) = parse_header(buf, limits)? else {
            return Ok(None);
        };
        let Some(payload) = buf.get(h.size..h.size + h.len) else {
            return Ok(None);
        };
        let used = h.size + h.len;
        let step = match h.opcode {
            OP_TEXT | OP_BINARY if self.fragments.is_some() => {
                return Err(WsError::Protocol(
                    "a new message began before the fragmented one ended",
                ))
            }
            OP_TEXT | OP_BINARY if h.fin => {
                Step::Message(data_message(h.opcode, unmasked(payload, h.mask))?, None)
            }
            OP_TEXT | OP_BINARY => {
                let cost = h.len.max(FRAGMENT_MIN_COST);
                if cost > limits.max_message {
                    return Err(WsError::TooBig(cost as u64, limits.max_message));
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
                    return Err(WsError::Protocol(
                        "a continuation frame with no message to continue",
                    ));
                };
                fragments.cost += h.len.max(FRAGMENT_MIN_COST);
                if fragments.cost > limits.max_message {
                    return Err(WsError::TooBig(fragments.cost as u64, limits.max_message));
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
                let pong = server_frame(OP_PONG, &data);
                Step::Message(Message::Ping(data), Some(pong))
            }
            OP_PONG => Step::Message(Message::Pong(Bytes::from(unmasked(payload, h.mask))), None),
            _ => {
                // A close frame: echo its code, as RFC 6455 asks.
                let data = unmasked(payload, h.mask);
                let (frame, reply) = match data.len() {
                    0 => (None, server_frame(OP_CLOSE, &[])),
                    1 => return Err(WsError::Protocol("a close frame with a 1-byte payload")),
                    _ => {
                        let code = u16::from_be_bytes([data[0], data[1]]);
                        if !close_code_allowed(code) {
                            return Err(WsError::Protocol("a close code clients may not send"));
                        }
                        let reason = Utf8Bytes::try_from(data[2..].to_vec())
                            .map_err(|_| WsError::InvalidUtf8)?;
                        let frame = CloseFrame {
                            code: code.into(),
                            reason,
                        };
                        (Some(frame), server_frame(OP_CLOSE, &code.to_be_bytes()))
                    }
                };
                Step::Message(Message::Close(frame), Some(reply))
            }
        };
        Ok(Some((step, used)))
    }
}

fn data_message(opcode: u8, data: Vec<u8>) -> Result<Message, WsError> {
    Ok(if opcode == OP_TEXT {
        Message::Text(
            String::from_utf8(data)
                .map_err(|_| WsError::InvalidUtf8)?
                .into(),
        )
    } else {
        Message::Binary(Bytes::from(data))
    })
}

/// Appends a server (unmasked, final) frame's header for a payload of `len` bytes to `out`.
pub(crate) fn put_header(out: &mut Vec<u8>, opcode: u8, len: usize) {
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

fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    put_header(&mut out, opcode, payload.len());
    out.extend_from_slice(payload);
    out
}

/// Whether [`encode`] can write `message` as a server frame.
fn check_sendable(message: &Message) -> Result<(), WsError> {
    let control = match message {
        Message::Text(_) | Message::Binary(_) => 0,
        Message::Ping(b) | Message::Pong(b) => b.len(),
        Message::Close(None) => 0,
        Message::Close(Some(frame)) => 2 + frame.reason.len(),
        Message::Frame(_) => return Err(WsError::Unsendable("raw frames")),
    };
    if control > 125 {
        return Err(WsError::Unsendable("a control frame over 125 bytes"));
    }
    Ok(())
}

/// Appends the server frame for `message` (checked by [`check_sendable`]) to `out`.
fn encode(out: &mut Vec<u8>, message: &Message) {
    let (opcode, payload): (u8, &[u8]) = match message {
        Message::Text(t) => (OP_TEXT, t.as_bytes()),
        Message::Binary(b) => (OP_BINARY, b),
        Message::Ping(b) => (OP_PING, b),
        Message::Pong(b) => (OP_PONG, b),
        Message::Close(None) => (OP_CLOSE, &[]),
        Message::Close(Some(frame)) => {
            put_header(out, OP_CLOSE, 2 + frame.reason.len());
            out.extend_from_slice(&u16::from(frame.code).to_be_bytes());
            out.extend_from_slice(frame.reason.as_bytes());
            return;
        }
        Message::Frame(_) => return,
    };
    put_header(out, opcode, payload.len());
    out.extend_from_slice(payload);
}

/// A plain TCP client's WebSocket, read and written through its [`Outbox`] (which owns the socket), as a
/// `Stream` + `Sink` of tungstenite [`Message`]s for [`crate::conn::serve_with`].
pub struct RelaySocket {
    outbox: Arc<Outbox>,
    /// Bytes read but not yet made into messages: part of a frame, or frames after the one last returned.
    /// Unallocated while there are none, which is nearly always.
    pending: Vec<u8>,
    /// How much of `pending` has been made into messages. Frames are taken from `pending` by moving this
    /// cursor, never by shifting the rest of the buffer (which made a read of many small frames cost
    /// time quadratic in their number); the buffer is compacted once, when new bytes arrive.
    taken: usize,
    reader: Reader,
    limits: Limits,
    /// Set once the stream has ended (end of input, an error, or the client's close frame read).
    done: bool,
}

impl RelaySocket {
    /// `pending`: bytes already read from the socket (what followed the handshake).
    pub fn new(outbox: Arc<Outbox>, pending: Vec<u8>, limits: Limits) -> Self {
        RelaySocket {
            outbox,
            pending,
            taken: 0,
            reader: Reader::default(),
            limits,
            done: false,
        }
    }

    /// Reads messages from `input` until one is complete: it, and how many bytes were used.
    fn next_in(
        reader: &mut Reader,
        outbox: &Outbox,
        input: &[u8],
        limits: &Limits,
    ) -> (Option<Result<Message, WsError>>, usize) {
        let mut used = 0;
        loop {
            match reader.step(&input[used..], limits) {
                Ok(None) => return (None, used),
                Ok(Some((Step::Nothing, n))) => used += n,
                Ok(Some((Step::Message(message, reply), n))) => {
                    if let Some(reply) = reply {
                        outbox.commit_own(|out| out.extend_from_slice(&reply));
                        outbox.flush_unsent();
                    }
                    return (Some(Ok(message)), used + n);
                }
                Err(err) => return (Some(Err(err)), used),
            }
        }
    }

    fn finish(
        &mut self,
        item: Option<Result<Message, WsError>>,
    ) -> Poll<Option<Result<Message, WsError>>> {
        match &item {
            Some(Err(err)) => {
                self.done = true;
                self.pending = Vec::new();
                self.taken = 0;
                if let Some((code, why)) = err.close() {
                    let mut frame = Vec::with_capacity(4 + why.len());
                    put_header(&mut frame, OP_CLOSE, 2 + why.len());
                    frame.extend_from_slice(&code.to_be_bytes());
                    frame.extend_from_slice(why.as_bytes());
                    self.outbox.stop_direct();
                    self.outbox.commit_own(|out| out.extend_from_slice(&frame));
                    self.outbox.flush_unsent();
                }
            }
            Some(Ok(Message::Close(_))) => {
                self.done = true;
                self.pending = Vec::new();
                self.taken = 0;
            }
            _ => {}
        }
        Poll::Ready(item)
    }
}

impl RelaySocket {
    /// The next message from the bytes kept from earlier reads alone, if they hold one.
    fn take_pending(&mut self) -> Option<Result<Message, WsError>> {
        if self.taken == self.pending.len() {
            return None;
        }
        let (item, used) = Self::next_in(
            &mut self.reader,
            &self.outbox,
            &self.pending[self.taken..],
            &self.limits,
        );
        self.taken += used;
        if self.taken == self.pending.len() {
            self.pending = Vec::new();
            self.taken = 0;
        }
        item
    }

    /// Takes the bytes of one read from the socket (`got`, not empty): the message they complete, if any.
    /// Whatever is left over is kept; nothing is kept when `got` ends with a whole frame.
    fn take_read(&mut self, got: &[u8]) -> Option<Result<Message, WsError>> {
        if self.taken < self.pending.len() {
            self.pending.drain(..self.taken);
            self.taken = 0;
            self.pending.extend_from_slice(got);
            return self.take_pending();
        }
        // The usual case: whole frames straight from the scratch buffer.
        let (item, used) = Self::next_in(&mut self.reader, &self.outbox, got, &self.limits);
        if used < got.len() && !matches!(item, Some(Err(_))) {
            self.pending = got[used..].to_vec();
        }
        item
    }
}

impl Stream for RelaySocket {
    type Item = Result<Message, WsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(item) = this.take_pending() {
            return this.finish(Some(item));
        }
        loop {
            let read = crate::upgrade::SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let mut buf = ReadBuf::new(&mut scratch[..]);
                if let Err(err) = ready!(this.outbox.poll_read(cx, &mut buf)) {
                    return Poll::Ready(Read::Item(Err(WsError::Io(err))));
                }
                let got = buf.filled();
                if got.is_empty() {
                    return Poll::Ready(
                        if this.taken == this.pending.len() && this.reader.fragments.is_none() {
                            Read::End
                        } else {
                            Read::Item(Err(WsError::Truncated))
                        },
                    );
                }
                Poll::Ready(match this.take_read(got) {
                    Some(item) => Read::Item(item),
                    None => Read::More,
                })
            });
            match ready!(read) {
                Read::End => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Read::More => continue,
                Read::Item(item) => return this.finish(Some(item)),
            }
        }
    }
}

/// What one read from the socket gave.
enum Read {
    /// The end of the input, between frames.
    End,
    /// Bytes kept for later: no message is complete yet.
    More,
    /// A message or an error.
    Item(Result<Message, WsError>),
}

impl Sink<Message> for RelaySocket {
    type Error = WsError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.outbox.poll_room(cx).map_err(WsError::Io)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), WsError> {
        check_sendable(&message)?;
        self.outbox.commit_own(|out| encode(out, &message));
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.outbox.poll_flush(cx).map_err(WsError::Io)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        ready!(self.outbox.poll_flush(cx))?;
        self.outbox.poll_shutdown(cx).map_err(WsError::Io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    fn socket() -> RelaySocket {
        RelaySocket::new(Arc::new(Outbox::default()), Vec::new(), LIMITS)
    }

    /// Feeds `input` in pieces of the given sizes (the rest in one piece) and collects what comes out, as
    /// `poll_next` would: whatever is kept is read before the next piece.
    fn feed(
        socket: &mut RelaySocket,
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
            let mut item = socket.take_read(&input[at..at + n]);
            at += n;
            while let Some(got) = item {
                let failed = got.is_err();
                out.push(got.map_err(|e| e.to_string()));
                if failed {
                    return out;
                }
                item = socket.take_pending();
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
        let mut s = socket();
        let frame = client(true, OP_TEXT, b"hello");
        assert_eq!(feed(&mut s, &frame, &[]), vec![text("hello")]);
        assert_eq!(s.pending.capacity(), 0);
    }

    #[test]
    fn every_split_of_the_input_gives_the_same_messages() {
        let (input, expected) = mixed_stream();
        // One byte at a time, then random splits (a small xorshift, so failures repeat).
        let mut s = socket();
        assert_eq!(feed(&mut s, &input, &vec![1; input.len()]), expected);
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
            let mut s = socket();
            assert_eq!(
                feed(&mut s, &input, &sizes),
                expected,
                "round {round}: {sizes:?}"
            );
            assert_eq!(
                s.pending.capacity(),
                0,
                "round {round}: nothing kept at the end"
            );
            assert!(s.reader.fragments.is_none());
        }
    }

    #[test]
    fn frames_of_one_read_are_taken_by_a_cursor_without_shifting_the_rest() {
        let mut s = socket();
        let input: Vec<u8> = (0..10_000)
            .flat_map(|_| client(true, OP_PONG, b""))
            .collect();
        let pong = |item: Option<Result<Message, WsError>>| matches!(item, Some(Ok(Message::Pong(b))) if b.is_empty());
        assert!(pong(s.take_read(&input)));
        let (kept, at) = (s.pending.len(), s.pending.as_ptr());
        assert_eq!(kept, input.len() - 6);
        for i in 1..10_000 {
            assert_eq!(
                s.pending.len(),
                kept,
                "frame {i}: the kept bytes were shifted"
            );
            assert_eq!(s.pending.as_ptr(), at);
            assert!(pong(s.take_pending()), "frame {i}");
        }
        assert!(s.take_pending().is_none());
        assert_eq!(s.pending.capacity(), 0, "freed once every frame is taken");
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
                "message over the limit",
                [
                    client(false, OP_TEXT, &vec![b'x'; 60_000]),
                    client(true, OP_CONTINUATION, &vec![b'x'; 40_001]),
                ]
                .concat(),
                TOO_BIG,
            ),
        ];
        for (what, input, code) in cases {
            let mut s = socket();
            let out = feed(&mut s, &input, &[]);
            assert!(matches!(out.last(), Some(Err(_))), "{what}: {out:?}");
            let mut s = socket();
            let err = loop {
                match s.take_read(&input) {
                    Some(Err(err)) => break err,
                    Some(Ok(_)) if s.take_pending().is_none() => panic!("{what}: no error"),
                    _ => continue,
                }
            };
            assert_eq!(err.close().map(|c| c.0), Some(code), "{what}: {err}");
        }
    }

    #[test]
    fn server_frames_use_the_shortest_header() {
        for (len, head) in [
            (0usize, vec![0x81, 0]),
            (125, vec![0x81, 125]),
            (126, vec![0x81, 126, 0, 126]),
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

    /// A relay socket over a real TCP connection, and the client's end.
    async fn connected() -> (RelaySocket, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let outbox = Arc::new(Outbox::with_wire(server));
        (RelaySocket::new(outbox, Vec::new(), LIMITS), client)
    }

    #[tokio::test]
    async fn pings_are_answered_and_a_close_is_echoed() {
        use futures_util::{SinkExt, StreamExt};
        let (mut s, mut c) = connected().await;
        c.write_all(&client(true, OP_PING, b"p1")).await.unwrap();
        assert_eq!(
            s.next().await.unwrap().unwrap(),
            Message::Ping(Bytes::from_static(b"p1"))
        );
        let mut pong = [0u8; 4];
        c.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"\x8a\x02p1");

        s.send(Message::text("hi")).await.unwrap();
        let mut hi = [0u8; 4];
        c.read_exact(&mut hi).await.unwrap();
        assert_eq!(&hi, b"\x81\x02hi");

        c.write_all(&client(true, OP_CLOSE, &1001u16.to_be_bytes()))
            .await
            .unwrap();
        assert!(
            matches!(s.next().await, Some(Ok(Message::Close(Some(f)))) if u16::from(f.code) == 1001)
        );
        assert!(s.next().await.is_none(), "nothing after a close");
        let mut echo = [0u8; 4];
        c.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"\x88\x02\x03\xe9");
    }

    #[tokio::test]
    async fn a_protocol_error_is_told_to_the_client_in_a_close_frame() {
        use futures_util::StreamExt;
        let (mut s, mut c) = connected().await;
        c.write_all(&raw(0x81, b"hi", None)).await.unwrap();
        assert!(matches!(s.next().await, Some(Err(WsError::Protocol(_)))));
        assert!(s.next().await.is_none());
        let mut head = [0u8; 4];
        c.read_exact(&mut head).await.unwrap();
        assert_eq!(head[0], 0x88);
        assert_eq!(u16::from_be_bytes([head[2], head[3]]), PROTOCOL_ERROR);
        let mut reason = vec![0u8; head[1] as usize - 2];
        c.read_exact(&mut reason).await.unwrap();
        assert_eq!(reason, b"client frames must be masked");
    }

    #[tokio::test]
    async fn the_end_of_input_inside_a_frame_is_an_error() {
        use futures_util::StreamExt;
        let (mut s, mut c) = connected().await;
        c.write_all(&client(true, OP_TEXT, b"hello")[..5])
            .await
            .unwrap();
        drop(c);
        assert!(matches!(s.next().await, Some(Err(WsError::Truncated))));
        let (mut s, c) = connected().await;
        drop(c);
        assert!(s.next().await.is_none(), "between frames it is a plain end");
    }
}
