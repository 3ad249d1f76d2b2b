//! The relay's plain HTTP side: security headers on every response, the Origin check for the WebSocket,
//! the `/ws` endpoint, and the Prometheus exposition at `/metrics`.
//!
//! `/ws` ([`ws_upgrade`]) is where the transport meets the session: the relay's own refusals (shutting
//! down, a foreign Origin) come first, then [`crate::transport::handshake`] answers the handshake and hands
//! the upgraded connection's socket to [`crate::conn::serve_with`].
//!
//! The Content-Security-Policy allows exactly what the built app uses: its own scripts, the inline module
//! script trunk writes into `index.html` (allowed by its SHA-256 hash, read from the served file, so no
//! `'unsafe-inline'`), WebAssembly compilation (`'wasm-unsafe-eval'`) and connections to its own origin.
//! This module knows nothing of rooms or the protocol.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use peerlab_protocol::ErrorCode;
use sha2::{Digest, Sha256};

use crate::transport::handshake;
use crate::AppState;

/// The `/ws` handler: refuses handshakes while shutting down (503) and from web pages of origins the relay
/// does not serve or list (403, see [`origin_allowed`]), so they cost no connection task; answers the rest
/// with 101 and serves the connection once upgraded. The connection caps were applied when the connection
/// was accepted ([`crate::accept`]); the WebSocket keeps the places its connection took there
/// ([`crate::accept::Admitted`]) for its whole life.
pub async fn ws_upgrade(
    State(state): State<Arc<AppState>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "relay is shutting down").into_response();
    }
    let accepted = match handshake::check(&request) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.into_response(),
    };
    let headers = request.headers();
    let admitted = request
        .extensions()
        .get::<crate::accept::Admitted>()
        .cloned();
    let reached_at = admitted.as_ref().map(|a| a.local.ip());
    if !origin_allowed(headers, &state.config.allowed_origins, reached_at) {
        state
            .counters
            .refused_origin
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%remote, origin = ?headers.get(header::ORIGIN), "WebSocket from another origin refused");
        return (
            StatusCode::FORBIDDEN,
            "pages from this origin, or under this host name, may not use this relay; its operator can allow them with --allowed-origin",
        )
            .into_response();
    }
    let limits = state.config.frame_limits();
    let token = state.connections.token();
    handshake::accept(
        &mut request,
        accepted,
        limits,
        move |outbox, socket| async move {
            crate::conn::serve_with(socket, outbox, state, remote).await;
            drop(admitted);
            drop(token);
        },
    )
}

/// The Content-Security-Policy for one build of the app, recomputed when `index.html` changes (a rebuild
/// while the relay runs changes the inline script, and so its hash).
#[derive(Default)]
pub struct CspCache {
    /// The modification time of the `index.html` the policy was computed from, and the policy.
    cached: Mutex<Option<(Option<SystemTime>, HeaderValue)>>,
}

impl CspCache {
    fn policy(&self, dist: &Path, extra_connect: &[String]) -> HeaderValue {
        let index = dist.join("index.html");
        let modified = std::fs::metadata(&index).and_then(|m| m.modified()).ok();
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((when, policy)) = cached.as_ref() {
            if *when == modified {
                return policy.clone();
            }
        }
        let html = std::fs::read_to_string(&index).unwrap_or_default();
        let policy = HeaderValue::from_str(&content_security_policy(&html, extra_connect))
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
        *cached = Some((modified, policy.clone()));
        policy
    }
}

/// The SHA-256 hashes (CSP source form) of every inline `<script>` in `html`.
pub fn inline_script_hashes(html: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else {
            break;
        };
        let tag = &after[..open_end];
        let body_and_more = &after[open_end + 1..];
        let Some(close) = body_and_more.find("</script>") else {
            break;
        };
        if !tag.contains("src=") {
            let digest = Sha256::digest(&body_and_more.as_bytes()[..close]);
            hashes.push(format!("'sha256-{}'", STANDARD.encode(digest)));
        }
        rest = &body_and_more[close..];
    }
    hashes
}

