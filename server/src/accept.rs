//! The relay's own accept loop, in front of hyper (HTTP/1.1 only): who gets a connection at all, and how
//! long a connection may take to say what it wants.
//!
//! Before hyper sees a connection, the loop admits it under two caps: the relay-wide cap on open
//! connections (`--max-connections`, by default just under the process's open-file limit), so that no
//! client can take every file descriptor and lock everyone else out, and the per-address cap
//! (`--max-connections-per-ip`). A refused connection is answered at once, without hyper, with 503 or 429
//! and a sentence saying why (over TLS it is closed without one). An admitted connection holds its places
//! until it closes; a WebSocket keeps them for its whole life (the upgrade handler takes them over through
//! [`Admitted`]).
//!
//! Every connection must then finish its request headers within `--header-timeout-ms` of connecting, or of
//! the previous response on a kept-alive connection: hyper's header timer starts as soon as it waits for a
//! request, so a socket that never sends a byte, a request whose headers never end, and an idle
//! keep-alive connection are all closed by the same deadline. (axum's `serve` first waited for the
//! first bytes to tell HTTP/1 from HTTP/2, with no time limit, and set no header timer at all.)
//!
//! The loop only accepts and spawns: a TLS handshake (bounded by [`crate::transport::tls::HANDSHAKE_TIMEOUT`]), the
//! HTTP exchange and a refusal all run on the connection's own task, so a burst of connections (every
//! client reconnecting after a restart) is taken from the listen queue as fast as the kernel hands it over.
//! The listen queue itself is raised to [`BACKLOG`].
//!
//! This module knows nothing of rooms or WebSockets; the router it serves does.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::limits::{GateSlot, IpSlot};
use crate::AppState;

/// The listen queue the relay asks the kernel for (capped by `net.core.somaxconn`, 4096 on current
/// kernels). With 128, a burst of 200 connections overflowed it and the kernel dropped SYNs, which
/// clients retry only after a second.
pub const BACKLOG: i32 = 4096;

/// File descriptors kept out of the automatic connection cap: the listener, Redis, files being served,
/// and the refusals below.
const FD_RESERVE: u64 = 64 + MAX_REFUSING as u64;

/// How many refusals may be answering at once; past that a refused connection is closed without an
/// answer, so refusing costs a bounded number of descriptors.
const MAX_REFUSING: usize = 256;

/// How long a refusal waits for the client to take its answer and close.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// The largest request head (request line and headers) the relay reads; hyper answers 431 above it.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Why a connection was refused before any request was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The relay holds `--max-connections` connections.
    Capacity { max: usize },
    /// The client's address holds `--max-connections-per-ip` connections.
    PerAddress { max: u32 },
}

