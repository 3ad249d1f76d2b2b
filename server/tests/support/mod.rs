//! Test support: a relay on port 0 and a WebSocket client that speaks the protocol.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use peerlab_protocol::{decode_server, ErrorCode, Member, PeerId, ServerMessage};
use peerlab_server::{AppState, Config};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for something it expects before failing.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A relay running in this test's runtime; dropping it does not stop it, `shutdown` does.
pub struct Relay {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The defaults, with the dist directory pointed at nothing so tests do not depend on a build.
pub fn test_config() -> Config {
    Config {
        dist: PathBuf::from("/nonexistent-peerlab-dist"),
        ..Config::default()
    }
}

impl Relay {
    pub async fn start() -> Relay {
        Relay::start_with(test_config()).await
    }

    pub async fn start_with(config: Config) -> Relay {
        config.validate().expect("test config is valid");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState::new(config);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(peerlab_server::serve_state(
            listener,
            state.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        Relay {
            addr,
            state,
            stop: Some(stop),
            task,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.ws_url()).await
    }

    /// Connects and joins `room` as `name`, returning the client and its welcome.
    pub async fn joined(&self, room: &str, name: &str) -> (Client, Welcome) {
        let mut client = self.client().await;
        let welcome = client.join(room, name).await;
        (client, welcome)
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(PATIENCE, &mut self.task)
            .await
            .expect("relay stops within the grace period")
            .expect("relay task did not panic")
            .expect("relay returned no error");
    }
}

/// The resume token and the `resumed` flag of a welcome; panics on anything else.
pub fn resume_of(message: &ServerMessage) -> (String, bool) {
    match message {
        ServerMessage::Welcome {
            resume: Some(token),
            resumed,
            ..
        } => (token.clone(), *resumed),
        other => panic!("expected a welcome with a resume token, got {other:?}"),
    }
}

/// The peer id of a welcome; panics on anything else.
pub fn peer_id_of(message: &ServerMessage) -> PeerId {
    match message {
        ServerMessage::Welcome { peer_id, .. } => peer_id.clone(),
        other => panic!("expected a welcome, got {other:?}"),
    }
}

/// The useful parts of a `welcome`.
#[derive(Debug, Clone)]
pub struct Welcome {
    pub id: PeerId,
    pub members: Vec<Member>,
    pub message: ServerMessage,
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Client { ws }
    }

    /// Connects as a browser page from `origin` would; the HTTP status if the relay refuses.
    pub async fn connect_from(url: &str, origin: &str) -> Result<Client, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::Error;
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Client { ws }),
            Err(Error::Http(response)) => Err(response.status().as_u16()),
            Err(other) => panic!("unexpected handshake failure: {other}"),
        }
    }

    /// Sends a join with `token` and returns the relay's answer (a welcome or an error).
    pub async fn join_with_token(
        &mut self,
        room: &str,
        name: &str,
        token: Option<&str>,
    ) -> ServerMessage {
        self.send(
            json!({"type": "join", "version": 1, "name": name, "room": room, "token": token}),
        )
        .await;
        self.recv().await
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn join(&mut self, room: &str, name: &str) -> Welcome {
        self.send(json!({"type": "join", "version": 1, "name": name, "room": room}))
            .await;
        match self.recv().await {
            message @ ServerMessage::Welcome { .. } => {
                let ServerMessage::Welcome {
                    ref peer_id,
                    ref members,
                    ..
                } = message
                else {
                    unreachable!()
                };
                Welcome {
                    id: peer_id.clone(),
                    members: members.clone(),
                    message: message.clone(),
                }
            }
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    /// The next protocol message, skipping WebSocket pings; panics after [`PATIENCE`].
    pub async fn recv(&mut self) -> ServerMessage {
        self.try_recv(PATIENCE)
            .await
            .unwrap_or_else(|| panic!("no message within {PATIENCE:?}"))
    }

    /// The next protocol message within `wait`, or `None` if none arrives (or the connection closed).
    pub async fn try_recv(&mut self, wait: Duration) -> Option<ServerMessage> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match next {
                Ok(Message::Text(text)) => {
                    return Some(
                        decode_server(&text).unwrap_or_else(|e| {
                            panic!("relay sent undecodable JSON {text:?}: {e}")
                        }),
                    )
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Asserts that nothing arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(message) = self.try_recv(wait).await {
            panic!("expected no message, got {message:?}");
        }
    }

    /// Expects a typed error with `code`, returning its human message.
    pub async fn expect_error(&mut self, code: ErrorCode) -> String {
        match self.recv().await {
            ServerMessage::Error { code: got, message } if got == code => message,
            other => panic!("expected error {code:?}, got {other:?}"),
        }
    }

    /// Proves the connection is still up and answering.
    pub async fn assert_alive(&mut self) {
        let nonce = rand_nonce();
        self.send(json!({"type": "ping", "nonce": nonce})).await;
        match self.recv().await {
            ServerMessage::Pong { nonce: got } => assert_eq!(got, nonce),
            other => panic!("expected pong, got {other:?}"),
        }
    }

    /// Closes the connection the way a page that leaves does: a close frame with code 1000 (so the relay
    /// announces the leave at once instead of keeping the member away for a resume).
    pub async fn close_normally(mut self) {
        use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
        let _ = self
            .ws
            .close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await;
        // Reads until the relay's close reply, so the close has been seen before this returns.
        let _ = tokio::time::timeout(PATIENCE, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    /// Sends a join carrying `resume` and returns the relay's answer (a welcome or an error).
    pub async fn join_with_resume(
        &mut self,
        room: &str,
        name: &str,
        resume: &str,
    ) -> ServerMessage {
        self.send(
            json!({"type": "join", "version": 1, "name": name, "room": room, "resume": resume}),
        )
        .await;
        self.recv().await
    }

    /// Waits for the relay to close the connection and returns its close frame.
    pub async fn expect_close(&mut self) -> Option<CloseFrame> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => panic!("connection not closed within {PATIENCE:?}"),
                Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(Message::Close(frame)))) => return frame,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }
}

fn rand_nonce() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(1)
}

/// A unique room name per test, so tests that share a relay never see each other.
pub fn room(tag: &str) -> String {
    format!("{tag}-{}", rand_nonce())
}

/// Fetches `path` over plain HTTP/1.1 and returns (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = http_get_with_headers(addr, path).await;
    (status, body)
}