/// The policy for an app whose `index.html` is `html`.
pub fn content_security_policy(html: &str, extra_connect: &[String]) -> String {
    let mut script = String::from("'self' 'wasm-unsafe-eval'");
    for hash in inline_script_hashes(html) {
        script.push(' ');
        script.push_str(&hash);
    }
    // `blob:` lets the app read back the object URLs it made itself (a received file before download).
    let mut connect = String::from("'self' blob:");
    for source in extra_connect {
        connect.push(' ');
        connect.push_str(source);
    }
    format!(
        "default-src 'self'; script-src {script}; style-src 'self'; img-src 'self' data: blob:; \
         media-src 'self' blob:; connect-src {connect}; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// Adds the security headers to every response.
pub async fn security_headers(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let policy = state
        .csp
        .policy(&state.config.dist, &state.config.csp_connect_src);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Room links may carry a join token in their query; no Referer header must take it to another site.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(
            "camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=(), usb=()",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// Whether a WebSocket handshake with these headers may proceed, on a connection that reached the relay
/// at its address `reached_at` (`None` when unknown). Browsers always send `Origin` on a WebSocket
/// handshake and a page cannot forge it; a request without one is not from a browser page, and an Origin
/// check would not stop such a client anyway.
///
/// A page of the relay's own origin may connect (its `Origin` names the host the browser used, which is
/// the `Host` header) unless that host name could be an attacker's: under DNS rebinding, a name the
/// attacker controls resolves to the relay's address, and the attacker's page then has `Origin` and
/// `Host` that agree. That matters for a relay reached on loopback or a private network (a development
/// machine, a LAN), which the attacker could not reach otherwise: there the host must be an IP address,
/// `localhost` (browsers resolve it themselves) or the host of an `--allowed-origin`. A relay reached on a
/// public address can be reached by anyone already, so the name it is reached under is trusted.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String], reached_at: Option<IpAddr>) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    let (Some(host), Some(authority)) = (host, authority) else {
        return false;
    };
    if !host.eq_ignore_ascii_case(authority) {
        return false;
    }
    let public = reached_at.is_some_and(is_public);
    public || host_cannot_be_rebound(host, allowed)
}

/// Whether `host` (a `Host` header: name or address, with an optional port) names the relay in a way DNS
/// rebinding cannot fake: an IP literal, `localhost` or a `*.localhost` name, or the host of an allowed
/// origin.
fn host_cannot_be_rebound(host: &str, allowed: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        // An IPv6 literal is always in brackets in a Host header.
        Some(rest) => {
            return rest
                .split_once(']')
                .is_some_and(|(ip, _)| ip.parse::<IpAddr>().is_ok())
        }
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        },
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<IpAddr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || allowed.iter().any(|origin| {
            origin
                .split_once("://")
                .is_some_and(|(_, a)| a.eq_ignore_ascii_case(host))
        })
}

/// Whether `ip` is a public address: not loopback, private, link-local, shared (CGNAT) or unspecified.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80)
            }
        },
    }
}

