//! Reconnect with resume, driven by real WebSocket clients: a dropped member stays away for the grace
//! period and takes its id back with its resume token; the grace ends with `member_left`; clean closes are
//! announced at once; signals to an away member get `peer_away`; a resume of a live connection takes it
//! over (4004); a restarted relay gives ids back only with the same `--resume-secret`; forged tokens and
//! tokens of other rooms get a fresh id.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use peerlab_protocol::{close_code, ErrorCode, LeaveReason, Member, PeerId, ServerMessage};
use serde_json::json;
use support::*;

/// How long a test listens to show that nothing was announced. The grace in those tests is 20 s.
const QUIET: Duration = Duration::from_millis(300);

async fn signal(from: &mut Client, to: &PeerId, body: serde_json::Value) {
    from.send(json!({"type": "signal", "to": to, "payload": body}))
        .await;
}

async fn expect_signal_from(to: &mut Client, from: &PeerId, body: serde_json::Value) {
    match to.recv().await {
        ServerMessage::Signal { from: got, payload } => {
            assert_eq!(&got, from);
            assert_eq!(payload.parse::<serde_json::Value>().unwrap(), body);
        }
        other => panic!("expected a signal, got {other:?}"),
    }
}

fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Waits (a few milliseconds at most) until the Unix millisecond has moved past `issued`, so a relay
/// started now counts tokens issued at `issued` as coming from an earlier process.
async fn next_millisecond_after(issued: u64) {
    while unix_now_ms() <= issued {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The issue time written in a resume token (`r1.<issued>.<id>.<signature>`).
fn issued_of(token: &str) -> u64 {
    token.split('.').nth(1).unwrap().parse().unwrap()
}

/// Waits until the relay has noticed `n` dropped connections in all (it reads EOF shortly after a drop).
async fn wait_away(relay: &Relay, n: u64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while relay.state.counters.went_away.load(Ordering::Relaxed) < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay did not notice the dropped connection"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A room with Ada and Bob, Ada having seen Bob join.
async fn pair(relay: &Relay, tag: &str) -> (String, Client, Welcome, Client, Welcome) {
    let room = room(tag);
    let (mut a, a_w) = relay.joined(&room, "Ada").await;
    let (b, b_w) = relay.joined(&room, "Bob").await;
    assert!(matches!(a.recv().await, ServerMessage::MemberJoined { .. }));
    (room, a, a_w, b, b_w)
}

#[tokio::test]
async fn a_dropped_member_stays_away_unannounced_and_takes_its_id_back() {
    let relay = Relay::start().await;
    let (room, mut a, a_w, b, b_w) = pair(&relay, "resume-away").await;
    let (token, resumed) = resume_of(&b_w.message);
    assert!(!resumed, "a first join is not a resume");
    assert!(token.starts_with("r1."), "{token}");

    drop(b); // No close frame: the network went away.
    wait_away(&relay, 1).await;
    a.expect_silence(QUIET).await;

    let mut b2 = relay.client().await;
    let welcome = b2.join_with_resume(&room, "Bob", &token).await;
    assert_eq!(peer_id_of(&welcome), b_w.id, "the same id");
    let (fresh_token, resumed) = resume_of(&welcome);
    assert!(resumed);
    assert_ne!(fresh_token, "", "a new token for the next drop");
    let ServerMessage::Welcome { members, .. } = &welcome else {
        unreachable!()
    };
    assert_eq!(
        members,
        &vec![Member {
            id: a_w.id.clone(),
            name: "Ada".into()
        }]
    );
    a.expect_silence(QUIET).await;

    signal(&mut a, &b_w.id, json!({"after": "resume"})).await;
    expect_signal_from(&mut b2, &a_w.id, json!({"after": "resume"})).await;
    signal(&mut b2, &a_w.id, json!({"back": true})).await;
    expect_signal_from(&mut a, &b_w.id, json!({"back": true})).await;
    let c = &relay.state.counters;
    assert_eq!(c.went_away.load(Ordering::Relaxed), 1);
    assert_eq!(c.resumed_away.load(Ordering::Relaxed), 1);
    assert_eq!(c.away_expired.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn an_away_member_is_announced_as_left_when_the_grace_ends_and_its_token_then_gives_a_fresh_id(
) {
    let mut config = test_config();
    config.resume_grace_ms = 300;
    let relay = Relay::start_with(config).await;
    let (room, mut a, _, b, b_w) = pair(&relay, "resume-expiry").await;
    let (token, _) = resume_of(&b_w.message);
    let dropped = std::time::Instant::now();
    drop(b);
    assert_eq!(
        a.recv().await,
        ServerMessage::MemberLeft {
            id: b_w.id.clone(),
            reason: LeaveReason::Left
        }
    );
    assert!(
        dropped.elapsed() >= Duration::from_millis(300),
        "announced only after the grace"
    );
    assert_eq!(relay.state.counters.away_expired.load(Ordering::Relaxed), 1);
    // The grace is over on this same relay: the token no longer brings the id back.
    let mut b2 = relay.client().await;
    let welcome = b2.join_with_resume(&room, "Bob", &token).await;
    assert_ne!(peer_id_of(&welcome), b_w.id);
    assert!(!resume_of(&welcome).1);
    assert!(matches!(
        a.recv().await,
        ServerMessage::MemberJoined { member } if member.id == peer_id_of(&welcome)
    ));
}

#[tokio::test]
async fn a_silent_member_is_announced_with_reason_timeout_when_its_grace_ends() {
    let mut config = test_config();
    config.ping_interval_ms = 100;
    config.keepalive_timeout_ms = 400;
    config.resume_grace_ms = 300;
    let relay = Relay::start_with(config).await;
    let room = room("resume-timeout");
    let (mut a, _) = relay.joined(&room, "A").await;
    // B never reads again, so it answers no ping: the relay closes it with 4000, then it is away.
    let (b, b_w) = relay.joined(&room, "B").await;
    loop {
        match a.recv().await {
            ServerMessage::MemberJoined { .. } => {}
            ServerMessage::MemberLeft { id, reason } => {
                assert_eq!(id, b_w.id);
                assert_eq!(reason, LeaveReason::Timeout);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(relay.state.counters.went_away.load(Ordering::Relaxed), 1);
    drop(b);
}

#[tokio::test]
async fn a_clean_close_is_announced_at_once_despite_the_grace() {
    let relay = Relay::start().await;
    let (_, mut a, _, b, b_w) = pair(&relay, "resume-clean").await;
    let closed = std::time::Instant::now();
    b.close_normally().await;
    assert_eq!(
        a.recv().await,
        ServerMessage::MemberLeft {
            id: b_w.id,
            reason: LeaveReason::Left
        }
    );
    assert!(
        closed.elapsed() < Duration::from_secs(20),
        "not after the grace"
    );
    assert_eq!(relay.state.counters.went_away.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_signal_to_an_away_member_gets_peer_away_and_the_sender_stays_up() {
    let relay = Relay::start().await;
    let (_, mut a, _, b, b_w) = pair(&relay, "resume-peer-away").await;
    drop(b);
    wait_away(&relay, 1).await;
    signal(&mut a, &b_w.id, json!({"kind": "candidate"})).await;
    let message = a.expect_error(ErrorCode::PeerAway).await;
    assert!(message.contains(b_w.id.as_str()), "{message}");
    assert!(message.contains("20 seconds"), "{message}");
    assert!(message.contains("retry later"), "{message}");
    a.assert_alive().await;
}

#[tokio::test]
async fn a_resume_of_a_live_connection_takes_it_over_with_4004_and_nobody_sees_a_leave() {
    let relay = Relay::start().await;
    let (room, mut a, a_w, mut b, b_w) = pair(&relay, "resume-takeover").await;
    let (token, _) = resume_of(&b_w.message);
    let mut b2 = relay.client().await;
    let welcome = b2.join_with_resume(&room, "Bobby", &token).await;
    assert_eq!(peer_id_of(&welcome), b_w.id);
    assert!(resume_of(&welcome).1);
    let close = b.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), close_code::REPLACED);
    // The others learn only of the new name.
    assert_eq!(
        a.recv().await,
        ServerMessage::MemberRenamed {
            id: b_w.id.clone(),
            name: "Bobby".into()
        }
    );
    a.expect_silence(QUIET).await;
    signal(&mut a, &b_w.id, json!({"to": "the new connection"})).await;
    expect_signal_from(&mut b2, &a_w.id, json!({"to": "the new connection"})).await;
    assert_eq!(
        relay
            .state
            .counters
            .resumed_replaced
            .load(Ordering::Relaxed),
        1
    );
    // The replaced connection's end took nothing with it.
    b2.assert_alive().await;
    let (_, c_w) = relay.joined(&room, "Cy").await;
    assert!(c_w
        .members
        .iter()
        .any(|m| m.id == b_w.id && m.name == "Bobby"));
}

#[tokio::test]
async fn a_relay_restarted_with_the_same_secret_gives_the_id_back() {
    let mut config = test_config();
    config.resume_secret = Some("north-wind".into());
    let relay = Relay::start_with(config.clone()).await;
    let room = room("resume-restart");
    let (_a, _) = relay.joined(&room, "Ada").await;
    let (_b, b_w) = relay.joined(&room, "Bob").await;
    let (token, _) = resume_of(&b_w.message);
    relay.shutdown().await;

    next_millisecond_after(issued_of(&token)).await;
    let relay = Relay::start_with(config).await;
    let (mut a2, _) = relay.joined(&room, "Ada").await;
    let mut b2 = relay.client().await;
    let welcome = b2.join_with_resume(&room, "Bob", &token).await;
    assert_eq!(peer_id_of(&welcome), b_w.id);
    assert!(resume_of(&welcome).1);
    assert_eq!(
        a2.recv().await,
        ServerMessage::MemberJoined {
            member: Member {
                id: b_w.id.clone(),
                name: "Bob".into()
            }
        }
    );
    assert_eq!(
        relay.state.counters.resumed_restart.load(Ordering::Relaxed),
        1
    );
    // A second connection with the same token now takes the live id over rather than duplicating it.
    let mut b3 = relay.client().await;
    let again = b3.join_with_resume(&room, "Bob", &token).await;
    assert_eq!(peer_id_of(&again), b_w.id);
    let close = b2.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), close_code::REPLACED);
}

#[tokio::test]
async fn a_relay_restarted_without_a_secret_gives_a_fresh_id() {
    let relay = Relay::start().await;
    let room = room("resume-restart-nokey");
    let (_b, b_w) = relay.joined(&room, "Bob").await;
    let (token, _) = resume_of(&b_w.message);
    relay.shutdown().await;

    next_millisecond_after(issued_of(&token)).await;
    let relay = Relay::start().await;
    let mut b2 = relay.client().await;
    let welcome = b2.join_with_resume(&room, "Bob", &token).await;
    assert_ne!(peer_id_of(&welcome), b_w.id);
    assert!(!resume_of(&welcome).1);
    assert_eq!(
        relay.state.counters.resume_refused.load(Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn forged_malformed_and_other_room_tokens_get_a_fresh_id_and_no_error() {
    let relay = Relay::start().await;
    let (room, mut a, _, b, b_w) = pair(&relay, "resume-forged").await;
    let (token, _) = resume_of(&b_w.message);
    drop(b);
    let (signature_start, _) = token.rsplit_once('.').unwrap();
    let other_room = support::room("resume-elsewhere");
    let other_key = {
        let mut config = test_config();
        config.resume_secret = Some("someone-else".into());
        let other = Relay::start_with(config).await;
        let (_, w) = other.joined(&room, "Bob").await;
        resume_of(&w.message)
            .0
            .replacen(w.id.as_str(), b_w.id.as_str(), 1)
    };
    let forgeries = [
        (
            room.clone(),
            format!("{signature_start}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ),
        (room.clone(), token.replacen("r1.", "r1.1", 1)),
        (room.clone(), other_key),
        (room.clone(), "not a token".into()),
        (room.clone(), String::new()),
        (other_room, token.clone()),
    ];
    for (target, forged) in forgeries {
        let mut c = relay.client().await;
        let welcome = c.join_with_resume(&target, "Mallory", &forged).await;
        assert_ne!(peer_id_of(&welcome), b_w.id, "{forged:?} in {target}");
        assert!(!resume_of(&welcome).1, "{forged:?}");
        c.close_normally().await;
    }
    // Ada saw the forgers come and go as newcomers, never Bob's id.
    while let Some(message) = a.try_recv(QUIET).await {
        match message {
            ServerMessage::MemberJoined { member } => assert_ne!(member.id, b_w.id),
            ServerMessage::MemberLeft { id, .. } => assert_ne!(id, b_w.id),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        relay.state.counters.resume_refused.load(Ordering::Relaxed),
        6
    );
    // Bob's own token still works: the forgeries took nothing from him.
    let mut b2 = relay.client().await;
    let welcome = b2.join_with_resume(&room, "Bob", &token).await;
    assert_eq!(peer_id_of(&welcome), b_w.id);
}

#[tokio::test]
async fn an_away_member_keeps_its_place_in_a_full_room() {
    let mut config = test_config();
    config.max_peers = 2;
    let relay = Relay::start_with(config).await;
    let (room, _a, _, b, b_w) = pair(&relay, "resume-full").await;
    drop(b);
    let mut c = relay.client().await;
    // Until the relay notices the drop, Bob is simply connected; the room is full either way.
    c.send(json!({"type": "join", "version": 1, "name": "C", "room": room}))
        .await;
    c.expect_error(ErrorCode::RoomFull).await;
    let (token, _) = resume_of(&b_w.message);
    let welcome = c.join_with_resume(&room, "Bob", &token).await;
    assert_eq!(
        peer_id_of(&welcome),
        b_w.id,
        "the away member's own resume fits"
    );
}

#[tokio::test]
async fn metrics_count_away_members_resumes_and_refusals() {
    let relay = Relay::start().await;
    let (room, _a, _, b, b_w) = pair(&relay, "resume-metrics").await;
    drop(b);
    wait_away(&relay, 1).await;
    let (token, _) = resume_of(&b_w.message);
    let mut b2 = relay.client().await;
    b2.join_with_resume(&room, "Bob", &token).await;
    let mut c = relay.client().await;
    c.join_with_resume(&room, "C", "forged").await;
    let (_, body) = http_get(relay.addr, "/metrics").await;
    for line in [
        "peerlab_resumes_total{kind=\"away\"} 1",
        "peerlab_resumes_total{kind=\"replaced\"} 0",
        "peerlab_resumes_total{kind=\"restart\"} 0",
        "peerlab_resumes_refused_total 1",
        "peerlab_away_total 1",
        "peerlab_away_expired_total 0",
        "peerlab_errors_total{code=\"peer_away\"} 0",
    ] {
        assert!(body.contains(line), "{line} missing from:\n{body}");
    }
}
