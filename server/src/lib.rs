//! peerlab's relay: WebRTC signaling between the members of a room, over one WebSocket per client, and the
//! static host of the built app.
//!
//! # Layout
//! - [`config`]: flags with environment fallbacks, and the checks between them.
//! - [`accept`]: the accept loop in front of hyper: the relay-wide and per-address connection caps (503,
//!   429), the header deadline, TLS handshakes off the loop.
//! - [`rooms`]: room membership as plain data (join, leave, rename, route); no sockets, no time.
//! - [`membership`]: the one place a member enters or leaves: room update, notices, cluster word, counters, log.
//! - [`cluster`]: scale-out over Redis (membership, events, forwarded signals, node liveness); optional.
//! - [`reconcile`]: which repairs the cluster's periodic check against Redis makes, as plain data.
//! - [`limits`]: the per-connection rate limiter and room-change budget, the per-address connection count
//!   and the relay-wide connection cap, as plain data.
//! - [`credentials`]: join tokens for protected rooms and time-limited TURN credentials (HMACs, no clock).
//! - [`transport`]: from a TCP or TLS connection to a stream of WebSocket messages, on one framing path:
//!   the frame codec, the outbox that owns the socket and bounds what waits for a slow client, the
//!   handshake, TLS configuration. It knows nothing of rooms or sessions.
//! - [`resume`]: reconnect with resume: the resume-token key and the sweeper that ends away members' grace.
//! - [`session`]: one client's protocol as a state machine (join, resume, rename, leave, signal, limits,
//!   deadlines): input and time in, outputs out; no I/O.
//! - [`conn`]: one connection's async loop: feeds the session, carries out its outputs, writes its queue.
//! - [`http`]: security headers on every response, the Origin rule, the `/ws` endpoint (which hands the
//!   transport's socket to [`conn`]), and `/metrics`.
//! - [`assets`]: the built app from `--dist`: precompressed copies, cache policy, the app's fallback.
//! - this file: [`AppState`], the router ([`app`]: `/ws`, `/healthz`, `/ice-summary`, `/metrics`, the app)
//!   and [`run`], which serves a listener until shutdown.
//!
//! The relay never parses SDP or ICE candidates: a signal's payload is forwarded as the JSON text it arrived
//! as, with `from` stamped by the relay. It keeps no message history and no state beyond room membership.

pub mod accept;
pub mod assets;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod credentials;
pub mod http;
pub mod limits;
pub mod membership;
pub mod reconcile;
pub mod resume;
pub mod rooms;
pub mod session;
pub mod transport;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::middleware;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::TraceLayer;

pub use config::{Cli, Command, Config};
use conn::ConnHandle;
use peerlab_protocol::ErrorCode;
use rooms::Registry;

/// How many independent locks the room registry is split into.
const ROOM_SHARDS: usize = 64;

/// Everything the connections share.
pub struct AppState {
    /// The settings the relay was started with.
    pub config: Config,
    /// Who is in which room; the only shared mutable state.
    pub rooms: Registry<ConnHandle>,
    /// Cancelled when the relay shuts down, so every connection closes with "going away".
    pub shutdown: CancellationToken,
    /// Tracks live WebSocket connections so shutdown can wait for them to close.
    pub connections: TaskTracker,
    /// Tracks the cluster's tasks, which shutdown also waits for (they publish the last `left` events).
    pub background: TaskTracker,
    /// The link to the other relay nodes, when `--redis-url` is set.
    pub cluster: OnceLock<Arc<cluster::Cluster>>,
    /// Counters reported by `/healthz` and `/metrics`.
    pub counters: Counters,
    /// Open connections per client address, for `--max-connections-per-ip`.
    pub per_ip: Arc<limits::IpLimiter>,
    /// Open connections, for `--max-connections`.
    pub gate: Arc<limits::ConnectionGate>,
    /// The served app's Content-Security-Policy, kept until `index.html` changes.
    pub csp: http::CspCache,
    /// The resume-token key and the deadlines of away members.
    pub resume: resume::Resume,
}

