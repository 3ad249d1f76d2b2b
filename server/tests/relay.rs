//! The relay driven by real WebSocket clients over loopback: membership events, directed signals, isolation,
//! every refused input with its typed error, keep-alive, capacity, slow consumers, static files and shutdown.

mod support;

use std::time::Duration;

use futures_util::SinkExt;
use peerlab_protocol::{close_code, ErrorCode, LeaveReason, Member, ServerMessage};
use serde_json::json;
use support::*;
use tokio_tungstenite::tungstenite::Message;

const QUIET: Duration = Duration::from_millis(200);

#[tokio::test]
async fn join_announces_members_both_ways() {
    let relay = Relay::start().await;
    let room = room("join");
    let (mut ada, ada_w) = relay.joined(&room, "Ada").await;
    assert!(ada_w.members.is_empty());
    let ServerMessage::Welcome {
        version,
        name,
        room: joined_room,
        ice_servers,
        limits,
        keepalive,
        ..
    } = &ada_w.message
    else {
        unreachable!()
    };
    assert_eq!(*version, 1);
    assert_eq!(name, "Ada");
    assert_eq!(joined_room, &room);
    assert!(
        ice_servers.is_empty(),
        "no ICE server is configured by default"
    );
    assert_eq!(limits.max_peers, 8);
    assert_eq!(keepalive.timeout_ms, 45_000);
    assert_eq!(ada_w.id.as_str().len(), 32);
    assert!(ada_w.id.as_str().chars().all(|c| c.is_ascii_hexdigit()));

    let (_bob, bob_w) = relay.joined(&room, "  Bob ").await;
    assert_eq!(
        bob_w.members,
        vec![Member {
            id: ada_w.id.clone(),
            name: "Ada".into()
        }]
    );
    assert_ne!(bob_w.id, ada_w.id);
    assert_eq!(
        ada.recv().await,
        ServerMessage::MemberJoined {
            member: Member {
                id: bob_w.id.clone(),
                name: "Bob".into()
            }
        }
    );
}

#[tokio::test]
async fn signal_reaches_only_its_target_with_from_stamped_by_the_relay() {
    let relay = Relay::start().await;
    let room = room("signal");
    let (mut a, a_w) = relay.joined(&room, "A").await;
    let (mut b, b_w) = relay.joined(&room, "B").await;
    let (mut c, c_w) = relay.joined(&room, "C").await;
    a.recv().await; // B joined
    a.recv().await; // C joined
    b.recv().await; // C joined

    // A claims to be C: the relay ignores the claim and stamps A's id.
    a.send(json!({"type": "signal", "to": b_w.id, "from": c_w.id,
                  "payload": {"kind": "offer", "sdp": "v=0\r\n"}}))
        .await;
    match b.recv().await {
        ServerMessage::Signal { from, payload } => {
            assert_eq!(from, a_w.id);
            assert_eq!(
                payload.parse::<serde_json::Value>().unwrap(),
                json!({"kind": "offer", "sdp": "v=0\r\n"})
            );
        }
        other => panic!("expected signal, got {other:?}"),
    }
    c.expect_silence(QUIET).await;
    a.expect_silence(QUIET).await;
}

#[tokio::test]
async fn rooms_are_isolated() {
    let relay = Relay::start().await;
    let (mut a, _) = relay.joined(&room("iso-one"), "A").await;
    let (mut b, b_w) = relay.joined(&room("iso-two"), "B").await;
    a.expect_silence(QUIET).await;
    a.send(json!({"type": "signal", "to": b_w.id, "payload": {}}))
        .await;
    let message = a.expect_error(ErrorCode::PeerNotFound).await;
    assert!(message.contains(b_w.id.as_str()), "{message}");
    b.expect_silence(QUIET).await;
}