/// Fetches `path` over plain HTTP/1.1 and returns (status, headers with lower-case names, body).
pub async fn http_get_with_headers(
    addr: SocketAddr,
    path: &str,
) -> (u16, Vec<(String, String)>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

/// The value of header `name` (lower case) in `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A masked client frame: `first` is the first header byte (FIN, RSV and opcode).
pub fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let len = payload.len();
    let mut out = Vec::with_capacity(len + 14);
    if len < 126 {
        out.extend_from_slice(&[first, 0x80 | len as u8]);
    } else if len <= 0xFFFF {
        out.extend_from_slice(&[first, 0x80 | 126]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.extend_from_slice(&[first, 0x80 | 127]);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A WebSocket connection with the handshake done by hand, so a test can write frames no WebSocket library
/// would, or many in one write. Returns the stream and the status line.
pub async fn raw_ws(addr: SocketAddr, extra_headers: &str) -> (TcpStream, String) {
    raw_ws_with_host(addr, &addr.to_string(), extra_headers).await
}

/// Like [`raw_ws`] with `host` as its Host header (a name the page was loaded under); a `Host:` line in
/// `extra_headers` is dropped.
pub async fn raw_ws_with_host(
    addr: SocketAddr,
    host: &str,
    extra_headers: &str,
) -> (TcpStream, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let extra: String = extra_headers
        .split("\r\n")
        .filter(|h| !h.is_empty() && !h.to_ascii_lowercase().starts_with("host:"))
        .map(|h| format!("{h}\r\n"))
        .collect();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        match tokio::time::timeout(PATIENCE, stream.read_exact(&mut byte)).await {
            Ok(Ok(_)) => head.push(byte[0]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let status = text.lines().next().unwrap_or("").to_owned();
    (stream, status)
}

/// Reads server frames from a raw WebSocket until the relay closes: the close frame's code, if one came
/// before the end of the stream (a flood's unread frames may reset the connection first).
pub async fn raw_until_closed(stream: &mut TcpStream) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    let read = async {
        loop {
            let mut head = [0u8; 2];
            stream.read_exact(&mut head).await.ok()?;
            let len = match head[1] {
                126 => stream.read_u16().await.ok()? as usize,
                127 => stream.read_u64().await.ok()? as usize,
                n => n as usize,
            };
            let mut body = vec![0u8; len];
            stream.read_exact(&mut body).await.ok()?;
            if head[0] == 0x88 && body.len() >= 2 {
                return Some(u16::from_be_bytes([body[0], body[1]]));
            }
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("the relay closes the connection in time")
}

impl Client {
    /// Writes `bytes` (whole frames) straight to the socket, in one write, past the WebSocket library.
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        match self.ws.get_mut() {
            MaybeTlsStream::Plain(tcp) => tcp.write_all(bytes).await.unwrap(),
            _ => panic!("raw writes need a plain TCP connection"),
        }
    }
}
