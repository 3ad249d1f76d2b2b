//! A property test of the relay's room logic, driven through the real connection loop
//! ([`peerlab_server::conn::serve`]) over in-memory sockets: for any sequence of client messages from
//! several connections, including invalid ones, connections that end midway (cleanly or by dropping) and
//! joins that resume another connection's id, no connection task panics, a connection that closes cleanly
//! leaves no member behind, one that drops leaves at most an away member, a resume that takes over a live
//! id closes the old connection with 4004, and once all have ended and the grace has passed no member
//! and no room remains.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Sink, Stream};
use peerlab_protocol::{close_code, decode_server, PeerId, ServerMessage};
use peerlab_server::rooms::At;
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
    /// A join with the last resume token connection `from` received (its own, another's, or none yet).
    Resume {
        from: usize,
        room: usize,
    },
    /// Ends the connection without a close handshake.
    End,
    /// Closes the connection with a close frame (code 1000).
    Close,
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
        2 => (0..CONNECTIONS, 0..ROOMS.len()).prop_map(|(from, room)| Action::Resume { from, room }),
        1 => Just(Action::End),
        1 => Just(Action::Close),
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
    /// The resume token of its last welcome.
    resume: Option<String>,
}

/// How long a dropped member stays away in this test.
const GRACE: Duration = Duration::from_millis(30);

/// What an exchange saw.
#[derive(Default)]
struct Seen {
    /// A welcome with `resumed: true`, and its id.
    resumed: Option<PeerId>,
}

/// Sends a ping after `text` and reads the connection's frames up to its pong, noting welcomes and leaves.
/// A connection the relay closed meanwhile must have been replaced (4004); it is then finished here.
async fn exchange(conn: &mut Conn, message: Message, nonce: u64) -> Seen {
    let mut seen = Seen::default();
    let Some(to_relay) = &conn.to_relay else {
        return seen;
    };
    let ping = Message::text(json!({"type": "ping", "nonce": nonce}).to_string());
    if to_relay.send(message).is_err() || to_relay.send(ping).is_err() {
        expect_replaced(conn).await;
        return seen;
    }
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), conn.from_relay.recv())
            .await
            .expect("the relay answers every ping");
        let Some(frame) = frame else {
            panic!("the relay ended a connection without a close frame");
        };
        let text = match frame {
            Message::Text(text) => text,
            Message::Close(Some(close)) => {
                assert_eq!(u16::from(close.code), close_code::REPLACED);
                finish_replaced(conn).await;
                return seen;
            }
            _ => continue,
        };
        match decode_server(&text).expect("the relay sends valid messages") {
            ServerMessage::Welcome {
                peer_id,
                resume,
                resumed,
                ..
            } => {
                conn.ids.push(peer_id.clone());
                conn.resume = Some(resume.expect("every welcome carries a resume token"));
                if resumed {
                    seen.resumed = Some(peer_id.clone());
                }
                conn.id = Some(peer_id);
            }
            ServerMessage::Left { .. } => conn.id = None,
            ServerMessage::Pong { nonce: got } if got == nonce => return seen,
            _ => {}
        }
    }
}

/// Reads a connection up to its close frame, which must say "replaced" (4004), and waits for its task.
async fn expect_replaced(conn: &mut Conn) {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), conn.from_relay.recv())
            .await
            .expect("a replaced connection is closed");
        match frame {
            Some(Message::Close(Some(close))) => {
                assert_eq!(u16::from(close.code), close_code::REPLACED);
                break;
            }
            Some(_) => continue,
            None => panic!("the relay ended a connection without a close frame"),
        }
    }
    finish_replaced(conn).await;
}

async fn finish_replaced(conn: &mut Conn) {
    conn.to_relay = None;
    conn.id = None;
    if let Some(task) = conn.task.take() {
        task.await.expect("the connection task did not panic");
    }
}

/// Where member `id` is now, if anywhere.
fn whereabouts(state: &AppState, id: &PeerId) -> Option<At<peerlab_server::conn::ConnHandle>> {
    ROOMS
        .iter()
        .find_map(|room| state.rooms.with_room(room, |rooms| rooms.route(room, id)))
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
        resume_grace_ms: GRACE.as_millis() as u64,
        ..Config::default()
    };
    let state = AppState::new(config);
    let mut conns: Vec<Conn> = (0..CONNECTIONS)
        .map(|i| {
            let (to_relay, incoming) = mpsc::unbounded_channel();
            let (outgoing, from_relay) = mpsc::unbounded_channel();
            let socket = MemSocket { incoming, outgoing };
            let remote = format!("127.0.0.1:{}", 40_000 + i).parse().unwrap();
            let task = tokio::spawn(peerlab_server::conn::serve(socket, state.clone(), remote));
            Conn {
                to_relay: Some(to_relay),
                from_relay,
                task: Some(task),
                id: None,
                ids: Vec::new(),
                resume: None,
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
            Action::Resume { from, room } => Message::text(
                json!({"type": "join", "version": 1, "name": NAMES[0], "room": ROOMS[room],
                       "resume": conns[from].resume})
                .to_string(),
            ),
            Action::End | Action::Close => {
                let clean = matches!(action, Action::Close);
                let conn = &mut conns[who];
                if let (true, Some(to_relay)) = (clean, &conn.to_relay) {
                    let _ = to_relay.send(Message::Close(Some(
                        tokio_tungstenite::tungstenite::protocol::CloseFrame {
                            code: 1000.into(),
                            reason: "bye".into(),
                        },
                    )));
                }
                conn.to_relay = None;
                if let Some(task) = conn.task.take() {
                    task.await.expect("the connection task did not panic");
                }
                if let Some(id) = conn.id.take() {
                    match whereabouts(&state, &id) {
                        None => {}
                        Some(At::Away { .. }) if !clean => {}
                        Some(other) => panic!(
                            "{id} still {other:?} after its connection ended (clean: {clean})"
                        ),
                    }
                }
                continue;
            }
        };
        let seen = exchange(&mut conns[who], message, nonce).await;
        if let Some(id) = seen.resumed {
            // Whoever else held the id is closed as replaced: one id, one connection.
            for (i, other) in conns.iter_mut().enumerate() {
                if i != who && other.id.as_ref() == Some(&id) {
                    expect_replaced(other).await;
                }
            }
        }
    }
    for conn in &mut conns {
        conn.to_relay = None;
        if let Some(task) = conn.task.take() {
            task.await.expect("the connection task did not panic");
        }
    }
    // Dropped members stay away for the grace period, then go.
    let deadline = tokio::time::Instant::now() + GRACE + Duration::from_secs(5);
    while !all_member_ids(&state).is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(GRACE / 3).await;
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
