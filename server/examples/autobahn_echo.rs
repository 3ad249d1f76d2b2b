//! An echo server on the relay's own WebSocket transport (`peerlab_server::transport::RelaySocket` over an
//! `Outbox` that owns the socket: the one framing path the relay runs for plain TCP and TLS), for the
//! Autobahn test suite's `fuzzingclient`. Text and binary messages come back as they arrived; pings, pongs
//! and closes are handled by the framing itself, as in the relay. It is not the relay: no rooms, no limits beyond frame sizes
//! large enough for the suite's cases 9.x (16 MiB).
//!
//! Usage: `cargo run --release -p peerlab-server --example autobahn_echo -- 127.0.0.1:9001 [--tls CERT KEY]`
//! (with `--tls`, over TLS with the PEM certificate and key, as the relay with `--tls-cert`/`--tls-key`).

use std::path::Path;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use peerlab_server::transport::handshake::accept_key;
use peerlab_server::transport::{tls, Limits, Message, Outbox, RelaySocket, Wire};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// Frames and messages up to 64 MiB: the suite's largest messages are 16 MiB.
const LIMITS: Limits = Limits {
    max_frame: 64 << 20,
    max_message: 64 << 20,
};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let tls = match args.get(1..) {
        Some([flag, cert, key]) if flag == "--tls" => Some(tokio_rustls::TlsAcceptor::from(
            tls::load(Path::new(cert), Path::new(key)).map_err(std::io::Error::other)?,
        )),
        Some([]) | None => None,
        Some(_) => {
            return Err(std::io::Error::other(
                "usage: autobahn_echo [ADDR] [--tls CERT.pem KEY.pem]",
            ))
        }
    };
    let listener = TcpListener::bind(&addr).await?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    eprintln!("echoing WebSocket messages on {scheme}://{addr}");
    loop {
        let (tcp, _) = listener.accept().await?;
        let tls = tls.clone();
        tokio::spawn(async move {
            let served = async {
                tcp.set_nodelay(true)?;
                match tls {
                    None => echo(tcp, Wire::Tcp).await,
                    Some(acceptor) => {
                        let stream = acceptor.accept(tcp).await?;
                        echo(stream, |s| Wire::Tls(Box::new(s))).await
                    }
                }
            };
            if let Err(err) = served.await {
                eprintln!("connection ended: {err}");
            }
        });
    }
}

/// Reads the HTTP upgrade request, answers 101, and echoes messages until the client closes.
async fn echo<S>(mut stream: S, wire: impl FnOnce(S) -> Wire) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let request = String::from_utf8_lossy(&head[..end]).into_owned();
    let key = request
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_owned())
        })
        .ok_or_else(|| std::io::Error::other("no Sec-WebSocket-Key"))?;
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key.as_bytes())
    );
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await?;
    let pending = head[end..].to_vec();
    let outbox = Arc::new(Outbox::with_wire(wire(stream)));
    let mut socket = RelaySocket::new(outbox.clone(), pending, LIMITS);
    while let Some(message) = socket.next().await {
        match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                if socket.send(message).await.is_err() {
                    break;
                }
            }
            Ok(Message::Close(_)) => {
                // The framing has echoed the close; let it reach the client before the socket goes.
                let _ = socket.close().await;
                break;
            }
            Ok(_) => {}
            Err(err) => {
                eprintln!("framing error: {err}");
                break;
            }
        }
    }
    outbox.close();
    Ok(())
}
