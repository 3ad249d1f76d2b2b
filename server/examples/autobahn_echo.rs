//! An echo server on the relay's own WebSocket framing (`peerlab_server::ws::RelaySocket` over an
//! `Outbox` that owns the socket, as the relay runs plain TCP connections), for the Autobahn test suite's
//! `fuzzingclient`. Text and binary messages come back as they arrived; pings, pongs and closes are handled
//! by the framing itself, as in the relay. It is not the relay: no rooms, no limits beyond frame sizes
//! large enough for the suite's cases 9.x (16 MiB).
//!
//! Usage: `cargo run --release -p peerlab-server --example autobahn_echo -- 127.0.0.1:9001`

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use peerlab_server::outbox::Outbox;
use peerlab_server::ws::{Limits, RelaySocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::Message;

/// Frames and messages up to 64 MiB: the suite's largest messages are 16 MiB.
const LIMITS: Limits = Limits {
    max_frame: 64 << 20,
    max_message: 64 << 20,
};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("echoing WebSocket messages on ws://{addr}");
    loop {
        let (tcp, _) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(err) = echo(tcp).await {
                eprintln!("connection ended: {err}");
            }
        });
    }
}

/// Reads the HTTP upgrade request, answers 101, and echoes messages until the client closes.
async fn echo(mut tcp: TcpStream) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        let n = tcp.read(&mut buf).await?;
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
        derive_accept_key(key.as_bytes())
    );
    tcp.write_all(response.as_bytes()).await?;
    let pending = head[end..].to_vec();
    let outbox = Arc::new(Outbox::with_wire(tcp));
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