#[tokio::test]
async fn every_bad_input_gets_its_typed_error_and_the_connection_stays_up() {
    let relay = Relay::start().await;
    let mut c = relay.client().await;

    let cases: Vec<(String, ErrorCode)> = vec![
        ("{not json".into(), ErrorCode::MalformedJson),
        ("[1,2,3]".into(), ErrorCode::InvalidMessage),
        (r#"{"name":"no type"}"#.into(), ErrorCode::InvalidMessage),
        (r#"{"type":"teleport"}"#.into(), ErrorCode::UnknownType),
        (
            r#"{"type":"join","name":"A"}"#.into(),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"type":"signal","to":"x","payload":{}}"#.into(),
            ErrorCode::NotJoined,
        ),
        (
            r#"{"type":"rename","name":"X"}"#.into(),
            ErrorCode::NotJoined,
        ),
        (r#"{"type":"leave"}"#.into(), ErrorCode::NotJoined),
        (
            r#"{"type":"join","version":99,"name":"A","room":"r"}"#.into(),
            ErrorCode::UnsupportedVersion,
        ),
        (
            r#"{"type":"join","version":1,"name":"bad\u0007bell","room":"r"}"#.into(),
            ErrorCode::InvalidName,
        ),
        (
            r#"{"type":"join","version":1,"name":"   ","room":"r"}"#.into(),
            ErrorCode::InvalidName,
        ),
        (
            r#"{"type":"join","version":1,"name":"A","room":"../etc"}"#.into(),
            ErrorCode::InvalidRoom,
        ),
        (
            format!(
                r#"{{"type":"signal","to":"x","payload":"{}"}}"#,
                "x".repeat(70_000)
            ),
            ErrorCode::MessageTooLarge,
        ),
    ];
    for (text, code) in cases {
        c.send_text(&text).await;
        let message = c.expect_error(code).await;
        assert!(!message.is_empty());
        c.assert_alive().await;
    }

    c.ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    c.expect_error(ErrorCode::BinaryNotSupported).await;
    c.assert_alive().await;

    let version_message = {
        c.send(json!({"type": "join", "version": 2, "name": "A", "room": "r"}))
            .await;
        c.expect_error(ErrorCode::UnsupportedVersion).await
    };
    assert!(
        version_message.contains("reload"),
        "tells the user what to do: {version_message}"
    );

    // After all that, the connection can still join and work normally.
    let room = room("bad-input");
    let welcome = c.join(&room, "Survivor").await;
    c.send(json!({"type": "join", "version": 1, "name": "Again", "room": room}))
        .await;
    c.expect_error(ErrorCode::AlreadyJoined).await;
    c.send(json!({"type": "signal", "to": "00000000000000000000000000000000", "payload": {}}))
        .await;
    c.expect_error(ErrorCode::PeerNotFound).await;
    c.send(json!({"type": "rename", "name": "\u{202E}evil"}))
        .await;
    c.expect_error(ErrorCode::InvalidName).await;
    c.assert_alive().await;
    let (_other, other_w) = relay.joined(&room, "Other").await;
    assert_eq!(other_w.members[0].id, welcome.id);
    assert_eq!(other_w.members[0].name, "Survivor");
}

#[tokio::test]
async fn frame_over_the_hard_limit_closes_with_1009() {
    let mut config = test_config();
    config.max_message_bytes = 1024;
    let relay = Relay::start_with(config).await;
    let mut c = relay.client().await;
    c.send_text(&"x".repeat(4 * 1024 + 1)).await;
    let close = c.expect_close().await;
    if let Some(frame) = close {
        assert_eq!(u16::from(frame.code), close_code::MESSAGE_TOO_BIG);
    }
    // Other connections are unaffected.
    relay.client().await.assert_alive().await;
}

/// A raw WebSocket connection to `relay`: the handshake done by hand, so a test can send frames no
/// WebSocket library would.
async fn raw_socket(relay: &Relay) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        relay.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// Reads server frames until a close frame: its code and reason.
async fn raw_close(stream: &mut tokio::net::TcpStream) -> (u16, String) {
    use tokio::io::AsyncReadExt;
    loop {
        let mut head = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut head))
            .await
            .expect("a close frame in time")
            .unwrap();
        let len = match head[1] {
            126 => stream.read_u16().await.unwrap() as usize,
            127 => stream.read_u64().await.unwrap() as usize,
            n => n as usize,
        };
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).await.unwrap();
        if head[0] == 0x88 {
            let code = u16::from_be_bytes([body[0], body[1]]);
            return (code, String::from_utf8(body[2..].to_vec()).unwrap());
        }
    }
}

