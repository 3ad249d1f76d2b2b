//! [`RelaySocket`]: one client's WebSocket as a `Stream` + `Sink` of messages, for plain TCP and TLS alike.
//! It reads the socket through the connection's [`Outbox`] into one scratch buffer per thread, turns the
//! bytes into messages with the [`codec`](super::codec)'s [`FrameReader`], and writes every frame as a
//! commit to the outbox, so the owner's frames and the signals other connections commit never interleave.
//!
//! It holds no buffer while idle: a frame that arrives whole is unmasked from the scratch buffer into the
//! message it becomes, and only the bytes of a frame that is not whole yet (or of frames after the one
//! returned) are kept until the rest arrives. A ping is answered with a pong and a close with a close
//! echoing its code, as soon as they are read; both are also handed to the caller. A framing error ends
//! the stream after a close frame that says why (1002, 1007 or 1009).

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_util::{Sink, Stream};
use tokio::io::ReadBuf;
use tungstenite::Message;

use super::codec::{self, Decoded, FrameError, FrameReader, Limits, Reply, Unsendable};
use super::outbox::Outbox;

/// How many bytes one socket read may bring in (per thread, shared by all connections).
const SCRATCH_BYTES: usize = 64 * 1024;

thread_local! {
    /// The one buffer every connection on this thread reads its socket into.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice());
}

/// What ends a connection from the transport.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    /// The client broke the framing rules; it was sent a close frame with the code that says why.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The connection ended in the middle of a frame or fragmented message.
    #[error("the connection ended in the middle of a frame")]
    Truncated,
    /// The caller asked to send what no server frame can carry.
    #[error(transparent)]
    Unsendable(#[from] Unsendable),
}

impl WsError {
    /// The close code the relay sent for this error, if it sent one.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            WsError::Frame(err) => Some(err.close().0),
            WsError::Io(_) | WsError::Truncated | WsError::Unsendable(_) => None,
        }
    }
}

/// A client's WebSocket, read and written through its [`Outbox`] (which owns the socket).
pub struct RelaySocket {
    outbox: Arc<Outbox>,
    reader: FrameReader,
    /// Set once the stream has ended (end of input, an error, or the client's close frame read).
    done: bool,
}

/// What one read from the socket gave.
enum Read {
    /// The end of the input, between frames.
    End,
    /// Bytes kept for later: no message is complete yet.
    More,
    /// A message or an error.
    Item(Result<Decoded, WsError>),
}

impl RelaySocket {
    /// `pending`: bytes already read from the socket (what followed the handshake).
    pub fn new(outbox: Arc<Outbox>, pending: Vec<u8>, limits: Limits) -> Self {
        RelaySocket {
            outbox,
            reader: FrameReader::new(pending, limits),
            done: false,
        }
    }

    /// Writes the reply a message asks for, ends the stream after a close or an error (an error is told to
    /// the client in a close frame first), and hands the message on.
    fn finish(&mut self, item: Result<Decoded, WsError>) -> Poll<Option<Result<Message, WsError>>> {
        match item {
            Ok(Decoded { message, reply }) => {
                if let Some(reply) = reply {
                    if matches!(reply, Reply::Close(_)) {
                        // Nothing may follow the close frame.
                        self.outbox.stop_direct();
                    }
                    self.outbox.commit_own(|out| reply.encode(out));
                    self.outbox.flush_unsent();
                }
                if matches!(message, Message::Close(_)) {
                    self.done = true;
                    self.reader.clear();
                }
                Poll::Ready(Some(Ok(message)))
            }
            Err(err) => {
                self.done = true;
                self.reader.clear();
                if let WsError::Frame(frame) = &err {
                    let (code, why) = frame.close();
                    self.outbox.stop_direct();
                    self.outbox
                        .commit_own(|out| codec::encode_close(out, code, why));
                    self.outbox.flush_unsent();
                }
                Poll::Ready(Some(Err(err)))
            }
        }
    }
}

impl Stream for RelaySocket {
    type Item = Result<Message, WsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(item) = this.reader.next_pending() {
            return this.finish(item.map_err(WsError::from));
        }
        loop {
            let read = SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let mut buf = ReadBuf::new(&mut scratch[..]);
                if let Err(err) = ready!(this.outbox.poll_read(cx, &mut buf)) {
                    return Poll::Ready(Read::Item(Err(WsError::Io(err))));
                }
                let got = buf.filled();
                if got.is_empty() {
                    return Poll::Ready(if this.reader.at_boundary() {
                        Read::End
                    } else {
                        Read::Item(Err(WsError::Truncated))
                    });
                }
                Poll::Ready(match this.reader.feed(got) {
                    Some(item) => Read::Item(item.map_err(WsError::from)),
                    None => Read::More,
                })
            });
            match ready!(read) {
                Read::End => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Read::More => continue,
                Read::Item(item) => return this.finish(item),
            }
        }
    }
}

impl Sink<Message> for RelaySocket {
    type Error = WsError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.outbox.poll_room(cx).map_err(WsError::Io)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), WsError> {
        codec::check_sendable(&message)?;
        self.outbox.commit_own(|out| codec::encode(out, &message));
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
    use tungstenite::Bytes;

    const LIMITS: Limits = Limits {
        max_frame: 70_000,
        max_message: 100_000,
    };

    fn client(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        assert!(payload.len() < 126);
        out.push(0x80 | payload.len() as u8);
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    /// A relay socket over a real TCP connection, and the client's end.
    async fn connected() -> (RelaySocket, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let outbox = Arc::new(Outbox::with_wire(server.into()));
        (RelaySocket::new(outbox, Vec::new(), LIMITS), client)
    }

    #[tokio::test]
    async fn pings_are_answered_and_a_close_is_echoed() {
        use futures_util::{SinkExt, StreamExt};
        let (mut s, mut c) = connected().await;
        c.write_all(&client(true, 0x9, b"p1")).await.unwrap();
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

        c.write_all(&client(true, 0x8, &1001u16.to_be_bytes()))
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
        // Unmasked.
        c.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
        let err = s.next().await.unwrap().unwrap_err();
        assert_eq!(err.close_code(), Some(codec::PROTOCOL_ERROR), "{err}");
        assert!(s.next().await.is_none());
        let mut head = [0u8; 4];
        c.read_exact(&mut head).await.unwrap();
        assert_eq!(head[0], 0x88);
        assert_eq!(
            u16::from_be_bytes([head[2], head[3]]),
            codec::PROTOCOL_ERROR
        );
        let mut reason = vec![0u8; head[1] as usize - 2];
        c.read_exact(&mut reason).await.unwrap();
        assert_eq!(reason, b"client frames must be masked");
    }

    #[tokio::test]
    async fn the_end_of_input_inside_a_frame_is_an_error() {
        use futures_util::StreamExt;
        let (mut s, mut c) = connected().await;
        c.write_all(&client(true, 0x1, b"hello")[..5])
            .await
            .unwrap();
        drop(c);
        assert!(matches!(s.next().await, Some(Err(WsError::Truncated))));
        let (mut s, c) = connected().await;
        drop(c);
        assert!(s.next().await.is_none(), "between frames it is a plain end");
    }
}
