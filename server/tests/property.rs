//! A property test of the relay's room logic, driven through the real connection loop
//! ([`peerlab_server::socket::serve`]) over in-memory sockets: for any sequence of client messages from
//! several connections, including invalid ones and connections that end midway, no connection task
//! panics, a connection that ends leaves no member behind, and once all have ended no room remains.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Sink, Stream};
use peerlab_protocol::{decode_server, PeerId, ServerMessage};
use peerlab_server::{AppState, Config};
use proptest::prelude::*;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// One end of an in-memory WebSocket: what the test sends arrives as the relay's incoming frames, and
/// what the relay writes is collected for the test.
struct MemSocket {
    incoming: mpsc::UnboundedReceiver<Message>,
    outgoing: mpsc::UnboundedSender<Message>,
}

impl Stream for MemSocket {
    type Item = Result<Message, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.incoming.poll_recv(cx).map(|m| m.map(Ok))
    }
}

impl Sink<Message> for MemSocket {
    type Error = Infallible;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Infallible> {
        // The test may have stopped reading a connection it ended; its frames have nowhere to go.
        let _ = self.outgoing.send(item);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
}

/// What one connection does in one step.
#[derive(Clone, Debug)]
enum Action {
    Join {
        room: usize,
        name: usize,
    },
    Leave,
    Rename {
        name: usize,
    },
    /// A signal to the peer id another connection last had (or one nobody has).
    Signal {
        to: usize,
    },
    Garbage(String),
    Binary,
    /// Ends the connection without a close handshake.
    End,
}

const ROOMS: [&str; 3] = ["alpha", "beta", "../bad"];
const NAMES: [&str; 3] = ["Ada", "  Bob ", "\u{202E}evil"];
const CONNECTIONS: usize = 4;

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..ROOMS.len(), 0..NAMES.len()).prop_map(|(room, name)| Action::Join { room, name }),
        2 => Just(Action::Leave),
        1 => (0..NAMES.len()).prop_map(|name| Action::Rename { name }),
        3 => (0..CONNECTIONS + 1).prop_map(|to| Action::Signal { to }),
        1 => ".{0,40}".prop_map(Action::Garbage),
        1 => Just(Action::Binary),
        1 => Just(Action::End),
    ]
}

struct Conn {
    to_relay: Option<mpsc::UnboundedSender<Message>>,
    from_relay: mpsc::UnboundedReceiver<Message>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The peer id of the connection's current membership, read from its welcome.
    id: Option<PeerId>,
    /// Every peer id this connection ever had.
    ids: Vec<PeerId>,
}

/// Sends a ping after `text` and reads the connection's frames up to its pong, noting welcomes and leaves.
async fn exchange(conn: &mut Conn, message: Message, nonce: u64) {
    let Some(to_relay) = &conn.to_relay else {
        return;
    };
    to_relay.send(message).unwrap();
    to_relay
        .send(Message::text(
            json!({"type": "ping", "nonce": nonce}).to_string(),
        ))
        .unwrap();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), conn.from_relay.recv())
            .await
            .expect("the relay answers every ping")
            .expect("the connection is open");
        let Message::Text(text) = frame else { continue };
        match decode_server(&text).expect("the relay sends valid messages") {
            ServerMessage::Welcome { peer_id, .. } => {
                conn.ids.push(peer_id.clone());
                conn.id = Some(peer_id);
            }
            ServerMessage::Left { .. } => conn.id = None,
            ServerMessage::Pong { nonce: got } if got == nonce => return,
            _ => {}
        }
    }
}

fn all_member_ids(state: &AppState) -> Vec<PeerId> {
    state
        .rooms
        .each_shard(|rooms| rooms.local_members())
        .into_iter()
        .flatten()
        .flat_map(|(_, members)| members.into_iter().map(|m| m.id))
        .collect()
}

async fn run(steps: Vec<(usize, Action)>) {
    let config = Config {
        max_peers: 3,
        ..Config::default()
    };
    let state = AppState::new(config);
    let mut conns: Vec<Conn> = (0..CONNECTIONS)
        .map(|i| {
            let (to_relay, incoming) = mpsc::unbounded_channel();
            let (outgoing, from_relay) = mpsc::unbounded_channel();
            let socket = MemSocket { incoming, outgoing };
            let remote = format!("127.0.0.1:{}", 40_000 + i).parse().unwrap();
            let task = tokio::spawn(peerlab_server::socket::serve(socket, state.clone(), remote));
            Conn {
                to_relay: Some(to_relay),
                from_relay,
                task: Some(task),
                id: None,
                ids: Vec::new(),
            }
        })
        .collect();
    for (nonce, (who, action)) in steps.into_iter().enumerate() {
        let nonce = nonce as u64;
        let message = match action {
            Action::Join { room, name } => Message::text(
                json!({"type": "join", "version": 1, "name": NAMES[name], "room": ROOMS[room]})
                    .to_string(),
            ),
            Action::Leave => Message::text(r#"{"type":"leave"}"#),
            Action::Rename { name } => {
                Message::text(json!({"type": "rename", "name": NAMES[name]}).to_string())
            }
            Action::Signal { to } => {
                let to = conns
                    .get(to)
                    .and_then(|c| c.ids.last().cloned())
                    .unwrap_or_else(|| PeerId::from("nobody"));
                Message::text(
                    json!({"type": "signal", "to": to, "payload": {"n": nonce}}).to_string(),
                )
            }
            Action::Garbage(text) => Message::text(text),
            Action::Binary => Message::binary(vec![0u8, 1, 2]),
            Action::End => {
                let conn = &mut conns[who];
                conn.to_relay = None;
                if let Some(task) = conn.task.take() {
                    task.await.expect("the connection task did not panic");
                }
                let remaining = all_member_ids(&state);
                for id in &conn.ids {
                    assert!(
                        !remaining.contains(id),
                        "{id} left behind after its connection ended"
                    );
                }
                continue;
            }
        };
        exchange(&mut conns[who], message, nonce).await;
    }
    for conn in &mut conns {
        conn.to_relay = None;
        if let Some(task) = conn.task.take() {
            task.await.expect("the connection task did not panic");
        }
    }
    assert_eq!(all_member_ids(&state), Vec::<PeerId>::new());
    assert_eq!(state.rooms.room_count(), 0, "no room outlives its members");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn no_message_sequence_panics_the_relay_or_leaves_a_member_behind(
        steps in prop::collection::vec((0..CONNECTIONS, action()), 1..48)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(run(steps));
    }
}
