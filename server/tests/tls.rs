//! The relay terminating TLS itself: a client that trusts the relay's certificate joins over `wss://` and
//! reads `/healthz` over `https://`; a plain-text client gets nowhere; a bad certificate path is refused at
//! start with a message that names the file.

mod support;

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use peerlab_protocol::{decode_server, ServerMessage};
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