/// Monotonic counters, for `/healthz`, `/metrics` and logs.
#[derive(Default)]
pub struct Counters {
    /// WebSocket connections accepted since start.
    pub accepted: AtomicU64,
    /// Text and binary messages received from clients, counted before any limit applies.
    pub messages_received: AtomicU64,
    /// Signals forwarded to another member.
    pub signals_relayed: AtomicU64,
    /// Typed error replies sent, indexed by [`ErrorCode::index`].
    pub errors_by_code: [AtomicU64; ErrorCode::ALL.len()],
    /// Connections closed because their outgoing queue was full.
    pub evictions: AtomicU64,
    /// Connections closed for sending far over the rate limit (4002).
    pub closed_rate_limited: AtomicU64,
    /// Connections closed for joining no room in time (4003).
    pub closed_join_timeout: AtomicU64,
    /// Connections closed for silence past the keep-alive timeout (4000).
    pub closed_keepalive: AtomicU64,
    /// WebSocket handshakes refused because of their Origin (403).
    pub refused_origin: AtomicU64,
    /// Connections refused because their address held too many connections (429).
    pub refused_per_ip: AtomicU64,
    /// Connections refused because the relay held `--max-connections` (503).
    pub refused_capacity: AtomicU64,
    /// Connections closed for not finishing their request headers in time.
    pub closed_header_timeout: AtomicU64,
    /// Members whose connection dropped and who were kept as away.
    pub went_away: AtomicU64,
    /// Away members whose grace ended without a resume (then announced as left).
    pub away_expired: AtomicU64,
    /// Resumes that took an away member's slot back.
    pub resumed_away: AtomicU64,
    /// Resumes that took over a still-connected member (its old connection closed with 4004).
    pub resumed_replaced: AtomicU64,
    /// Resumes that brought back an id from before a relay restart.
    pub resumed_restart: AtomicU64,
    /// Joins with a resume token that got a fresh id (forged, other room, expired grace, held elsewhere).
    pub resume_refused: AtomicU64,
}

impl Counters {
    /// Counts one typed error reply.
    pub fn error(&self, code: ErrorCode) {
        self.errors_by_code[code.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// How many typed errors with `code` were sent.
    pub fn errors_with(&self, code: ErrorCode) -> u64 {
        self.errors_by_code[code.index()].load(Ordering::Relaxed)
    }

    /// How many typed errors were sent in all.
    pub fn errors(&self) -> u64 {
        ErrorCode::ALL.iter().map(|&c| self.errors_with(c)).sum()
    }
}

impl AppState {
    /// The relay's membership, through which every join, leave and rename goes ([`membership::Members`]).
    pub fn members(&self) -> membership::Members<'_, ConnHandle> {
        membership::Members::new(
            &self.rooms,
            &self.counters,
            self.config.queue_limits(),
            self.cluster.get().map(|c| &**c as &dyn membership::Bus),
        )
    }

    pub fn new(config: Config) -> Arc<Self> {
        let gate = limits::ConnectionGate::new(accept::connection_cap(
            config.max_connections,
            accept::open_file_limit(),
        ));
        Arc::new(AppState {
            resume: resume::Resume::new(&config),
            config,
            rooms: Registry::new(ROOM_SHARDS),
            shutdown: CancellationToken::new(),
            connections: TaskTracker::new(),
            background: TaskTracker::new(),
            cluster: OnceLock::new(),
            counters: Counters::default(),
            per_ip: Arc::default(),
            gate,
            csp: http::CspCache::default(),
        })
    }
}

/// The relay's routes: `/ws`, `/healthz`, `/ice-summary`, `/metrics`, and the app from `config.dist`
/// ([`assets::serve`]) with a fallback to its `index.html`, so deep links such as `/room/team` load the app.
/// Every response carries the security headers of [`http::security_headers`].
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ws", get(http::ws_upgrade))
        .route("/healthz", get(healthz))
        .route("/ice-summary", get(ice_summary))
        .route("/metrics", get(http::metrics))
        .fallback(assets::serve)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            http::security_headers,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of one request in the logs: method and path, never the query, which may carry a join token
/// (`/room/team?token=...`).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        version = ?request.version(),
    )
}

