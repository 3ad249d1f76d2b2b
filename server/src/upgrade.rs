//! The WebSocket handshake at `/ws`, and the I/O wrapper that keeps an idle connection's read buffer empty.
//!
//! The relay does the RFC 6455 handshake itself (rather than through axum's `WebSocketUpgrade`) so that it
//! chooses what carries the frames. Over plain TCP that is the relay's own framing, [`RelaySocket`] over the
//! connection's outbox. Over TLS it is tungstenite over [`LazyRead`]: tungstenite allocates its read buffer
//! up front and reads at most that much per call, so a large buffer costs every idle connection memory and a
//! small one costs a syscall per few hundred bytes. `LazyRead` reads from the socket into one scratch buffer
//! per thread and keeps leftovers only while a frame is partly consumed; tungstenite's own buffer can then
//! be tiny.
//!
//! Before answering 101 it refuses handshakes from web pages of origins the relay does not serve or list
//! (403, see [`crate::http::origin_allowed`]), so they cost no connection task. The connection caps were
//! applied when the connection was accepted ([`crate::accept`]); the WebSocket keeps the places its
//! connection took there ([`crate::accept::Admitted`]) for its whole life.
//!
//! This module knows nothing of the protocol or rooms; it hands a ready WebSocket to
//! [`crate::conn::serve_with`] (plain TCP) or [`crate::conn::serve`] (TLS).

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::Parts;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use crate::outbox::Outbox;
use crate::ws::{Limits, RelaySocket};
use crate::AppState;

/// tungstenite's own read buffer. Reads come out of [`LazyRead`]'s memory, never a syscall each, so this
/// only sets the size of the copies.
const TUNGSTENITE_READ_BYTES: usize = 128;

/// How many bytes one socket read may bring in (per thread, shared by all connections).
const SCRATCH_BYTES: usize = 64 * 1024;

/// How many bytes of queued frames are gathered before one write to the socket. Frames taken from the
/// outbox together are fed then flushed, so a burst (a join storm, a flurry of candidates) costs a few
/// syscalls instead of one per frame.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;

fn header_is(headers: &HeaderMap, name: HeaderName, value: &str) -> bool {
    headers
        .get(&name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

fn header_contains(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(&name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

fn refuse(status: StatusCode, why: &'static str) -> Response {
    (status, why).into_response()
}

/// The `/ws` handler: checks the handshake, answers 101, and serves the connection once upgraded.
pub async fn ws_upgrade(
    State(state): State<Arc<AppState>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    if state.shutdown.is_cancelled() {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "relay is shutting down");
    }
    let headers = request.headers();
    if request.method() != Method::GET
        || !header_is(headers, header::UPGRADE, "websocket")
        || !header_contains(headers, header::CONNECTION, "upgrade")
    {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "this is peerlab's WebSocket endpoint; connect with a WebSocket client",
        );
    }
    if !header_is(headers, header::SEC_WEBSOCKET_VERSION, "13") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "only WebSocket version 13 is supported",
        );
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return refuse(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
    };
    let admitted = request
        .extensions()
        .get::<crate::accept::Admitted>()
        .cloned();
    let reached_at = admitted.as_ref().map(|a| a.local.ip());
    if !crate::http::origin_allowed(headers, &state.config.allowed_origins, reached_at) {
        state
            .counters
            .refused_origin
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%remote, origin = ?headers.get(header::ORIGIN), "WebSocket from another origin refused");
        return refuse(
            StatusCode::FORBIDDEN,
            "pages from this origin, or under this host name, may not use this relay; its operator can allow them with --allowed-origin",
        );
    }
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut request);

    let hard_limit = state.config.hard_frame_limit();
    let config = WebSocketConfig::default()
        .read_buffer_size(TUNGSTENITE_READ_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(WRITE_BUFFER_BYTES + hard_limit * 2)
        .max_message_size(Some(hard_limit))
        .max_frame_size(Some(hard_limit));
    let token = state.connections.token();
    tokio::spawn(async move {
        match on_upgrade.await {
            // Over plain TCP the outbox owns the socket, so other members can write signals straight to it.
            Ok(upgraded) => match upgraded.downcast::<TokioIo<TcpStream>>() {
                Ok(parts) => {
                    // One frame may be up to the hard limit (a message over `--max-message-bytes` but
                    // under it gets a typed error); reassembly stops at `--max-message-bytes` itself, so
                    // fragments never hold more than a message may be.
                    let limits = Limits {
                        max_frame: hard_limit,
                        max_message: state.config.max_message_bytes as usize,
                    };
                    let (outbox, socket) = wire_parts(parts, limits);
                    crate::conn::serve_with(socket, outbox, state, remote).await;
                }
                Err(upgraded) => {
                    let io = LazyRead::new(TokioIo::new(upgraded));
                    let socket =
                        WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                    // Boxed, so the task of a plain TCP connection is not sized for this one too.
                    Box::pin(crate::conn::serve(socket, state, remote)).await;
                }
            },
            Err(err) => tracing::debug!(%remote, %err, "WebSocket upgrade failed"),
        }
        drop(admitted);
        drop(token);
    });

    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// The outbox that owns a plain TCP connection's socket, and the WebSocket over it, which first reads what
/// hyper read past the handshake. The rest of hyper's read buffer is let go here: holding the `Bytes` would
/// keep the whole buffer alive for the connection's life.
fn wire_parts(parts: Parts<TokioIo<TcpStream>>, limits: Limits) -> (Arc<Outbox>, RelaySocket) {
    let pending = parts.read_buf.to_vec();
    let outbox = Arc::new(Outbox::with_wire(parts.io.into_inner()));
    (outbox.clone(), RelaySocket::new(outbox, pending, limits))
}

thread_local! {
    /// The one buffer every connection on this thread reads the socket into (through [`LazyRead`] or
    /// [`RelaySocket`]).
    pub(crate) static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice());
}

