//! The relay's protections, each driven by real WebSocket or HTTP clients over loopback and each shown not
//! to touch other members or rooms: security headers, the Origin allowlist, the per-address connection
//! cap, the message rate limit, the join timeout, the room cap, join tokens, TURN credentials, `/metrics`
//! and the shutdown notice. `docs/SECURITY.md` names these tests for every protection.

mod support;

use std::sync::atomic::Ordering;

use futures_util::{SinkExt, StreamExt};
use peerlab_protocol::{close_code, ErrorCode, LeaveReason, ServerMessage};
use peerlab_server::credentials::{mint_join_token, turn_credentials};
use serde_json::json;
use support::*;
use tokio_tungstenite::tungstenite::Message;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A `dist/` with an `index.html` shaped like trunk's output: an inline module script that loads the glue.
fn fake_dist(tag: &str) -> std::path::PathBuf {
    let dist = std::env::temp_dir().join(format!("peerlab-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>peerlab</title><script type=\"module\">\nimport init from '/a.js';\n</script>",
    )
    .unwrap();
    dist
}

#[tokio::test]
async fn served_app_carries_security_headers_that_fit_a_wasm_app() {
    let dist = fake_dist("headers");
    let mut config = test_config();
    config.dist = dist.clone();
    let relay = Relay::start_with(config).await;
    for path in ["/", "/room/team", "/healthz"] {
        let (status, headers, _) = http_get_with_headers(relay.addr, path).await;
        assert_eq!(status, 200, "{path}");
        let csp = header(&headers, "content-security-policy").expect("a CSP");
        // The hash of "\nimport init from '/a.js';\n", computed with openssl (see `http::tests`).
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-nmdLyQ6u69OUSoW4i7ADiAWaKqSloTkmbl/K96XORko='"),
            "{csp}"
        );
        assert!(csp.contains("connect-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(&headers, "referrer-policy"), Some("no-referrer"));
        let permissions = header(&headers, "permissions-policy").unwrap();
        for feature in [
            "camera=(self)",
            "microphone=(self)",
            "display-capture=(self)",
        ] {
            assert!(permissions.contains(feature), "{permissions}");
        }
    }
    std::fs::remove_dir_all(dist).ok();
}

#[tokio::test]
async fn pages_of_other_origins_cannot_open_the_relay_but_its_own_and_listed_ones_can() {
    let mut config = test_config();
    config.allowed_origins = vec!["https://app.example.org".into()];
    let relay = Relay::start_with(config).await;
    let (mut member, _) = relay.joined(&room("origin"), "M").await;

    let refused = Client::connect_from(&relay.ws_url(), "https://evil.example").await;
    assert_eq!(refused.err(), Some(403));
    let same = format!("http://{}", relay.addr);
    Client::connect_from(&relay.ws_url(), &same)
        .await
        .expect("the relay's own pages")
        .assert_alive()
        .await;
    Client::connect_from(&relay.ws_url(), "https://app.example.org")
        .await
        .expect("a listed origin")
        .assert_alive()
        .await;
    assert_eq!(
        relay.state.counters.refused_origin.load(Ordering::Relaxed),
        1
    );
    member.assert_alive().await;
}

#[tokio::test]
async fn connections_per_address_are_capped_with_429_and_a_closed_one_frees_its_place() {
    let mut config = test_config();
    config.max_connections_per_ip = 2;
    let relay = Relay::start_with(config).await;
    let room = room("per-ip");
    let (mut a, _) = relay.joined(&room, "A").await;
    let (b, _) = relay.joined(&room, "B").await;
    a.recv().await; // B joined

    let refused = Client::connect_from(&relay.ws_url(), &format!("http://{}", relay.addr)).await;
    assert_eq!(refused.err(), Some(429));
    a.assert_alive().await;
    a.expect_silence(std::time::Duration::from_millis(100))
        .await;

    b.close_normally().await;
    assert!(matches!(a.recv().await, ServerMessage::MemberLeft { .. }));
    // The slot is given back when the connection's task ends, right after the member left.
    let mut c = loop {
        if let Ok(c) =
            Client::connect_from(&relay.ws_url(), &format!("http://{}", relay.addr)).await
        {
            break c;
        }
        tokio::task::yield_now().await;
    };
    c.assert_alive().await;
    assert!(relay.state.counters.refused_per_ip.load(Ordering::Relaxed) >= 1);
}

#[tokio::test]
async fn a_join_burst_of_candidates_to_a_full_mesh_is_delivered_whole() {
    let relay = Relay::start().await;
    let room = room("burst");
    let (mut a, _) = relay.joined(&room, "A").await;
    let mut others = Vec::new();
    for i in 0..7 {
        others.push(relay.joined(&room, &format!("P{i}")).await);
    }
    for _ in 0..7 {
        a.recv().await; // member_joined
    }
    // What a newcomer to a room of eight sends at once: 50 ICE candidates to each of seven peers.
    for n in 0..50 {
        for (_, w) in &others {
            a.send(json!({"type": "signal", "to": w.id, "payload": {"kind": "candidate", "n": n}}))
                .await;
        }
    }
    for (client, _) in &mut others {
        let mut got = 0;
        while got < 50 {
            match client.recv().await {
                ServerMessage::Signal { payload, .. } => {
                    assert_eq!(payload.parse::<serde_json::Value>().unwrap()["n"], got);
                    got += 1;
                }
                ServerMessage::MemberJoined { .. } => {}
                other => panic!("expected a signal, got {other:?}"),
            }
        }
    }
    a.assert_alive().await;
    assert_eq!(relay.state.counters.errors_with(ErrorCode::RateLimited), 0);
}

#[tokio::test]
async fn a_flooding_client_is_limited_then_closed_and_its_room_and_others_carry_on() {
    let mut config = test_config();
    config.rate_limit = 10;
    config.rate_burst = 20;
    let relay = Relay::start_with(config).await;
    let room = room("flood");
    let (mut calm, _) = relay.joined(&room, "Calm").await;
    let (mut flooder, flooder_w) = relay.joined(&room, "Flood").await;
    let (mut elsewhere, _) = relay.joined(&support::room("flood-other"), "Else").await;
    calm.recv().await; // Flood joined

    // Over the burst: the excess is dropped, and the first dropped message is answered.
    for nonce in 0..30 {
        flooder.send(json!({"type": "ping", "nonce": nonce})).await;
    }
    let (mut pongs, mut limited) = (0, 0);
    while let Some(message) = flooder
        .try_recv(std::time::Duration::from_millis(300))
        .await
    {
        match message {
            ServerMessage::Pong { .. } => pongs += 1,
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                message,
            } => {
                assert!(message.contains("10 messages a second"), "{message}");
                limited += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // The join took one token of the burst of 20.
    assert!(pongs >= 19, "the burst was answered ({pongs})");
    assert!(limited >= 1, "the first dropped message was answered");
    assert!(
        pongs + limited < 30,
        "later dropped messages were not answered"
    );
    calm.expect_silence(std::time::Duration::from_millis(100))
        .await;

    // Far over the rate: closed. The flood's unread frames may reset the connection before its close
    // frame is read, so the close code is checked when it arrives and the reason is read from the counter.
    let (mut sink, mut stream) = flooder.ws.split();
    let sender = tokio::spawn(async move {
        // Bounded; the relay closes the connection long before.
        for nonce in 0..100_000u64 {
            let ping = json!({"type": "ping", "nonce": nonce}).to_string();
            if sink.send(Message::text(ping)).await.is_err() {
                break;
            }
        }
    });
    loop {
        match tokio::time::timeout(PATIENCE, stream.next()).await {
            Err(_) => panic!("not closed within {PATIENCE:?}"),
            Ok(Some(Ok(Message::Close(frame)))) => {
                if let Some(frame) = frame {
                    assert_eq!(u16::from(frame.code), close_code::RATE_LIMITED);
                }
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(None) | Ok(Some(Err(_))) => break,
        }
    }
    sender.abort();
    assert_eq!(
        calm.recv().await,
        ServerMessage::MemberLeft {
            id: flooder_w.id,
            reason: LeaveReason::Evicted
        }
    );
    assert_eq!(
        relay
            .state
            .counters
            .closed_rate_limited
            .load(Ordering::Relaxed),
        1
    );
    calm.assert_alive().await;
    elsewhere.assert_alive().await;
}

#[tokio::test]
async fn a_connection_that_never_joins_is_closed_and_joined_ones_stay() {
    let mut config = test_config();
    config.join_timeout_ms = 300;
    let relay = Relay::start_with(config).await;
    let (mut joined, _) = relay.joined(&room("join-timeout"), "J").await;
    let mut idle = relay.client().await;
    let close = idle.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), close_code::JOIN_TIMEOUT);
    // `joined` connected before `idle`, so its join deadline would have passed too had it not joined.
    joined.assert_alive().await;
    // Leaving a room starts the clock again; joining another stops it.
    joined.send(json!({"type": "leave"})).await;
    assert!(matches!(joined.recv().await, ServerMessage::Left { .. }));
    let close = joined.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), close_code::JOIN_TIMEOUT);
    assert_eq!(
        relay
            .state
            .counters
            .closed_join_timeout
            .load(Ordering::Relaxed),
        2
    );
}

#[tokio::test]
async fn the_room_cap_refuses_new_rooms_but_not_members_of_existing_ones() {
    let mut config = test_config();
    config.max_rooms = 2;
    let relay = Relay::start_with(config).await;
    let (one, two) = (room("cap-one"), room("cap-two"));
    let (mut a, _) = relay.joined(&one, "A").await;
    let (_b, _) = relay.joined(&two, "B").await;
    let mut c = relay.client().await;
    c.send(json!({"type": "join", "version": 1, "name": "C", "room": room("cap-three")}))
        .await;
    let message = c.expect_error(ErrorCode::TooManyRooms).await;
    assert!(message.contains("2 rooms"), "{message}");
    c.assert_alive().await;
    c.join(&one, "C").await;
    assert!(matches!(a.recv().await, ServerMessage::MemberJoined { .. }));
    assert_eq!(relay.state.rooms.room_count(), 2);
}

#[tokio::test]
async fn protected_rooms_tell_missing_invalid_and_expired_tokens_apart() {
    let mut config = test_config();
    config.join_secret = Some("north-wind".into());
    let relay = Relay::start_with(config).await;
    let room = room("protected");
    let secret = b"north-wind";
    let valid = mint_join_token(secret, &room, unix_now() + 3_600);
    let expired = mint_join_token(secret, &room, unix_now() - 1);
    let other_room = mint_join_token(secret, "another-room", unix_now() + 3_600);
    let other_secret = mint_join_token(b"south-wind", &room, unix_now() + 3_600);

    let mut c = relay.client().await;
    let cases = [
        (None, ErrorCode::TokenRequired),
        (Some("not-a-token"), ErrorCode::TokenInvalid),
        (Some(other_room.as_str()), ErrorCode::TokenInvalid),
        (Some(other_secret.as_str()), ErrorCode::TokenInvalid),
        (Some(expired.as_str()), ErrorCode::TokenExpired),
    ];
    for (token, code) in cases {
        match c.join_with_token(&room, "Eve", token).await {
            ServerMessage::Error { code: got, message } => {
                assert_eq!(got, code, "{token:?}");
                assert!(message.contains(&room), "{message}");
            }
            other => panic!("expected {code}, got {other:?}"),
        }
        c.assert_alive().await;
    }
    match c.join_with_token(&room, "Ada", Some(&valid)).await {
        ServerMessage::Welcome { room: joined, .. } => assert_eq!(joined, room),
        other => panic!("expected welcome, got {other:?}"),
    }
}

#[tokio::test]
async fn turn_credentials_are_issued_per_peer_and_refreshed_before_they_expire() {
    let mut config = test_config();
    config.turn_urls = vec!["turn:turn.example.org:3478".into()];
    config.turn_secret = Some("north-wind".into());
    config.turn_ttl = std::time::Duration::from_secs(2);
    let relay = Relay::start_with(config).await;
    let before = unix_now();
    let (mut a, a_w) = relay.joined(&room("turn"), "A").await;
    let ServerMessage::Welcome { ice_servers, .. } = &a_w.message else {
        unreachable!()
    };
    let turn = &ice_servers[0];
    assert_eq!(turn.urls, vec!["turn:turn.example.org:3478".to_string()]);
    let username = turn.username.clone().unwrap();
    let (expiry, peer) = username.split_once(':').unwrap();
    let expiry: u64 = expiry.parse().unwrap();
    assert_eq!(peer, a_w.id.as_str());
    assert!(expiry >= before + 2 && expiry <= unix_now() + 2);
    let expected = turn_credentials(b"north-wind", peer, expiry).1;
    assert_eq!(turn.credential.as_deref(), Some(expected.as_str()));

    // Three quarters of the two-second life later, fresh credentials arrive unasked.
    match a.recv().await {
        ServerMessage::IceServers { ice_servers } => {
            let fresh = ice_servers[0].username.clone().unwrap();
            let (fresh_expiry, fresh_peer) = fresh.split_once(':').unwrap();
            assert_eq!(fresh_peer, a_w.id.as_str());
            assert!(fresh_expiry.parse::<u64>().unwrap() >= expiry);
            let expected =
                turn_credentials(b"north-wind", fresh_peer, fresh_expiry.parse().unwrap()).1;
            assert_eq!(
                ice_servers[0].credential.as_deref(),
                Some(expected.as_str())
            );
        }
        other => panic!("expected ice_servers, got {other:?}"),
    }
    a.assert_alive().await;
}

#[tokio::test]
async fn metrics_count_connections_rooms_signals_errors_and_evictions() {
    let relay = Relay::start().await;
    let room = room("metrics");
    let (mut a, _) = relay.joined(&room, "A").await;
    let (mut b, b_w) = relay.joined(&room, "B").await;
    a.recv().await;
    a.send(json!({"type": "signal", "to": b_w.id, "payload": {}}))
        .await;
    b.recv().await;
    a.send_text("{nope").await;
    a.expect_error(ErrorCode::MalformedJson).await;

    let (status, headers, body) = http_get_with_headers(relay.addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let value = |line: &str| -> u64 {
        body.lines()
            .find_map(|l| l.strip_prefix(line).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {line:?} in\n{body}"))
    };
    assert_eq!(value("peerlab_connections "), 2);
    assert_eq!(value("peerlab_rooms "), 1);
    assert_eq!(value("peerlab_signals_relayed_total "), 1);
    assert_eq!(value("peerlab_errors_total{code=\"malformed_json\"} "), 1);
    assert_eq!(value("peerlab_errors_total{code=\"room_full\"} "), 0);
    assert_eq!(value("peerlab_evictions_total "), 0);
    assert!(value("peerlab_messages_received_total ") >= 4);
    assert!(body.contains("# TYPE peerlab_errors_total counter"));
}

#[tokio::test]
async fn turn_credentials_stop_when_the_member_leaves_its_room() {
    let mut config = test_config();
    config.turn_urls = vec!["turn:turn.example.org:3478?transport=tcp".into()];
    config.turn_secret = Some("north-wind".into());
    config.turn_ttl = std::time::Duration::from_secs(2);
    let relay = Relay::start_with(config).await;
    let (mut a, _) = relay.joined(&room("turn-leave"), "A").await;
    a.send(json!({"type": "leave"})).await;
    assert!(matches!(a.recv().await, ServerMessage::Left { .. }));
    // A member would have had fresh credentials after 1.5 s; one that left gets none, connected or not.
    a.expect_silence(std::time::Duration::from_millis(2_500))
        .await;
    a.assert_alive().await;
}

#[tokio::test]
async fn a_connection_that_never_joins_gets_no_turn_credentials() {
    let mut config = test_config();
    config.turn_urls = vec!["turn:turn.example.org:3478".into()];
    config.turn_secret = Some("north-wind".into());
    config.turn_ttl = std::time::Duration::from_secs(2);
    let relay = Relay::start_with(config).await;
    let mut a = relay.client().await;
    a.expect_silence(std::time::Duration::from_millis(2_000))
        .await;
    // A join refused (a name that breaks the rules) hands out no credentials either.
    a.send(json!({"type": "join", "version": 1, "name": "", "room": room("turn-refused")}))
        .await;
    assert!(matches!(a.recv().await, ServerMessage::Error { .. }));
    a.expect_silence(std::time::Duration::from_millis(2_000))
        .await;
}