#[tokio::test]
async fn bad_framing_gets_a_close_frame_that_says_why() {
    use tokio::io::AsyncWriteExt;
    let mut config = test_config();
    config.max_message_bytes = 1024;
    let relay = Relay::start_with(config).await;
    let mask = [1u8, 2, 3, 4];
    let masked = |first: u8, payload: &[u8]| {
        let mut f = vec![first, 0x80 | payload.len() as u8];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    };
    // A frame declared over the hard limit (4 KiB here), refused from its header alone.
    let mut oversize = vec![0x81, 0xFE];
    oversize.extend_from_slice(&(4 * 1024 + 1u16).to_be_bytes());
    oversize.extend_from_slice(&mask);
    let cases: [(&[u8], u16, &str); 4] = [
        (b"\x81\x02hi", 1002, "client frames must be masked"),
        (&masked(0x83, b"x"), 1002, "unknown opcode"),
        (&masked(0x81, &[0xC3, 0x28]), 1007, "text that is not UTF-8"),
        (
            &oversize,
            close_code::MESSAGE_TOO_BIG,
            "frame or message over the size limit",
        ),
    ];
    for (frame, code, reason) in cases {
        let mut stream = raw_socket(&relay).await;
        stream.write_all(frame).await.unwrap();
        assert_eq!(raw_close(&mut stream).await, (code, reason.to_string()));
    }
    // Other connections are unaffected.
    relay.client().await.assert_alive().await;
}

#[tokio::test]
async fn rename_and_leave_are_announced() {
    let relay = Relay::start().await;
    let room = room("rename");
    let (mut a, a_w) = relay.joined(&room, "A").await;
    let (mut b, _) = relay.joined(&room, "B").await;
    a.recv().await;
    a.send(json!({"type": "rename", "name": " Ada "})).await;
    let renamed = ServerMessage::MemberRenamed {
        id: a_w.id.clone(),
        name: "Ada".into(),
    };
    assert_eq!(a.recv().await, renamed);
    assert_eq!(b.recv().await, renamed);

    a.send(json!({"type": "leave"})).await;
    assert_eq!(a.recv().await, ServerMessage::Left { room: room.clone() });
    assert_eq!(
        b.recv().await,
        ServerMessage::MemberLeft {
            id: a_w.id.clone(),
            reason: LeaveReason::Left
        }
    );
    // The connection may join again, and gets a fresh id.
    let again = a.join(&room, "Ada").await;
    assert_ne!(again.id, a_w.id);
}

#[tokio::test]
async fn abruptly_closed_client_is_announced_as_left_at_once_without_a_resume_grace() {
    let mut config = test_config();
    config.resume_grace_ms = 0;
    let relay = Relay::start_with(config).await;
    let room = room("abrupt");
    let (mut a, _) = relay.joined(&room, "A").await;
    let (b, b_w) = relay.joined(&room, "B").await;
    a.recv().await;
    // Drop the TCP connection without a WebSocket close handshake.
    drop(b);
    assert_eq!(
        a.recv().await,
        ServerMessage::MemberLeft {
            id: b_w.id,
            reason: LeaveReason::Left
        }
    );
}

