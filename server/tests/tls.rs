//! The relay terminating TLS itself: a client that trusts the relay's certificate joins over `wss://` and
//! reads `/healthz` over `https://`; a plain-text client gets nowhere; a bad certificate path is refused at
//! start with a message that names the file.

mod support;

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use peerlab_protocol::{close_code, decode_server, ServerMessage};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

/// A self-signed certificate for 127.0.0.1, written as PEM files; returns the config and the DER to trust.
fn self_signed(dir: &std::path::Path) -> (peerlab_server::Config, CertificateDer<'static>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let config = peerlab_server::Config {
        tls_cert: Some(cert_path),
        tls_key: Some(key_path),
        ..test_config()
    };
    (config, cert.der().clone())
}

async fn tls_connect(
    relay: &Relay,
    trusted: CertificateDer<'static>,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = RootCertStore::empty();
    roots.add(trusted).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(relay.addr).await.unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .expect("the TLS handshake succeeds with the relay's certificate")
}

#[tokio::test]
async fn wss_and_https_work_with_the_configured_certificate() {
    let dir = std::env::temp_dir().join(format!("peerlab-tls-{}", std::process::id()));
    let (config, trusted) = self_signed(&dir);
    let relay = Relay::start_with(config).await;

    let tls = tls_connect(&relay, trusted.clone()).await;
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("wss://127.0.0.1:{}/ws", relay.addr.port()), tls)
            .await
            .expect("the WebSocket handshake succeeds over TLS");
    let join =
        serde_json::json!({"type": "join", "version": 1, "name": "Ada", "room": room("tls")});
    ws.send(Message::text(join.to_string())).await.unwrap();
    let welcome = loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => break decode_server(&text).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("no welcome over wss: {other:?}"),
        }
    };
    assert!(
        matches!(welcome, ServerMessage::Welcome { .. }),
        "{welcome:?}"
    );

    let mut https = tls_connect(&relay, trusted).await;
    https
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, https.read_to_end(&mut response))
        .await
        .unwrap()
        .ok();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ok\""), "{response}");

    // A plain-text request to the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(relay.addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, plain.read_to_end(&mut answer)).await;
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_missing_certificate_is_refused_at_start_with_the_file_named() {
    let config = peerlab_server::Config {
        tls_cert: Some("/nonexistent/cert.pem".into()),
        tls_key: Some("/nonexistent/key.pem".into()),
        ..test_config()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = peerlab_server::run(listener, config, std::future::pending())
        .await
        .expect_err("the relay refuses to start");
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
}

type Wss = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// A WebSocket client over TLS to `relay`, joined to `room` as `name`: the socket and its peer id.
async fn wss_joined(
    relay: &Relay,
    trusted: CertificateDer<'static>,
    room: &str,
    name: &str,
) -> (Wss, peerlab_protocol::PeerId) {
    let tls = tls_connect(relay, trusted).await;
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("wss://127.0.0.1:{}/ws", relay.addr.port()), tls)
            .await
            .expect("the WebSocket handshake succeeds over TLS");
    let join = serde_json::json!({"type": "join", "version": 1, "name": name, "room": room});
    ws.send(Message::text(join.to_string())).await.unwrap();
    match wss_recv(&mut ws).await {
        ServerMessage::Welcome { peer_id, .. } => (ws, peer_id),
        other => panic!("expected a welcome over wss, got {other:?}"),
    }
}

/// The next protocol message over `ws`, skipping pings.
async fn wss_recv(ws: &mut Wss) -> ServerMessage {
    loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => return decode_server(&text).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("no message over wss: {other:?}"),
        }
    }
}