async fn healthz(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let c = &state.counters;
    Json(serde_json::json!({
        "status": if state.shutdown.is_cancelled() { "shutting_down" } else { "ok" },
        "connections": state.connections.len(),
        "rooms": state.rooms.room_count(),
        "cluster": state.cluster.get().map(|c| serde_json::json!({"node": c.node(), "up": c.is_up()})),
        "accepted": c.accepted.load(Ordering::Relaxed),
        "signals_relayed": c.signals_relayed.load(Ordering::Relaxed),
        "errors": c.errors(),
        "evictions": c.evictions.load(Ordering::Relaxed),
    }))
}

/// Which kinds of STUN/TURN server this relay hands out, so the home page can say whether calls to other
/// networks can work. It names no address and no credential, so it needs no join, and any page may read
/// it (an app on a static host asks a relay elsewhere).
async fn ice_summary(
    State(state): State<Arc<AppState>>,
) -> (
    [(axum::http::HeaderName, &'static str); 1],
    Json<peerlab_protocol::IceSummary>,
) {
    (
        [(axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        Json(state.config.ice_summary()),
    )
}

/// Serves `listener` until `shutdown` completes, then tells every client to go, and waits at most
/// `config.shutdown_grace_ms` for the connections to close.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = AppState::new(config);
    serve_state(listener, state, shutdown).await
}

/// Binds `addr` with the relay's listen queue ([`accept::BACKLOG`]), so a burst of connections (every
/// client reconnecting after a restart) waits in the kernel instead of having its SYNs dropped.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(accept::BACKLOG as u32)
}

/// Like [`run`], with a state the caller made (tests read its counters).
pub async fn serve_state(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ice = state.config.ice_summary();
    if !ice.has_turn() {
        let handed_out = if ice.stun {
            "a STUN server but no TURN server"
        } else {
            "no STUN or TURN server"
        };
        tracing::warn!(
            "the relay hands out {handed_out} (--turn-url with --turn-secret, or a turn: --ice-url): calls and chats between different networks behind symmetric NATs or firewalls that block UDP will fail; see the README's \"TURN server\" section"
        );
    }
    if !state.config.dist.join("index.html").is_file() {
        tracing::warn!(dist = %state.config.dist.display(), "no built app found; `/` will answer 404 until `trunk build` has run");
    }
    assets::warn_if_uncompressed(&state.config.dist);
    if let Some(url) = state.config.redis_url.clone() {
        let cluster = cluster::Cluster::start(&url, &state).await.map_err(|err| {
            // The URL may carry a password: it is named without one.
            let url = cluster::redacted_url(&url);
            std::io::Error::other(format!(
                "cannot reach Redis at {url}: {err}; start Redis or drop --redis-url to run single-node"
            ))
        })?;
        if state.resume.needs_shared_key() {
            match cluster.shared_resume_key().await {
                Ok(key) => state.resume.set_shared_key(key.as_bytes()),
                Err(err) => tracing::warn!(
                    %err,
                    "cannot agree on a resume key through Redis; ids resume only on this node (set --resume-secret on every node)"
                ),
            }
        }
        let _ = state.cluster.set(cluster);
    }
    let token = state.shutdown.clone();
    let router = app(state.clone());
    let shutdown = async move {
        shutdown.await;
        tracing::info!("shutting down: closing connections");
        token.cancel();
    };
    let tls = match (&state.config.tls_cert, &state.config.tls_key) {
        (Some(cert), Some(key)) => Some(tokio_rustls::TlsAcceptor::from(
            transport::tls::load(cert, key).map_err(std::io::Error::other)?,
        )),
        _ => None,
    };
    let http = accept::serve(listener, state.clone(), router, tls, shutdown).await;
    let grace = Duration::from_millis(state.config.shutdown_grace_ms);
    state.connections.close();
    state.background.close();
    let all_closed = async {
        state.connections.wait().await;
        state.background.wait().await;
        http.wait().await;
    };
    if tokio::time::timeout(grace, all_closed).await.is_err() {
        tracing::warn!(
            left = state.connections.len(),
            "connections still open after the grace period"
        );
    }
    Ok(())
}
