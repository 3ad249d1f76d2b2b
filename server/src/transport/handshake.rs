//! The RFC 6455 opening handshake on an HTTP request, and the hand-over of the upgraded connection.
//!
//! The relay does the handshake itself (rather than through axum's `WebSocketUpgrade`) so that it chooses
//! what carries the frames: for plain TCP and TLS alike, an [`Outbox`] that owns the socket and a
//! [`RelaySocket`] over it, so both go through the one framing path of [`super::codec`]. [`check`] reads
//! the request and says what is wrong with it; [`accept`] answers 101 and, once hyper hands the connection
//! over, gives the ready socket to the function the caller passed in. What the relay checks besides (the
//! Origin, shutdown) and what it does with the socket (the session) are the caller's: this module knows
//! nothing of rooms, of the relay's state, or of the protocol spoken over the socket.

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hyper::upgrade::{Parts, Upgraded};
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::codec::Limits;
use super::outbox::{Outbox, Wire};
use super::relay_socket::RelaySocket;

/// Why a request is not a WebSocket handshake the relay takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a WebSocket upgrade at all (426).
    #[error("this is peerlab's WebSocket endpoint; connect with a WebSocket client")]
    NotWebSocket,
    /// Another protocol version than 13 (400).
    #[error("only WebSocket version 13 is supported")]
    Version,
    /// No `Sec-WebSocket-Key` (400).
    #[error("missing Sec-WebSocket-Key")]
    NoKey,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = match self {
            Refusal::NotWebSocket => StatusCode::UPGRADE_REQUIRED,
            Refusal::Version | Refusal::NoKey => StatusCode::BAD_REQUEST,
        };
        (status, self.to_string()).into_response()
    }
}

/// A request that passed [`check`]: the `Sec-WebSocket-Accept` value to answer it with.
#[derive(Debug, Clone)]
pub struct Accepted(HeaderValue);

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

/// The `Sec-WebSocket-Accept` value for a client's key (RFC 6455 §4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    STANDARD.encode(sha1.finalize())
}

/// Whether `request` is a WebSocket handshake the relay can answer.
pub fn check(request: &Request) -> Result<Accepted, Refusal> {
    let headers = request.headers();
    if request.method() != Method::GET
        || !header_is(headers, header::UPGRADE, "websocket")
        || !header_contains(headers, header::CONNECTION, "upgrade")
    {
        return Err(Refusal::NotWebSocket);
    }
    if !header_is(headers, header::SEC_WEBSOCKET_VERSION, "13") {
        return Err(Refusal::Version);
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or(Refusal::NoKey)?;
    // Base64 and a SHA-1 digest: always a valid header value.
    let accept = HeaderValue::from_str(&accept_key(key.as_bytes())).map_err(|_| Refusal::NoKey)?;
    Ok(Accepted(accept))
}

/// Answers the checked handshake with 101 and, on a task of its own once the connection is upgraded,
/// calls `serve` with the connection's outbox and the WebSocket over it, whose frames and messages are
/// held to `limits`. A connection that fails to upgrade never reaches `serve` (which is dropped).
pub fn accept<F, Fut>(
    request: &mut Request,
    accepted: Accepted,
    limits: Limits,
    serve: F,
) -> Response
where
    F: FnOnce(Arc<Outbox>, RelaySocket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let on_upgrade = hyper::upgrade::on(request);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => match into_socket(upgraded, limits) {
                Ok((outbox, socket)) => serve(outbox, socket).await,
                Err(_) => tracing::warn!("an upgraded connection is neither TCP nor TLS over TCP"),
            },
            Err(err) => tracing::debug!(%err, "WebSocket upgrade failed"),
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accepted.0);
    response
}

/// The outbox that owns the upgraded connection's socket (plain TCP or TLS, as the accept loop serves
/// them), and the WebSocket over it.
fn into_socket(upgraded: Upgraded, limits: Limits) -> Result<(Arc<Outbox>, RelaySocket), Upgraded> {
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => Ok(wire_parts(parts, Wire::Tcp, limits)),
        Err(upgraded) => match upgraded.downcast::<TokioIo<TlsStream<TcpStream>>>() {
            Ok(parts) => Ok(wire_parts(parts, |tls| Wire::Tls(Box::new(tls)), limits)),
            Err(upgraded) => Err(upgraded),
        },
    }
}

/// The outbox and socket for the parts of an upgrade. The WebSocket first reads what hyper read past the
/// handshake; the rest of hyper's read buffer is let go here (holding the `Bytes` would keep the whole
/// buffer alive for the connection's life).
fn wire_parts<S>(
    parts: Parts<TokioIo<S>>,
    wire: impl FnOnce(S) -> Wire,
    limits: Limits,
) -> (Arc<Outbox>, RelaySocket) {
    let pending = parts.read_buf.to_vec();
    let outbox = Arc::new(Outbox::with_wire(wire(parts.io.into_inner())));
    (outbox.clone(), RelaySocket::new(outbox, pending, limits))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_accept_key_is_the_one_rfc_6455_gives() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn requests_that_are_not_handshakes_are_refused_with_what_is_wrong() {
        let request = |method: Method, headers: &[(&str, &str)]| {
            let mut builder = axum::http::Request::builder().method(method).uri("/ws");
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            builder.body(Body::empty()).unwrap()
        };
        let good = [
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        let cases: Vec<(Request, Result<(), Refusal>)> = vec![
            (request(Method::GET, &good), Ok(())),
            (request(Method::POST, &good), Err(Refusal::NotWebSocket)),
            (request(Method::GET, &good[1..]), Err(Refusal::NotWebSocket)),
            (
                request(
                    Method::GET,
                    &[good[0], good[1], ("sec-websocket-version", "8"), good[3]],
                ),
                Err(Refusal::Version),
            ),
            (request(Method::GET, &good[..3]), Err(Refusal::NoKey)),
        ];
        for (i, (request, expected)) in cases.into_iter().enumerate() {
            assert_eq!(check(&request).map(|_| ()), expected, "case {i}");
        }
        assert_eq!(
            Refusal::NotWebSocket.into_response().status(),
            StatusCode::UPGRADE_REQUIRED
        );
    }
}
