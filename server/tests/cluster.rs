//! Several relay processes acting as one through a real Redis (Debian's `redis-server`, started here on a
//! free loopback port): members on different nodes see each other and exchange signals, capacity holds
//! across nodes, a killed node's members are announced as left, a node outlives a Redis outage, and the
//! periodic reconciliation removes a dead node's leftovers and writes back what a flush of Redis lost.

mod support;

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use peerlab_protocol::{ErrorCode, LeaveReason, Member, PeerId, ServerMessage};
use serde_json::json;
use support::*;

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

async fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    for _ in 0..100 {
        if ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 5 s");
}

/// A `redis-server` on its own port, with persistence off; killed on drop.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    async fn start() -> Redis {
        let mut redis = Redis {
            port: free_port(),
            child: None,
        };
        redis.restart().await;
        redis
    }

    async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/setup.sh installs Debian's redis-server)");
        self.child = Some(child);
        let port = self.port;
        wait_until("redis-server accepting connections", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Waits (at most 10 s) until the hash `key` has no `field`.
    async fn wait_field_gone(&self, key: &str, field: &str) {
        let client = redis::Client::open(self.url()).expect("a valid Redis URL");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("Redis answers");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let present: bool = redis::cmd("HEXISTS")
                .arg(key)
                .arg(field)
                .query_async(&mut conn)
                .await
                .expect("HEXISTS answers");
            if !present {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{field} still in {key} after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Redis {
    async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("a valid Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("Redis answers")
    }

    /// Empties Redis the way an operator's `FLUSHALL` does, without dropping any node's connection.
    async fn flush_all(&self) {
        let mut conn = self.connection().await;
        redis::cmd("FLUSHALL")
            .query_async::<()>(&mut conn)
            .await
            .expect("FLUSHALL answers");
    }

    /// Waits (at most 10 s) until the hash `key` has every one of `fields`.
    async fn wait_fields_present(&self, key: &str, fields: &[&str]) {
        let mut conn = self.connection().await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mut all = true;
            for field in fields {
                let present: bool = redis::cmd("HEXISTS")
                    .arg(key)
                    .arg(field)
                    .query_async(&mut conn)
                    .await
                    .expect("HEXISTS answers");
                all &= present;
            }
            if all {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{fields:?} not all in {key} after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One relay process in the cluster; killed (SIGKILL, no goodbye) on drop or by `kill`.
struct Node {
    port: u16,
    child: Child,
}

impl Node {
    async fn start(redis: &Redis, extra: &[&str]) -> Node {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_peerlab-server"))
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--dist", "/nonexistent-peerlab-dist"])
            .args(["--redis-url", &redis.url()])
            .args(["--cluster-heartbeat-ms", "200"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("the relay binary starts");
        let node = Node { port, child };
        node.wait_cluster_up(true).await;
        node
    }

    async fn health(&self) -> Option<serde_json::Value> {
        let addr = format!("127.0.0.1:{}", self.port).parse().ok()?;
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return None;
        }
        let (status, body) = http_get(addr, "/healthz").await;
        (status == 200)
            .then(|| serde_json::from_str(&body).ok())
            .flatten()
    }

    async fn wait_cluster_up(&self, up: bool) {
        for _ in 0..100 {
            if let Some(health) = self.health().await {
                if health["cluster"]["up"] == up {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "node on port {} did not report cluster up = {up}",
            self.port
        );
    }

    async fn joined(&self, room: &str, name: &str) -> (Client, Welcome) {
        let mut client = Client::connect(&format!("ws://127.0.0.1:{}/ws", self.port)).await;
        let welcome = client.join(room, name).await;
        (client, welcome)
    }

    async fn client(&self) -> Client {
        Client::connect(&format!("ws://127.0.0.1:{}/ws", self.port)).await
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads messages until one matches, skipping the others; panics after [`PATIENCE`].
async fn recv_until(
    client: &mut Client,
    what: &str,
    pred: impl Fn(&ServerMessage) -> bool,
) -> ServerMessage {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.try_recv(left).await {
            Some(message) if pred(&message) => return message,
            Some(_) => continue,
            None => panic!("never got {what}"),
        }
    }
}

fn joined_event(id: &PeerId) -> impl Fn(&ServerMessage) -> bool + '_ {
    move |m| matches!(m, ServerMessage::MemberJoined { member } if &member.id == id)
}

fn left_event(id: &PeerId) -> impl Fn(&ServerMessage) -> bool + '_ {
    move |m| matches!(m, ServerMessage::MemberLeft { id: left, .. } if left == id)
}

async fn signal(from: &mut Client, to: &PeerId, body: serde_json::Value) {
    from.send(json!({"type": "signal", "to": to, "payload": body}))
        .await;
}

#[tokio::test]
async fn members_on_different_nodes_see_each_other_and_exchange_signals() {
    let redis = Redis::start().await;
    let n1 = Node::start(&redis, &[]).await;
    let n2 = Node::start(&redis, &[]).await;
    let room = room("cluster");

    let (mut a, a_w) = n1.joined(&room, "Ada").await;
    let (mut b, b_w) = n2.joined(&room, "Bob").await;
    assert_eq!(
        b_w.members,
        vec![Member {
            id: a_w.id.clone(),
            name: "Ada".into()
        }],
        "a newcomer on another node learns the existing member"
    );
    recv_until(&mut a, "Bob joined", joined_event(&b_w.id)).await;

    signal(&mut a, &b_w.id, json!({"kind": "offer", "sdp": "v=0"})).await;
    match recv_until(&mut b, "the offer", |m| {
        matches!(m, ServerMessage::Signal { .. })
    })
    .await
    {
        ServerMessage::Signal { from, payload } => {
            assert_eq!(from, a_w.id, "from is stamped by the sender's node");
            assert_eq!(
                payload.parse::<serde_json::Value>().unwrap(),
                json!({"kind": "offer", "sdp": "v=0"})
            );
        }
        _ => unreachable!(),
    }
    signal(&mut b, &a_w.id, json!({"kind": "answer"})).await;
    let answer = recv_until(&mut a, "the answer", |m| {
        matches!(m, ServerMessage::Signal { .. })
    })
    .await;
    assert!(matches!(answer, ServerMessage::Signal { from, .. } if from == b_w.id));

    b.send(json!({"type": "rename", "name": "Bea"})).await;
    let renamed = recv_until(&mut a, "Bob's rename", |m| {
        matches!(m, ServerMessage::MemberRenamed { .. })
    })
    .await;
    assert_eq!(
        renamed,
        ServerMessage::MemberRenamed {
            id: b_w.id.clone(),
            name: "Bea".into()
        }
    );

    let (mut c, c_w) = n1.joined(&room, "Cy").await;
    let names: Vec<&str> = c_w.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["Ada", "Bea"],
        "members from both nodes, oldest first"
    );
    recv_until(&mut b, "Cy joined", joined_event(&c_w.id)).await;

    b.send(json!({"type": "leave"})).await;
    for client in [&mut a, &mut c] {
        let left = recv_until(client, "Bea left", left_event(&b_w.id)).await;
        assert_eq!(
            left,
            ServerMessage::MemberLeft {
                id: b_w.id.clone(),
                reason: LeaveReason::Left
            }
        );
    }
}

#[tokio::test]
async fn room_capacity_holds_across_nodes() {
    let redis = Redis::start().await;
    let n1 = Node::start(&redis, &["--max-peers", "2"]).await;
    let n2 = Node::start(&redis, &["--max-peers", "2"]).await;
    let room = room("cluster-full");
    let (_a, _) = n1.joined(&room, "A").await;
    let (_b, _) = n2.joined(&room, "B").await;
    for node in [&n1, &n2] {
        let mut c = node.client().await;
        c.send(json!({"type": "join", "version": 1, "name": "C", "room": room}))
            .await;
        c.expect_error(ErrorCode::RoomFull).await;
        c.assert_alive().await;
    }
}

#[tokio::test]
async fn a_killed_node_has_its_members_announced_as_left() {
    let redis = Redis::start().await;
    let n1 = Node::start(&redis, &["--max-peers", "2"]).await;
    let mut n2 = Node::start(&redis, &["--max-peers", "2"]).await;
    let room = room("cluster-kill");
    let (mut a, _) = n1.joined(&room, "A").await;
    let (_b, b_w) = n2.joined(&room, "B").await;
    recv_until(&mut a, "B joined", joined_event(&b_w.id)).await;

    n2.kill();
    let left = recv_until(&mut a, "B announced as left", left_event(&b_w.id)).await;
    assert_eq!(
        left,
        ServerMessage::MemberLeft {
            id: b_w.id.clone(),
            reason: LeaveReason::Timeout
        }
    );
    // The dead node's place in the room is free again (capacity 2).
    let (_c, c_w) = n1.joined(&room, "C").await;
    assert_eq!(c_w.members.len(), 1);
}

#[tokio::test]
async fn a_node_keeps_serving_its_members_while_redis_is_down_and_rejoins_after() {
    let mut redis = Redis::start().await;
    let n1 = Node::start(&redis, &[]).await;
    let n2 = Node::start(&redis, &[]).await;
    let room = room("cluster-outage");
    let (mut a, a_w) = n1.joined(&room, "A").await;
    let (mut c, c_w) = n1.joined(&room, "C").await;
    let (mut b, b_w) = n2.joined(&room, "B").await;
    recv_until(&mut a, "B joined", joined_event(&b_w.id)).await;

    redis.stop();
    n1.wait_cluster_up(false).await;

    // Local members keep talking, and newcomers can still join this node.
    signal(&mut a, &c_w.id, json!({"during": "outage"})).await;
    let got = recv_until(&mut c, "A's signal", |m| {
        matches!(m, ServerMessage::Signal { .. })
    })
    .await;
    assert!(matches!(got, ServerMessage::Signal { from, .. } if from == a_w.id));
    let (_d, d_w) = n1.joined(&room, "D").await;
    assert!(d_w.members.iter().any(|m| m.id == a_w.id));
    recv_until(&mut a, "D joined", joined_event(&d_w.id)).await;

    redis.restart().await;
    n1.wait_cluster_up(true).await;
    n2.wait_cluster_up(true).await;

    // Once both nodes have re-registered, signals cross nodes again (retried while the mirrors settle).
    let mut delivered = false;
    for _ in 0..50 {
        signal(&mut a, &b_w.id, json!({"after": "outage"})).await;
        if let Some(ServerMessage::Signal { from, .. }) = {
            let mut found = None;
            while let Some(message) = b.try_recv(Duration::from_millis(100)).await {
                if matches!(message, ServerMessage::Signal { .. }) {
                    found = Some(message);
                    break;
                }
            }
            found
        } {
            assert_eq!(from, a_w.id);
            delivered = true;
            break;
        }
    }
    assert!(delivered, "a signal crossed nodes after Redis returned");
    // And a newcomer on the other node sees the members of both nodes, including the one who joined
    // during the outage.
    let (_e, e_w) = n2.joined(&room, "E").await;
    let mut ids: Vec<PeerId> = e_w.members.iter().map(|m| m.id.clone()).collect();
    ids.sort();
    let mut expected = vec![a_w.id, c_w.id, d_w.id, b_w.id];
    expected.sort();
    assert_eq!(ids, expected);
}

/// The resume token and id of a welcome.
fn resume_token(welcome: &Welcome) -> String {
    resume_of(&welcome.message).0
}

#[tokio::test]
async fn a_member_away_on_one_node_is_kept_by_the_others_until_its_grace_ends_and_resumes_there() {
    let redis = Redis::start().await;
    let grace = ["--resume-grace-ms", "1500"];
    let n1 = Node::start(&redis, &grace).await;
    let n2 = Node::start(&redis, &grace).await;
    let room = room("cluster-away");
    let (a, a_w) = n1.joined(&room, "Ada").await;
    let (mut b, b_w) = n2.joined(&room, "Bob").await;
    let token = resume_token(&a_w);

    drop(a); // No close frame.
    b.expect_silence(Duration::from_millis(500)).await;

    let mut a2 = n1.client().await;
    let welcome = a2.join_with_resume(&room, "Ada", &token).await;
    assert_eq!(peer_id_of(&welcome), a_w.id, "same id on the same node");
    assert!(resume_of(&welcome).1);
    signal(&mut b, &a_w.id, json!({"across": "nodes"})).await;
    let got = recv_until(&mut a2, "Bob's signal", |m| {
        matches!(m, ServerMessage::Signal { .. })
    })
    .await;
    assert!(matches!(got, ServerMessage::Signal { from, .. } if from == b_w.id));
    signal(&mut a2, &b_w.id, json!({"and": "back"})).await;
    let got = recv_until(&mut b, "Ada's signal", |m| {
        matches!(m, ServerMessage::Signal { .. })
    })
    .await;
    assert!(matches!(got, ServerMessage::Signal { from, .. } if from == a_w.id));

    // The same token on the other node, while node 1 holds the id: a fresh id, never a second holder.
    let token = resume_of(&welcome).0;
    let mut elsewhere = n2.client().await;
    let other = elsewhere.join_with_resume(&room, "Ada", &token).await;
    assert_ne!(peer_id_of(&other), a_w.id);
    assert!(!resume_of(&other).1);
    // Ada's connection on node 1 is untouched; it just sees a newcomer.
    recv_until(&mut a2, "the newcomer", joined_event(&peer_id_of(&other))).await;
    elsewhere.close_normally().await;

    // Dropped again and not back: node 2 announces it only when node 1's grace ends.
    drop(a2);
    let dropped = std::time::Instant::now();
    let left = recv_until(&mut b, "Ada's leave", left_event(&a_w.id)).await;
    assert_eq!(
        left,
        ServerMessage::MemberLeft {
            id: a_w.id.clone(),
            reason: LeaveReason::Left
        }
    );
    assert!(
        dropped.elapsed() >= Duration::from_millis(1_400),
        "only after the grace"
    );
}

#[tokio::test]
async fn a_node_new_to_the_room_gives_a_held_id_to_nobody_and_a_released_one_back() {
    let redis = Redis::start().await;
    let grace = ["--resume-grace-ms", "800"];
    let n1 = Node::start(&redis, &grace).await;
    let room = room("cluster-held");
    let (a, a_w) = n1.joined(&room, "Ada").await;
    let (mut b, _) = n1.joined(&room, "Bob").await;
    let token = resume_token(&a_w);
    // A node that started after the token was issued treats an id it does not know as one from before a
    // restart, and asks Redis whether another node still holds it. The key is shared through Redis.
    let issued: u64 = token.split('.').nth(1).unwrap().parse().unwrap();
    while std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        <= u128::from(issued)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let n3 = Node::start(&redis, &grace).await;

    drop(a); // Away on node 1.
    let mut first = n3.client().await;
    let welcome = first.join_with_resume(&room, "Ada", &token).await;
    assert_ne!(peer_id_of(&welcome), a_w.id, "node 1 still holds the id");
    assert!(!resume_of(&welcome).1);
    recv_until(&mut b, "the newcomer", joined_event(&peer_id_of(&welcome))).await;

    // Once node 1 has let the id go, node 3 gives it back. Node 1 tells its own members (Bob) at once and
    // Redis right after, so the test waits for the release to land before asking node 3.
    recv_until(&mut b, "Ada's leave", left_event(&a_w.id)).await;
    redis
        .wait_field_gone(&format!("peerlab:room:{room}"), &a_w.id.0)
        .await;
    let mut second = n3.client().await;
    let welcome = second.join_with_resume(&room, "Ada", &token).await;
    assert_eq!(peer_id_of(&welcome), a_w.id);
    assert!(resume_of(&welcome).1);
    recv_until(&mut b, "Ada again", joined_event(&a_w.id)).await;
}

#[tokio::test]
async fn forged_bus_events_and_forwarded_frames_change_nothing() {
    let redis = Redis::start().await;
    let n1 = Node::start(&redis, &[]).await;
    let n2 = Node::start(&redis, &[]).await;
    let room = room("forged");
    let (mut a, a_w) = n1.joined(&room, "Ada").await;
    let (mut b, b_w) = n2.joined(&room, "Bob").await;
    recv_until(&mut a, "Bob joined", joined_event(&b_w.id)).await;
    let node_of =
        |health: serde_json::Value| health["cluster"]["node"].as_str().unwrap().to_owned();
    let (n1_id, n2_id) = (
        node_of(n1.health().await.unwrap()),
        node_of(n2.health().await.unwrap()),
    );

    // Anything that can publish on Redis: Ada (held by n1) made to leave and renamed in the name of n2
    // and of a node that does not exist; frames for Ada that are not signals from a member.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let bus = [
        json!({"kind": "left", "node": n2_id, "room": room, "id": a_w.id, "reason": "left"}),
        json!({"kind": "left", "node": "forged", "room": room, "id": a_w.id, "reason": "left"}),
        json!({"kind": "renamed", "node": n2_id, "room": room, "id": a_w.id, "name": "Forged"}),
        json!({"kind": "joined", "node": "forged", "room": room, "id": a_w.id, "name": "Forged"}),
    ];
    let turn = r#"{"type":"ice_servers","ice_servers":[{"urls":["turn:evil.example"]}]}"#;
    let to_n1 = [
        format!("{room}\n{}\n{turn}", a_w.id),
        json!({"room": room, "to": a_w.id, "from": "f".repeat(32), "node": n2_id, "payload": {}})
            .to_string(),
        json!({"room": room, "to": a_w.id, "from": b_w.id, "node": "forged", "payload": {"forged": true}})
            .to_string(),
    ];
    for event in bus {
        redis::cmd("PUBLISH")
            .arg("peerlab:bus")
            .arg(event.to_string())
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
    for frame in to_n1 {
        redis::cmd("PUBLISH")
            .arg(format!("peerlab:node:{n1_id}"))
            .arg(frame)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }

    // The first thing Ada then gets is Bob's real signal, so it is still a member on both nodes.
    signal(&mut b, &a_w.id, json!({"real": true})).await;
    match a.recv().await {
        ServerMessage::Signal { from, payload } => {
            assert_eq!(from, b_w.id);
            assert_eq!(
                payload.parse::<serde_json::Value>().unwrap(),
                json!({"real": true})
            );
        }
        other => panic!("expected Bob's signal first, got {other:?}"),
    }
    // Bob heard nothing of Ada leaving or being renamed: the next thing he gets is his pong.
    b.assert_alive().await;
    signal(&mut a, &b_w.id, json!({"back": true})).await;
    assert!(matches!(b.recv().await, ServerMessage::Signal { from, .. } if from == a_w.id));
}

/// The reconciliation period the tests below run nodes with.
const RECONCILE: [&str; 2] = ["--cluster-reconcile-ms", "300"];

#[tokio::test]
async fn a_killed_nodes_members_in_rooms_no_survivor_is_in_are_removed_from_redis() {
    let redis = Redis::start().await;
    let n1 = Node::start(&redis, &RECONCILE).await;
    let mut n2 = Node::start(&redis, &RECONCILE).await;
    // Node 1 has nobody in this room, so it mirrors nobody of it and its heartbeat never retires them:
    // only the reconciliation can find the dead node's entries.
    let room = room("cluster-ghost");
    let (_b, b_w) = n2.joined(&room, "Bob").await;
    let key = format!("peerlab:room:{room}");
    redis.wait_fields_present(&key, &[&b_w.id.0]).await;

    n2.kill();
    redis.wait_field_gone(&key, &b_w.id.0).await;
    // The survivor still serves.
    let (_a, a_w) = n1.joined(&room, "Ada").await;
    assert!(a_w.members.is_empty());
}

#[tokio::test]
async fn members_redis_lost_to_a_flush_are_written_back_and_a_newcomer_sees_them() {
    let redis = Redis::start().await;
    let n1 = Node::start(&redis, &RECONCILE).await;
    let n2 = Node::start(&redis, &RECONCILE).await;
    let room = room("cluster-flush");
    let (mut a, a_w) = n1.joined(&room, "Ada").await;
    let (_b, b_w) = n2.joined(&room, "Bob").await;
    recv_until(&mut a, "Bob joined", joined_event(&b_w.id)).await;
    let key = format!("peerlab:room:{room}");

    redis.flush_all().await;
    // Nothing dropped a subscription: only the periodic check can notice, and each node writes back its
    // own members.
    redis
        .wait_fields_present(&key, &[&a_w.id.0, &b_w.id.0])
        .await;
    let n3 = Node::start(&redis, &RECONCILE).await;
    let (_c, c_w) = n3.joined(&room, "Cy").await;
    let mut ids: Vec<PeerId> = c_w.members.iter().map(|m| m.id.clone()).collect();
    ids.sort();
    let mut expected = vec![a_w.id.clone(), b_w.id.clone()];
    expected.sort();
    assert_eq!(ids, expected, "the newcomer on a third node sees both");
    // And the members still reach each other across nodes.
    recv_until(&mut a, "Cy joined", joined_event(&c_w.id)).await;
}