#[tokio::test]
async fn members_over_tls_join_and_signal_each_other_through_the_relays_framing() {
    let dir = std::env::temp_dir().join(format!("peerlab-tls-signal-{}", std::process::id()));
    let (config, trusted) = self_signed(&dir);
    let relay = Relay::start_with(config).await;
    let room = room("tls-signal");
    let (mut ada, ada_id) = wss_joined(&relay, trusted.clone(), &room, "Ada").await;
    let (mut bob, bob_id) = wss_joined(&relay, trusted, &room, "Bob").await;
    assert!(matches!(
        wss_recv(&mut ada).await,
        ServerMessage::MemberJoined { .. }
    ));
    // Signals from small to the size of an SDP offer with many candidates, several TLS records each.
    for (n, size) in [3usize, 1_500, 20_000, 60_000].into_iter().enumerate() {
        let pad = "s".repeat(size);
        let signal =
            serde_json::json!({"type": "signal", "to": bob_id, "payload": {"n": n, "pad": pad}});
        ada.send(Message::text(signal.to_string())).await.unwrap();
        match wss_recv(&mut bob).await {
            ServerMessage::Signal { from, payload } => {
                assert_eq!(from, ada_id);
                let payload: serde_json::Value = payload.parse().unwrap();
                assert_eq!(payload["n"], n);
                assert_eq!(payload["pad"].as_str().map(str::len), Some(size));
            }
            other => panic!("expected signal {n}, got {other:?}"),
        }
    }
    assert_eq!(
        relay
            .state
            .counters
            .signals_relayed
            .load(std::sync::atomic::Ordering::Relaxed),
        4
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A WebSocket over TLS with the handshake done by hand, for frames no WebSocket library would write.
async fn raw_wss(
    relay: &Relay,
    trusted: CertificateDer<'static>,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut tls = tls_connect(relay, trusted).await;
    tls.write_all(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        tokio::time::timeout(PATIENCE, tls.read_exact(&mut byte))
            .await
            .unwrap()
            .unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tls
}

/// The next server frame: its first header byte and its payload; `None` at the end of the stream.
async fn next_frame(
    stream: &mut tokio_rustls::client::TlsStream<TcpStream>,
) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await.ok()?;
    let len = match head[1] {
        126 => stream.read_u16().await.ok()? as usize,
        127 => stream.read_u64().await.ok()? as usize,
        n => n as usize,
    };
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.ok()?;
    Some((head[0], body))
}

/// Reads server frames until the relay closes: the close frame's code, if one came.
async fn close_code_over(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) -> Option<u16> {
    let read = async {
        loop {
            let (first, body) = next_frame(stream).await?;
            if first == 0x88 && body.len() >= 2 {
                return Some(u16::from_be_bytes([body[0], body[1]]));
            }
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("the relay closes the connection in time")
}

#[tokio::test]
async fn over_tls_a_fragmented_message_over_the_limit_and_an_oversize_frame_close_with_1009() {
    let dir = std::env::temp_dir().join(format!("peerlab-tls-limits-{}", std::process::id()));
    let (mut config, trusted) = self_signed(&dir);
    config.max_message_bytes = 1024;
    let relay = Relay::start_with(config).await;

    // Two fragments of 600 bytes: each under the limit, together over it (and far under the 4 KiB hard
    // limit a single frame is held to, and the 4 × limit tungstenite reassembled up to).
    let mut tls = raw_wss(&relay, trusted.clone()).await;
    let mut frames = masked_frame(0x01, &[b' '; 600]);
    frames.extend(masked_frame(0x80, &[b' '; 600]));
    tls.write_all(&frames).await.unwrap();
    assert_eq!(
        close_code_over(&mut tls).await,
        Some(close_code::MESSAGE_TOO_BIG)
    );

    // A message of exactly the limit in fragments passes (and gets the protocol's answer to its content).
    let mut tls = raw_wss(&relay, trusted.clone()).await;
    let mut frames = masked_frame(0x01, &[b' '; 512]);
    frames.extend(masked_frame(0x80, &[b' '; 512]));
    // A ping after it shows the connection is still up: its pong comes back.
    frames.extend(masked_frame(0x89, b"still here"));
    tls.write_all(&frames).await.unwrap();
    let pong = tokio::time::timeout(PATIENCE, async {
        loop {
            let (first, body) = next_frame(&mut tls).await.expect("the connection stays up");
            assert_ne!(first, 0x88, "closed: {body:?}");
            if first == 0x8A {
                return body;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(pong, b"still here");

    // One frame over the hard limit (4 × 1 KiB): refused from its header, its payload never sent.
    let mut tls = raw_wss(&relay, trusted).await;
    let frame = masked_frame(0x81, &vec![b'x'; 4 * 1024 + 1]);
    tls.write_all(&frame[..14]).await.unwrap();
    assert_eq!(
        close_code_over(&mut tls).await,
        Some(close_code::MESSAGE_TOO_BIG)
    );
    std::fs::remove_dir_all(dir).ok();
}