/// Reads through a per-thread scratch buffer; keeps only the bytes its reader has not taken yet.
pub struct LazyRead<S> {
    inner: S,
    /// Bytes read from the socket that the reader has not taken yet; empty (unallocated) when idle.
    pending: Vec<u8>,
    /// How much of `pending` has been taken.
    taken: usize,
}

impl<S> LazyRead<S> {
    pub fn new(inner: S) -> Self {
        Self::with_pending(inner, Vec::new())
    }

    /// Reads `pending` (bytes already read from the socket, such as what followed the handshake) first.
    pub fn with_pending(inner: S, pending: Vec<u8>) -> Self {
        LazyRead {
            inner,
            pending,
            taken: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LazyRead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.taken < this.pending.len() {
            let n = buf.remaining().min(this.pending.len() - this.taken);
            buf.put_slice(&this.pending[this.taken..this.taken + n]);
            this.taken += n;
            if this.taken == this.pending.len() {
                this.pending = Vec::new();
                this.taken = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= SCRATCH_BYTES {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let mut read = ReadBuf::new(&mut scratch[..]);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            let got = read.filled();
            let n = buf.remaining().min(got.len());
            buf.put_slice(&got[..n]);
            if n < got.len() {
                this.pending = got[n..].to_vec();
                this.taken = 0;
            }
            Poll::Ready(Ok(()))
        })
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LazyRead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_reads_get_every_byte_in_order_and_leave_nothing_behind() {
        let (mut writer, reader) = tokio::io::duplex(256 * 1024);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        writer.write_all(&data).await.unwrap();
        drop(writer);
        let mut lazy = LazyRead::new(reader);
        let mut out = Vec::new();
        let mut chunk = [0u8; 37];
        loop {
            let n = lazy.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(out, data);
        assert_eq!(lazy.pending.capacity(), 0, "nothing held once drained");
    }

    #[test]
    fn connection_header_is_matched_as_a_token_list() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(header_contains(&headers, header::CONNECTION, "upgrade"));
        assert!(!header_contains(&headers, header::CONNECTION, "close"));
    }
}