impl Refusal {
    /// The whole HTTP response, status line to body.
    pub fn response(&self) -> Vec<u8> {
        let (status, body) = match self {
            Refusal::Capacity { max } => (
                "503 Service Unavailable",
                format!("the relay holds its maximum of {max} connections; try again in a moment\n"),
            ),
            Refusal::PerAddress { max } => (
                "429 Too Many Requests",
                format!(
                    "too many connections from this address (at most {max}); close some and try again\n"
                ),
            ),
        };
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
             connection: close\r\nretry-after: 1\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

/// The relay-wide connection cap: `--max-connections` when set, else the process's open-file limit less
/// [`FD_RESERVE`] (at least 16), or a large number when the limit is unknown or unlimited.
pub fn connection_cap(configured: u32, open_files: Option<u64>) -> usize {
    if configured > 0 {
        return configured as usize;
    }
    match open_files {
        Some(limit) if limit < 1 << 24 => limit.saturating_sub(FD_RESERVE).max(16) as usize,
        _ => 1 << 20,
    }
}

/// The process's soft limit on open files, if it can be read.
pub fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `getrlimit` only writes the struct it is given, which lives for the whole call.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        // `rlim_t` is not `u64` on every Unix.
        #[allow(clippy::unnecessary_cast)]
        ok.then_some(limit.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// A connection's places under the caps, held until the connection and any WebSocket made of it are
/// gone. Requests carry it as an extension, with the address the client reached the relay at.
#[derive(Clone, Debug)]
pub struct Admitted {
    /// The local address of the connection: which of the relay's addresses the client used, which the
    /// Origin check reads (see `crate::http::origin_allowed`).
    pub local: SocketAddr,
    /// The places themselves, given back when the last clone drops; shared so that the upgrade handler
    /// can keep them for the WebSocket.
    _slots: Arc<(GateSlot, Option<IpSlot>)>,
}

/// Takes `remote`'s places under both caps, or says which one refuses.
fn admit(state: &AppState, remote: SocketAddr, local: SocketAddr) -> Result<Admitted, Refusal> {
    let gate = state.gate.enter().ok_or(Refusal::Capacity {
        max: state.gate.max(),
    })?;
    let max = state.config.max_connections_per_ip;
    let ip = if max == 0 {
        None
    } else {
        Some(
            state
                .per_ip
                .acquire(remote.ip(), max)
                .ok_or(Refusal::PerAddress { max })?,
        )
    };
    Ok(Admitted {
        local,
        _slots: Arc::new((gate, ip)),
    })
}

/// Accepts connections from `listener` and serves `router` on each (over TLS when `tls` is set) until
/// `shutdown` completes; then stops accepting, asks every HTTP connection to finish its request and close,
/// and returns the tracker of the connections still finishing.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    router: Router,
    tls: Option<TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> TaskTracker {
    if let Err(err) = socket2::SockRef::from(&listener).listen(BACKLOG) {
        tracing::debug!(%err, "cannot raise the listen queue");
    }
    let tasks = TaskTracker::new();
    let refusing = Arc::new(AtomicUsize::new(0));
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) if is_connection_error(&err) => continue,
                Err(err) => {
                    // Out of descriptors or memory: back off briefly instead of spinning.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let local = tcp.local_addr().unwrap_or(remote);
        match admit(&state, remote, local) {
            Ok(admitted) => {
                tasks.spawn(connection(
                    tcp,
                    remote,
                    admitted,
                    state.clone(),
                    router.clone(),
                    tls.clone(),
                ));
            }
            Err(refusal) => {
                let counter = match refusal {
                    Refusal::Capacity { .. } => &state.counters.refused_capacity,
                    Refusal::PerAddress { .. } => &state.counters.refused_per_ip,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%remote, ?refusal, "connection refused");
                // A TLS client cannot read a plain-text answer, and a TLS handshake costs what the
                // caps are there to save: it is closed without one.
                if tls.is_some() {
                    continue;
                }
                if refusing.fetch_add(1, Ordering::AcqRel) < MAX_REFUSING {
                    let refusing = refusing.clone();
                    tokio::spawn(async move {
                        refuse(tcp, refusal).await;
                        refusing.fetch_sub(1, Ordering::AcqRel);
                    });
                } else {
                    refusing.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
    }
    tasks.close();
    tasks
}

/// Errors of one connection that `accept` reports; the listener is fine.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Answers a refused connection and closes it. The request is read and thrown away until the client
/// closes (within [`REFUSAL_LINGER`]): closing a socket with unread bytes resets it, and the client would
/// lose the answer.
async fn refuse(mut tcp: TcpStream, refusal: Refusal) {
    let answer = async {
        tcp.write_all(&refusal.response()).await?;
        tcp.shutdown().await?;
        let mut sink = [0u8; 512];
        while tcp.read(&mut sink).await? > 0 {}
        Ok::<(), io::Error>(())
    };
    let _ = tokio::time::timeout(REFUSAL_LINGER, answer).await;
}

/// Serves one admitted connection: TLS first if configured, then HTTP/1.1 with upgrades.
async fn connection(
    tcp: TcpStream,
    remote: SocketAddr,
    admitted: Admitted,
    state: Arc<AppState>,
    router: Router,
    tls: Option<TlsAcceptor>,
) {
    // Signaling messages are small and latency-sensitive: without TCP_NODELAY, Nagle's algorithm and
    // delayed acknowledgements hold a forwarded offer back by up to 40 ms.
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(%err, "cannot set TCP_NODELAY");
    }
    match tls {
        None => http(tcp, remote, admitted, state, router).await,
        Some(acceptor) => {
            match tokio::time::timeout(
                crate::transport::tls::HANDSHAKE_TIMEOUT,
                acceptor.accept(tcp),
            )
            .await
            {
                Ok(Ok(stream)) => http(stream, remote, admitted, state, router).await,
                Ok(Err(err)) => tracing::debug!(%remote, %err, "TLS handshake failed"),
                Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
            }
        }
    }
}

/// HTTP/1.1 on `io` with the header deadline, until the client closes, the deadline passes, or the
/// relay shuts down (then the request under way is finished first).
async fn http<I>(
    io: I,
    remote: SocketAddr,
    admitted: Admitted,
    state: Arc<AppState>,
    router: Router,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        request.extensions_mut().insert(admitted.clone());
        let mut router = router.clone();
        async move { tower_service::Service::call(&mut router, request).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(state.config.header_timeout())
        .max_buf_size(MAX_HEAD_BYTES);
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let shutdown = state.shutdown.cancelled();
    tokio::pin!(shutdown);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = &mut shutdown => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        if err.is_timeout() {
            state
                .counters
                .closed_header_timeout
                .fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(%remote, %err, "HTTP connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_cap_leaves_descriptors_for_everything_else() {
        let cases = [
            (0, Some(20_000), 20_000 - FD_RESERVE as usize),
            (0, Some(1_024), 1_024 - FD_RESERVE as usize),
            (0, Some(100), 16),
            (0, None, 1 << 20),
            (0, Some(u64::MAX), 1 << 20),
            (500, Some(20_000), 500),
            (50_000, Some(20_000), 50_000),
        ];
        for (configured, limit, cap) in cases {
            assert_eq!(
                connection_cap(configured, limit),
                cap,
                "{configured} {limit:?}"
            );
        }
    }

    #[test]
    fn refusals_are_whole_responses_that_say_why() {
        let cases = [
            (
                Refusal::Capacity { max: 3 },
                "HTTP/1.1 503 Service Unavailable\r\n",
                "the relay holds its maximum of 3 connections; try again in a moment\n",
            ),
            (
                Refusal::PerAddress { max: 2 },
                "HTTP/1.1 429 Too Many Requests\r\n",
                "too many connections from this address (at most 2); close some and try again\n",
            ),
        ];
        for (refusal, status, body) in cases {
            let response = String::from_utf8(refusal.response()).unwrap();
            assert!(response.starts_with(status), "{response}");
            let (head, got) = response.split_once("\r\n\r\n").unwrap();
            assert_eq!(got, body);
            assert!(head.contains(&format!("content-length: {}", body.len())));
            assert!(head.contains("connection: close"));
        }
    }
}
