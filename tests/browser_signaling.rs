//! Browser tests of `SignalingClient` against a real relay, run in headless Chromium by wasm-bindgen-test.
//!
//! The relay's address comes from `PEERLAB_TEST_RELAY_WS` at build time (default
//! `ws://127.0.0.1:18080/ws`); start `peerlab-server --bind 127.0.0.1:18080` first, in the same loopback-only
//! network namespace as the browser. Every test uses a fresh random room, so runs never see each other.

#![cfg(target_arch = "wasm32")]

use futures::{future, FutureExt, StreamExt};
use gloo_timers::future::TimeoutFuture;
use peerlab::signaling::{JoinRequest, SignalingClient, SignalingEvent, SignalingEvents, Welcome};
use peerlab_protocol::{LeaveReason, Payload};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const RELAY: &str = match option_env!("PEERLAB_TEST_RELAY_WS") {
    Some(url) => url,
    None => "ws://127.0.0.1:18080/ws",
};

/// How long one expected event may take; the relay is local, so this is generous.
const WAIT_MS: u32 = 5_000;

type TestResult = Result<(), String>;

fn random_room() -> String {
    let n = (js_sys::Math::random() * 1e12) as u64;
    format!("wasm-test-{n:x}")
}

fn connect(room: &str, name: &str) -> Result<(SignalingClient, SignalingEvents), String> {
    SignalingClient::connect(
        RELAY,
        JoinRequest {
            room: room.to_owned(),
            name: name.to_owned(),
        },
    )
    .map_err(|err| err.to_string())
}

/// Waits for the first event `pick` accepts, skipping others; fails on close, stream end or timeout.
async fn expect<T>(
    events: &mut SignalingEvents,
    what: &str,
    mut pick: impl FnMut(&SignalingEvent) -> Option<T>,
) -> Result<T, String> {
    let mut timeout = TimeoutFuture::new(WAIT_MS).fuse();
    loop {
        let next = future::select(events.next(), &mut timeout);
        let event = match next.await {
            future::Either::Left((Some(event), _)) => event,
            future::Either::Left((None, _)) => {
                return Err(format!("events ended while waiting for {what}"))
            }
            future::Either::Right(_) => {
                return Err(format!(
                    "no {what} within {WAIT_MS} ms (is a relay listening at {RELAY}?)"
                ))
            }
        };
        if let Some(found) = pick(&event) {
            return Ok(found);
        }
        if let SignalingEvent::Closed { code, reason, .. } = &event {
            return Err(format!(
                "socket closed ({code} {reason:?}) while waiting for {what}"
            ));
        }
    }
}

async fn welcome(events: &mut SignalingEvents) -> Result<Welcome, String> {
    expect(events, "welcome", |event| match event {
        SignalingEvent::Welcome(welcome) => Some(welcome.clone()),
        _ => None,
    })
    .await
}

#[wasm_bindgen_test]
async fn two_clients_meet_exchange_a_signal_and_see_each_other_leave() -> TestResult {
    let room = random_room();

    let (ada, mut ada_events) = connect(&room, "Ada")?;
    let ada_welcome = welcome(&mut ada_events).await?;
    assert_eq!(ada_welcome.room, room);
    assert!(
        ada_welcome.members.is_empty(),
        "a fresh room is empty: {:?}",
        ada_welcome.members
    );

    let (bob, mut bob_events) = connect(&room, "Bob")?;
    let bob_welcome = welcome(&mut bob_events).await?;
    let names: Vec<_> = bob_welcome
        .members
        .iter()
        .map(|m| (m.id.clone(), m.name.clone()))
        .collect();
    assert_eq!(
        names,
        vec![(ada_welcome.peer_id.clone(), "Ada".to_owned())],
        "Bob sees Ada in the welcome"
    );

    let joined = expect(&mut ada_events, "member_joined", |event| match event {
        SignalingEvent::MemberJoined(member) => Some(member.clone()),
        _ => None,
    })
    .await?;
    assert_eq!(joined.id, bob_welcome.peer_id);
    assert_eq!(joined.name, "Bob");

    let payload =
        Payload::from_json(r#"{"kind":"offer","sdp":"v=0"}"#).map_err(|e| e.to_string())?;
    ada.send_signal(bob_welcome.peer_id.clone(), payload)
        .map_err(|e| e.to_string())?;
    let (from, received) = expect(&mut bob_events, "signal", |event| match event {
        SignalingEvent::Signal { from, payload } => Some((from.clone(), payload.clone())),
        _ => None,
    })
    .await?;
    assert_eq!(from, ada_welcome.peer_id, "the relay stamps the sender");
    let value: serde_json::Value = received.parse().map_err(|e| e.to_string())?;
    assert_eq!(value, serde_json::json!({"kind": "offer", "sdp": "v=0"}));

    bob.rename("Robert".to_owned()).map_err(|e| e.to_string())?;
    let renamed = expect(&mut ada_events, "member_renamed", |event| match event {
        SignalingEvent::MemberRenamed { id, name } => Some((id.clone(), name.clone())),
        _ => None,
    })
    .await?;
    assert_eq!(renamed, (bob_welcome.peer_id.clone(), "Robert".to_owned()));

    drop(bob);
    // Events queued before the drop (Bob's own rename) still arrive; then the stream ends.
    let rest = future::select(bob_events.collect::<Vec<_>>(), TimeoutFuture::new(WAIT_MS)).await;
    assert!(
        matches!(rest, future::Either::Left(_)),
        "a dropped client's events end"
    );
    let (left, reason) = expect(&mut ada_events, "member_left", |event| match event {
        SignalingEvent::MemberLeft { id, reason } => Some((id.clone(), *reason)),
        _ => None,
    })
    .await?;
    assert_eq!(left, bob_welcome.peer_id);
    assert_eq!(reason, LeaveReason::Left);
    drop(ada);
    Ok(())
}

#[wasm_bindgen_test]
async fn leave_is_confirmed_and_keeps_the_socket() -> TestResult {
    let (client, mut events) = connect(&random_room(), "Cy")?;
    welcome(&mut events).await?;
    client.leave().map_err(|e| e.to_string())?;
    expect(&mut events, "left", |event| {
        matches!(event, SignalingEvent::Left { .. }).then_some(())
    })
    .await?;
    assert!(
        client
            .send_signal(
                "nobody".into(),
                Payload::from_json("1").map_err(|e| e.to_string())?
            )
            .is_err(),
        "signals need a room"
    );
    Ok(())
}
