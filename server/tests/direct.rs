//! Signals written straight into the receiver's socket by the sender's task (`transport::Outbox::commit_text`):
//! frames to one receiver stay whole and in each sender's order under concurrent senders, writes cut short by
//! a full socket and a receiver that reads late; a receiver that vanishes mid-burst harms nobody else.
//! The relay runs on a multi-threaded runtime so senders really race.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use peerlab_protocol::{decode_server, PeerId, ServerMessage};
use serde_json::{json, Value};
use support::*;
use tokio_tungstenite::tungstenite::Message;

/// A relay without a rate limit, with room for the bursts below in each queue.
fn burst_config() -> peerlab_server::Config {
    peerlab_server::Config {
        rate_limit: 0,
        queue_capacity: 20_000,
        max_queue_bytes: 1 << 30,
        max_peers: 16,
        ..test_config()
    }
}

/// The pad of signal `n` from sender `s`: sizes from a few bytes to 60 KB (several socket writes), and
/// content that tells a frame's bytes from its neighbours'.
fn pad(s: usize, n: usize) -> String {
    let len = match n % 7 {
        0 => 60_000,
        1 => 3,
        2 => 125,
        3 => 126,
        4 => 65_536 - 200,
        5 => 1_500,
        _ => 17_000 + n,
    };
    let c = (b'a' + ((s * 31 + n) % 26) as u8) as char;
    c.to_string().repeat(len)
}

/// Reads signals until `expected` arrived, checking each is whole and follows its sender's previous one.
async fn read_in_order(
    mut stream: impl futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
    senders: &HashMap<PeerId, usize>,
    expected: usize,
) {
    let mut next = vec![0usize; senders.len()];
    let mut got = 0;
    while got < expected {
        let message = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .expect("the burst arrives")
            .expect("the connection stays open")
            .expect("frames are valid");
        let Message::Text(text) = message else {
            continue;
        };
        let ServerMessage::Signal { from, payload } = decode_server(&text).expect("whole JSON")
        else {
            continue;
        };
        let s = senders[&from];
        let payload: Value = serde_json::from_str(payload.as_json()).unwrap();
        let n = payload["n"].as_u64().unwrap() as usize;
        assert_eq!(n, next[s], "sender {s}'s signals arrive in order");
        assert_eq!(payload["s"], s, "stamped with its sender");
        assert!(
            payload["pad"] == pad(s, n).as_str(),
            "signal {n} of {s} intact"
        );
        next[s] += 1;
        got += 1;
    }
}

async fn burst_to_one_receiver(read_late: bool) {
    const SENDERS: usize = 6;
    const EACH: usize = 120;
    let relay = Relay::start_with(burst_config()).await;
    let room = room("direct");
    let (receiver, receiver_w) = relay.joined(&room, "R").await;
    let mut senders = Vec::new();
    let mut ids = HashMap::new();
    for s in 0..SENDERS {
        let (client, welcome) = relay.joined(&room, &format!("S{s}")).await;
        ids.insert(welcome.id.clone(), s);
        senders.push(client);
    }
    let to = receiver_w.id.clone();
    let (_, stream) = receiver.ws.split();
    // A receiver that reads only after the senders are done has its socket fill up: writes are cut short
    // and the rest waits in the relay.
    let reader = {
        let ids = ids.clone();
        tokio::spawn(async move {
            if read_late {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            read_in_order(stream, &ids, SENDERS * EACH).await;
        })
    };
    let mut tasks = Vec::new();
    for (s, mut client) in senders.into_iter().enumerate() {
        let to = to.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..EACH {
                let signal = json!({"type": "signal", "to": to,
                                    "payload": {"n": n, "s": s, "pad": pad(s, n)}});
                client
                    .ws
                    .feed(Message::text(signal.to_string()))
                    .await
                    .unwrap();
                if n % 8 == 7 {
                    client.ws.flush().await.unwrap();
                }
            }
            client.ws.flush().await.unwrap();
            client
        }));
    }
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await.unwrap());
    }
    tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("the receiver gets every signal")
        .unwrap();
    assert_eq!(
        relay
            .state
            .counters
            .evictions
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    // Every sender is still connected and answering (after the member_joined events it has not read).
    for client in &mut clients {
        client.send(json!({"type": "ping", "nonce": 7})).await;
        loop {
            match client.recv().await {
                ServerMessage::Pong { nonce } => {
                    assert_eq!(nonce, 7);
                    break;
                }
                ServerMessage::MemberJoined { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_senders_reach_one_receiver_whole_and_in_order() {
    burst_to_one_receiver(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_that_reads_late_gets_every_frame_whole_and_in_order() {
    burst_to_one_receiver(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_that_vanishes_mid_burst_harms_neither_senders_nor_room() {
    let relay = Relay::start_with(burst_config()).await;
    let room = room("vanish");
    let (receiver, receiver_w) = relay.joined(&room, "R").await;
    let (mut a, a_w) = relay.joined(&room, "A").await;
    let (mut b, b_w) = relay.joined(&room, "B").await;
    a.recv().await; // B joined
    let to = receiver_w.id.clone();
    let flood = tokio::spawn(async move {
        for n in 0..400 {
            let signal = json!({"type": "signal", "to": to, "payload": {"n": n, "pad": pad(0, n)}});
            if a.ws.feed(Message::text(signal.to_string())).await.is_err() {
                panic!("the sender's connection broke");
            }
            if n % 16 == 15 {
                a.ws.flush().await.unwrap();
            }
        }
        a.ws.flush().await.unwrap();
        a
    });
    // The receiver reads a little, then drops its connection without a close frame.
    let (_, mut stream) = receiver.ws.split();
    let _ = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
    drop(stream);
    let mut a = flood.await.unwrap();
    // A and B still reach each other, in both directions.
    a.send(json!({"type": "signal", "to": b_w.id, "payload": {"after": true}}))
        .await;
    loop {
        match b.recv().await {
            ServerMessage::Signal { from, payload } => {
                assert_eq!(from, a_w.id);
                assert_eq!(payload.as_json(), r#"{"after":true}"#);
                break;
            }
            ServerMessage::MemberJoined { .. } | ServerMessage::MemberLeft { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    b.send(json!({"type": "signal", "to": a_w.id, "payload": {"back": true}}))
        .await;
    loop {
        match a.recv().await {
            ServerMessage::Signal { from, payload } => {
                assert_eq!(from, b_w.id);
                assert_eq!(payload.as_json(), r#"{"back":true}"#);
                break;
            }
            // Errors for signals to the vanished receiver (away or gone) are expected.
            ServerMessage::Error { .. } | ServerMessage::MemberLeft { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}