#[tokio::test]
async fn silent_client_is_announced_as_left_after_the_keepalive_timeout() {
    let mut config = test_config();
    config.resume_grace_ms = 0;
    config.ping_interval_ms = 100;
    config.keepalive_timeout_ms = 400;
    let relay = Relay::start_with(config).await;
    let room = room("silent");
    let (mut a, _) = relay.joined(&room, "A").await;
    // B joins and then never reads again, so it never answers the relay's pings.
    let (b, b_w) = relay.joined(&room, "B").await;
    let started = std::time::Instant::now();
    let mut saw_joined = false;
    // A keeps talking (and answering pings, since it reads), so only B times out.
    loop {
        match a.recv().await {
            ServerMessage::MemberJoined { .. } => saw_joined = true,
            ServerMessage::MemberLeft { id, reason } => {
                assert_eq!(id, b_w.id);
                assert_eq!(reason, LeaveReason::Timeout);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(saw_joined);
    assert!(
        started.elapsed() < PATIENCE,
        "announced within the test's patience"
    );
    a.assert_alive().await;
    drop(b);
}

#[tokio::test]
async fn full_room_is_refused_and_the_members_are_unaffected() {
    let mut config = test_config();
    config.max_peers = 2;
    let relay = Relay::start_with(config).await;
    let room = room("full");
    let (mut a, _) = relay.joined(&room, "A").await;
    let (_b, _) = relay.joined(&room, "B").await;
    a.recv().await;
    let mut c = relay.client().await;
    c.send(json!({"type": "join", "version": 1, "name": "C", "room": room}))
        .await;
    let message = c.expect_error(ErrorCode::RoomFull).await;
    assert!(message.contains("full"), "{message}");
    a.expect_silence(QUIET).await;
    c.assert_alive().await;
    // Another room still has space for C.
    c.join(&support::room("elsewhere"), "C").await;
}

#[tokio::test]
async fn client_that_never_reads_is_evicted_and_the_others_keep_going() {
    let mut config = test_config();
    config.queue_capacity = 4;
    config.keepalive_timeout_ms = 60_000;
    // Megabytes of signals in a moment are far over the rate limit (which counts bytes); this test is
    // about the slow consumer, so the limit is off.
    config.rate_limit = 0;
    let relay = Relay::start_with(config).await;
    let room = room("slow");
    let (mut fast, _) = relay.joined(&room, "Fast").await;
    let (slow, slow_w) = relay.joined(&room, "Slow").await;
    assert!(matches!(
        fast.recv().await,
        ServerMessage::MemberJoined { .. }
    ));
    let chunk = "y".repeat(60_000);
    let slow_id = slow_w.id.clone();
    // The flooder reads on its own task, so its own replies never hold it up.
    let (mut sink, mut stream) = futures_util::StreamExt::split(fast.ws);
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = futures_util::StreamExt::next(&mut stream).await {
            let Message::Text(text) = message else {
                continue;
            };
            match peerlab_protocol::decode_server(&text).unwrap() {
                ServerMessage::MemberLeft { id, reason } if id == slow_id => {
                    return (reason, stream);
                }
                ServerMessage::Error {
                    code: ErrorCode::PeerNotFound,
                    ..
                } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        panic!("the flooder's connection ended");
    });
    // Bounded: at most 4,000 × 60 KB; the socket buffers fill long before that.
    let mut sent = 0;
    while sent < 4_000 && !reader.is_finished() {
        sink.send(Message::text(
            json!({"type": "signal", "to": slow_w.id, "payload": chunk}).to_string(),
        ))
        .await
        .unwrap();
        sent += 1;
    }
    let (reason, stream) = tokio::time::timeout(PATIENCE, reader)
        .await
        .expect("the slow consumer was evicted")
        .unwrap();
    assert_eq!(reason, LeaveReason::Evicted);
    assert!(
        relay
            .state
            .counters
            .evictions
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    // The flooder's connection still works: signals still in flight get peer_not_found, then the pong.
    let mut fast = Client {
        ws: sink.reunite(stream).unwrap(),
    };
    fast.send(json!({"type": "ping", "nonce": 42})).await;
    loop {
        match fast.recv().await {
            ServerMessage::Pong { nonce } => {
                assert_eq!(nonce, 42);
                break;
            }
            ServerMessage::Error {
                code: ErrorCode::PeerNotFound,
                ..
            } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    drop(slow);
}

/// With no cap by count (the default), a client that stops reading is evicted once the bytes waiting for
/// it pass `--max-queue-bytes`: the frames queued for it never pile up past that, however many there are.
#[tokio::test]
async fn a_client_that_stops_reading_is_evicted_by_the_bytes_waiting_for_it() {
    let mut config = test_config();
    config.max_queue_bytes = 256 * 1024;
    config.keepalive_timeout_ms = 60_000;
    config.rate_limit = 0;
    assert_eq!(config.queue_capacity, 0, "no cap by count");
    let relay = Relay::start_with(config).await;
    let room = room("slow-bytes");
    let (fast, _) = relay.joined(&room, "Fast").await;
    let (slow, slow_w) = relay.joined(&room, "Slow").await;
    let (mut sink, mut stream) = futures_util::StreamExt::split(fast.ws);
    let slow_id = slow_w.id.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = futures_util::StreamExt::next(&mut stream).await {
            let Message::Text(text) = message else {
                continue;
            };
            match peerlab_protocol::decode_server(&text).unwrap() {
                ServerMessage::MemberLeft { id, reason } if id == slow_id => return reason,
                ServerMessage::MemberJoined { .. }
                | ServerMessage::Error {
                    code: ErrorCode::PeerNotFound,
                    ..
                } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        panic!("the flooder's connection ended");
    });
    // Bounded: at most 4,000 × 50 KB; the socket buffers and then the 256 KiB fill long before that.
    let chunk = "y".repeat(50_000);
    let mut sent = 0;
    while sent < 4_000 && !reader.is_finished() {
        sink.send(Message::text(
            json!({"type": "signal", "to": slow_w.id, "payload": chunk}).to_string(),
        ))
        .await
        .unwrap();
        sent += 1;
    }
    let reason = tokio::time::timeout(PATIENCE, reader)
        .await
        .expect("the slow consumer was evicted")
        .unwrap();
    assert_eq!(reason, LeaveReason::Evicted);
    assert_eq!(
        relay
            .state
            .counters
            .evictions
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    drop(slow);
}

#[tokio::test]
async fn shutdown_tells_clients_to_reconnect_elsewhere_then_closes() {
    let relay = Relay::start().await;
    let (mut a, _) = relay.joined(&room("bye"), "A").await;
    let shutdown = tokio::spawn(relay.shutdown());
    let notice = a.expect_error(ErrorCode::ShuttingDown).await;
    assert!(notice.contains("reconnect"), "{notice}");
    let close = a.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), close_code::GOING_AWAY);
    assert!(close.reason.contains("reconnect"));
    shutdown.await.unwrap();
}

#[tokio::test]
async fn serves_the_app_with_spa_fallback_and_health() {
    let dist = std::env::temp_dir().join(format!("peerlab-dist-{}", std::process::id()));
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>peerlab</title>",
    )
    .unwrap();
    std::fs::write(dist.join("peerlab.json"), r#"{"relay_url":null}"#).unwrap();
    let mut config = test_config();
    config.dist = dist.clone();
    let relay = Relay::start_with(config).await;

    let (status, body) = http_get(relay.addr, "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("<title>peerlab</title>"));
    let (status, body) = http_get(relay.addr, "/room/team-a").await;
    assert_eq!(status, 200, "deep links load the app");
    assert!(body.contains("<title>peerlab</title>"));
    let (status, body) = http_get(relay.addr, "/peerlab.json").await;
    assert_eq!(status, 200);
    assert!(body.contains("relay_url"));
    let (status, body) = http_get(relay.addr, "/healthz").await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    std::fs::remove_dir_all(dist).ok();
}

#[tokio::test]
async fn ice_summary_names_the_kinds_of_server_handed_out_and_no_secret() {
    let summary = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap();
    let relay = Relay::start().await;
    let (status, headers, body) = http_get_with_headers(relay.addr, "/ice-summary").await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("*"),
        "an app on another origin may ask"
    );
    assert_eq!(
        summary(&body),
        json!({"stun": false, "turn_udp": false, "turn_tcp": false, "turn_tls": false}),
        "nothing is handed out by default"
    );

    let mut config = test_config();
    config.ice_urls = vec!["stun:198.51.100.7:3478".into()];
    config.turn_urls = vec![
        "turn:198.51.100.7:3478".into(),
        "turn:198.51.100.7:3478?transport=tcp".into(),
    ];
    config.turn_secret = Some("north-wind".into());
    let relay = Relay::start_with(config).await;
    let (status, body) = http_get(relay.addr, "/ice-summary").await;
    assert_eq!(status, 200);
    assert_eq!(
        summary(&body),
        json!({"stun": true, "turn_udp": true, "turn_tcp": true, "turn_tls": false})
    );
    for secret in ["198.51.100.7", "north-wind", "credential", "username"] {
        assert!(!body.contains(secret), "{secret} leaked: {body}");
    }
}

#[tokio::test]
async fn a_plain_http_request_to_the_websocket_endpoint_is_told_what_it_is() {
    let relay = Relay::start().await;
    let (status, body) = http_get(relay.addr, "/ws").await;
    assert_eq!(status, 426);
    assert!(body.contains("WebSocket"), "{body}");
}