/// `/metrics` in the Prometheus text format.
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let c = &state.counters;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    metric(
        "peerlab_connections",
        "gauge",
        "Open WebSocket connections.",
        &[("", state.connections.len() as u64)],
    );
    metric(
        "peerlab_rooms",
        "gauge",
        "Rooms with at least one member on this relay.",
        &[("", state.rooms.room_count() as u64)],
    );
    metric(
        "peerlab_connections_accepted_total",
        "counter",
        "WebSocket connections accepted since start.",
        &[("", c.accepted.load(Ordering::Relaxed))],
    );
    metric(
        "peerlab_messages_received_total",
        "counter",
        "Text and binary messages received from clients.",
        &[("", c.messages_received.load(Ordering::Relaxed))],
    );
    metric(
        "peerlab_signals_relayed_total",
        "counter",
        "Signals forwarded to another member.",
        &[("", c.signals_relayed.load(Ordering::Relaxed))],
    );
    let by_code: Vec<(String, u64)> = ErrorCode::ALL
        .iter()
        .map(|code| {
            (
                format!("{{code=\"{code}\"}}"),
                c.errors_by_code[code.index()].load(Ordering::Relaxed),
            )
        })
        .collect();
    let by_code: Vec<(&str, u64)> = by_code.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    metric(
        "peerlab_errors_total",
        "counter",
        "Typed error replies sent, by code.",
        &by_code,
    );
    metric(
        "peerlab_evictions_total",
        "counter",
        "Connections closed because their outgoing queue was full (4001).",
        &[("", c.evictions.load(Ordering::Relaxed))],
    );
    metric(
        "peerlab_closed_total",
        "counter",
        "Connections the relay closed for abuse, by reason.",
        &[
            (
                "{reason=\"rate_limited\"}",
                c.closed_rate_limited.load(Ordering::Relaxed),
            ),
            (
                "{reason=\"join_timeout\"}",
                c.closed_join_timeout.load(Ordering::Relaxed),
            ),
            (
                "{reason=\"keepalive_timeout\"}",
                c.closed_keepalive.load(Ordering::Relaxed),
            ),
            (
                "{reason=\"header_timeout\"}",
                c.closed_header_timeout.load(Ordering::Relaxed),
            ),
        ],
    );
    metric(
        "peerlab_away_total",
        "counter",
        "Members whose connection dropped without a close and who were kept as away for the resume grace.",
        &[("", c.went_away.load(Ordering::Relaxed))],
    );
    metric(
        "peerlab_away_expired_total",
        "counter",
        "Away members whose resume grace ended without a resume (then announced as left).",
        &[("", c.away_expired.load(Ordering::Relaxed))],
    );
    metric(
        "peerlab_resumes_total",
        "counter",
        "Joins that kept their peer id with a resume token, by what they took back.",
        &[
            ("{kind=\"away\"}", c.resumed_away.load(Ordering::Relaxed)),
            (
                "{kind=\"replaced\"}",
                c.resumed_replaced.load(Ordering::Relaxed),
            ),
            (
                "{kind=\"restart\"}",
                c.resumed_restart.load(Ordering::Relaxed),
            ),
        ],
    );
    metric(
        "peerlab_resumes_refused_total",
        "counter",
        "Joins with a resume token that got a fresh peer id (forged, other room, grace over, held elsewhere).",
        &[("", c.resume_refused.load(Ordering::Relaxed))],
    );
    metric(
        "peerlab_upgrades_refused_total",
        "counter",
        "Connections and WebSocket handshakes refused, by reason.",
        &[
            (
                "{reason=\"origin\"}",
                c.refused_origin.load(Ordering::Relaxed),
            ),
            (
                "{reason=\"per_ip_limit\"}",
                c.refused_per_ip.load(Ordering::Relaxed),
            ),
            (
                "{reason=\"capacity\"}",
                c.refused_capacity.load(Ordering::Relaxed),
            ),
        ],
    );
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_hashed_and_external_ones_are_not() {
        let html = "<head><script type=\"module\">\nimport init from '/a.js';\n</script>\
                    <script src=\"/b.js\"></script><script>x()</script></head>";
        // Computed with: printf "\nimport init from '/a.js';\n" | openssl dgst -sha256 -binary | base64 (and "x()").
        assert_eq!(
            inline_script_hashes(html),
            vec![
                "'sha256-nmdLyQ6u69OUSoW4i7ADiAWaKqSloTkmbl/K96XORko='".to_string(),
                "'sha256-D6IGS8VMvCoyaR/l0h9tERrBTATY01CoPS7l6xDv0kI='".to_string(),
            ]
        );
        let policy = content_security_policy(html, &["wss://relay.example.org".into()]);
        assert!(
            policy.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-"),
            "{policy}"
        );
        assert!(
            policy.contains("connect-src 'self' blob: wss://relay.example.org;"),
            "{policy}"
        );
        assert!(!policy.contains("unsafe-inline"), "{policy}");
    }

    #[test]
    fn origin_check_allows_same_origin_listed_origins_and_non_browsers() {
        fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static(host));
            if let Some(origin) = origin {
                h.insert(header::ORIGIN, HeaderValue::from_static(origin));
            }
            h
        }
        let listed = vec!["https://app.example.org".to_string()];
        let cases = [
            (None, "relay:8080", true),
            (Some("http://relay:8080"), "relay:8080", true),
            (Some("http://RELAY:8080"), "relay:8080", true),
            (Some("https://app.example.org"), "relay:8080", true),
            (Some("https://evil.example"), "relay:8080", false),
            (Some("http://relay:8081"), "relay:8080", false),
            (Some("null"), "relay:8080", false),
        ];
        let public: IpAddr = "198.51.100.7".parse().unwrap();
        for (origin, host, expected) in cases {
            assert_eq!(
                origin_allowed(&headers(origin, host), &listed, Some(public)),
                expected,
                "{origin:?}"
            );
        }
        assert!(origin_allowed(
            &headers(Some("https://evil.example"), "r"),
            &["*".into()],
            None
        ));
    }

    #[test]
    fn on_loopback_and_private_networks_a_same_origin_page_needs_a_name_that_cannot_be_rebound() {
        fn same_origin(host: &'static str) -> HeaderMap {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static(host));
            h.insert(
                header::ORIGIN,
                HeaderValue::from_str(&format!("http://{host}")).unwrap(),
            );
            h
        }
        let listed = vec!["https://relay.example.org".to_string()];
        // (reached at, Host of a same-origin page, allowed)
        let cases = [
            ("127.0.0.1", "evil.example:8080", false),
            ("127.0.0.1", "127.0.0.1:8080", true),
            ("127.0.0.1", "localhost:8080", true),
            ("127.0.0.1", "LOCALHOST:8080", true),
            ("127.0.0.1", "app.localhost", true),
            ("127.0.0.1", "localhost.evil.example", false),
            ("::1", "[::1]:8080", true),
            ("::1", "evil.example", false),
            ("192.168.1.20", "192.168.1.20:8080", true),
            ("192.168.1.20", "printer.evil.example:8080", false),
            ("10.0.0.2", "relay.example.org", true),
            ("100.64.1.1", "evil.example", false),
            ("fd00::5", "evil.example", false),
            ("fe80::1", "evil.example", false),
            ("::ffff:192.168.1.20", "evil.example", false),
            ("0.0.0.0", "evil.example", false),
            // Reached on a public address: anyone can reach it already, so its name is trusted.
            ("203.0.114.9", "relay.example.net", true),
            ("2001:db8::1", "relay.example.net", true),
        ];
        for (reached_at, host, expected) in cases {
            let ip: IpAddr = reached_at.parse().unwrap();
            assert_eq!(
                origin_allowed(&same_origin(host), &listed, Some(ip)),
                expected,
                "{host} reached at {reached_at}"
            );
        }
        assert!(
            !origin_allowed(&same_origin("evil.example"), &listed, None),
            "an unknown address is treated as private"
        );
    }
}
