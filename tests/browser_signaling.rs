//! Browser tests of `SignalingClient` against a real relay, run in headless Chromium by wasm-bindgen-test.
//!
//! The relay's address comes from `PEERLAB_TEST_RELAY_WS` at build time (default
//! `ws://127.0.0.1:18080/ws`); start `peerlab-server --bind 127.0.0.1:18080` first, in the same loopback-only
//! network namespace as the browser. Every test uses a fresh random room, so runs never see each other.

#![cfg(target_arch = "wasm32")]

use futures::{future, FutureExt, StreamExt};
use gloo_net::websocket::State;
use gloo_timers::future::TimeoutFuture;
use peerlab::signaling::{
    JoinRequest, SignalingClient, SignalingEvent, SignalingEvents, WarmSocket, Welcome,
};
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
            token: None,
            resume: None,
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

/// Waits until `warm` leaves `CONNECTING`; returns its state then.
async fn settled(warm: &WarmSocket) -> Result<State, String> {
    for _ in 0..WAIT_MS / 10 {
        if !matches!(warm.state(), State::Connecting) {
            return Ok(warm.state());
        }
        TimeoutFuture::new(10).await;
    }
    Err(format!(
        "the socket to {} never opened or failed",
        warm.url()
    ))
}

#[wasm_bindgen_test]
async fn a_join_on_a_socket_opened_earlier_leaves_at_once() -> TestResult {
    let room = random_room();
    let warm = WarmSocket::open(RELAY).map_err(|e| e.to_string())?;
    assert!(matches!(settled(&warm).await?, State::Open));
    // Some time in the lobby, well within the relay's join timeout.
    TimeoutFuture::new(200).await;
    let socket = warm.take_for(RELAY).ok_or("an open socket is usable")?;
    let (_client, mut events) = SignalingClient::connect_on(
        socket,
        JoinRequest {
            room: room.clone(),
            name: "Ada".to_owned(),
            token: None,
            resume: None,
        },
    );
    expect(&mut events, "connected", |event| {
        matches!(event, SignalingEvent::Connected).then_some(())
    })
    .await?;
    let welcome = welcome(&mut events).await?;
    assert_eq!(welcome.room, room);
    assert_eq!(welcome.name, "Ada");
    Ok(())
}

#[wasm_bindgen_test]
async fn a_socket_that_failed_or_leads_elsewhere_is_not_used() -> TestResult {
    let warm = WarmSocket::open(RELAY).map_err(|e| e.to_string())?;
    settled(&warm).await?;
    assert!(
        warm.take_for("ws://127.0.0.1:9/ws").is_none(),
        "a socket to another relay"
    );
    // Nothing listens on port 9 in the test namespace: the socket fails, and a join opens a new one.
    let failed = WarmSocket::open("ws://127.0.0.1:9/ws").map_err(|e| e.to_string())?;
    assert!(matches!(settled(&failed).await?, State::Closed));
    assert!(failed.take_for("ws://127.0.0.1:9/ws").is_none());
    Ok(())
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
async fn a_resumed_join_keeps_the_peer_id_and_the_old_socket_hears_4004_with_its_reason(
) -> TestResult {
    let room = random_room();
    let (_old, mut old_events) = connect(&room, "Ada")?;
    let first = welcome(&mut old_events).await?;
    let token = first
        .resume
        .clone()
        .ok_or("the welcome carries a resume token")?;
    let (_new, mut new_events) = SignalingClient::connect(
        RELAY,
        JoinRequest {
            room: room.clone(),
            name: "Ada".to_owned(),
            token: None,
            resume: Some(token),
        },
    )
    .map_err(|e| e.to_string())?;
    let second = welcome(&mut new_events).await?;
    assert_eq!(second.peer_id, first.peer_id, "the same peer id");
    assert!(second.resumed, "the relay says it resumed");
    // The reconnect logic reads the code (4004 means "do not come back") and shows the reason.
    let (code, reason) = expect(
        &mut old_events,
        "the takeover's close",
        |event| match event {
            SignalingEvent::Closed { code, reason, .. } => Some((*code, reason.clone())),
            _ => None,
        },
    )
    .await?;
    assert_eq!(code, peerlab_protocol::close_code::REPLACED);
    assert_eq!(reason, "replaced by a newer connection");
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

/// Waits until `selector` inside `root` exists and `accept` likes its text; returns the text.
async fn wait_for_text(
    root: &web_sys::Element,
    selector: &str,
    accept: impl Fn(&str) -> bool,
) -> Result<String, String> {
    let mut waited = 0;
    loop {
        let text = root
            .query_selector(selector)
            .map_err(|e| format!("{e:?}"))?
            .and_then(|el| el.text_content());
        if let Some(text) = text.filter(|t| accept(t)) {
            return Ok(text);
        }
        if waited >= WAIT_MS {
            return Err(format!(
                "{selector} never showed the expected text; the panel shows: {}",
                root.text_content().unwrap_or_default()
            ));
        }
        TimeoutFuture::new(20).await;
        waited += 20;
    }
}

#[wasm_bindgen_test]
async fn room_panel_shows_members_renames_and_a_full_room() -> TestResult {
    use leptos::prelude::*;
    use peerlab::components::RoomPanel;
    use peerlab::config::Config;
    use peerlab::context::AppConfig;
    use peerlab::signaling::{use_relay_room, RelayRoom};
    use peerlab_protocol::ErrorCode;
    use wasm_bindgen::JsCast;

    type Mounted = (
        web_sys::HtmlElement,
        Owner,
        Box<dyn std::any::Any>,
        RelayRoom,
    );

    let room = random_room();
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    // The panel renders the relay handle of its page; here the page is a view that holds nothing else.
    let mount = |room: String| -> Result<Mounted, String> {
        let root: web_sys::HtmlElement = document
            .create_element("div")
            .map_err(|e| format!("{e:?}"))?
            .dyn_into()
            .map_err(|_| "not an HtmlElement".to_owned())?;
        document
            .body()
            .ok_or("no body")?
            .append_child(&root)
            .map_err(|e| format!("{e:?}"))?;
        let owner = Owner::new();
        let slot = std::rc::Rc::new(std::cell::Cell::new(None));
        let out = slot.clone();
        let handle = owner.with(|| {
            leptos::mount::mount_to(root.clone(), move || {
                provide_context(AppConfig::fixed(Config {
                    relay_url: Some(RELAY.to_owned()),
                }));
                let relay = use_relay_room(room, None);
                out.set(Some(relay));
                view! { <RoomPanel relay=relay /> }
            })
        });
        let relay = slot.take().ok_or("the panel did not mount")?;
        Ok((root, owner, Box::new(handle), relay))
    };
    let type_into = |root: &web_sys::HtmlElement, selector: &str, text: &str| -> TestResult {
        let input: web_sys::HtmlInputElement = root
            .query_selector(selector)
            .map_err(|e| format!("{e:?}"))?
            .ok_or(format!("no {selector}"))?
            .dyn_into()
            .map_err(|_| "not an input".to_owned())?;
        input.set_value(text);
        let init = web_sys::EventInit::new();
        init.set_bubbles(true);
        let event = web_sys::Event::new_with_event_init_dict("input", &init)
            .map_err(|e| format!("{e:?}"))?;
        input.dispatch_event(&event).map_err(|e| format!("{e:?}"))?;
        Ok(())
    };
    let click = |root: &web_sys::HtmlElement, selector: &str| -> TestResult {
        let button: web_sys::HtmlElement = root
            .query_selector(selector)
            .map_err(|e| format!("{e:?}"))?
            .ok_or(format!("no {selector}"))?
            .dyn_into()
            .map_err(|_| "not a button".to_owned())?;
        button.click();
        Ok(())
    };

    // One member is already there; the panel lists them and then itself with its peer id.
    let (_first, mut first_events) = connect(&room, "Early")?;
    let limits = welcome(&mut first_events).await?.limits;
    let (root, owner, handle, relay) = mount(room.clone())?;
    relay.join("Panel");
    wait_for_text(&root, "[data-testid=connection-state]", |t| {
        t == "connected"
    })
    .await?;
    let members =
        wait_for_text(&root, "[data-testid=member-list]", |t| t.contains("Early")).await?;
    assert!(members.contains("Panel (you)"), "members: {members}");
    let peer_id = wait_for_text(&root, "[data-testid=peer-id]", |t| t.len() > 8).await?;
    let panel_id = expect(
        &mut first_events,
        "the panel joining",
        |event| match event {
            SignalingEvent::MemberJoined(member) if member.name == "Panel" => {
                Some(member.id.to_string())
            }
            _ => None,
        },
    )
    .await?;
    assert_eq!(peer_id, panel_id, "the panel shows the id the others see");

    // A name the join would refuse is refused here too, in words, and nothing is sent.
    type_into(&root, "[data-testid=rename-input]", "   ")?;
    click(&root, "[data-testid=rename-button]")?;
    let refused = wait_for_text(&root, "[data-testid=rename-error]", |t| !t.is_empty()).await?;
    assert!(
        refused.contains("the name is empty"),
        "rename error: {refused}"
    );
    // A good name reaches the others and the panel's own list.
    type_into(&root, "[data-testid=rename-input]", "Panel L.")?;
    click(&root, "[data-testid=rename-button]")?;
    let renamed = expect(
        &mut first_events,
        "the panel's rename",
        |event| match event {
            SignalingEvent::MemberRenamed { id, name } => Some((id.to_string(), name.clone())),
            _ => None,
        },
    )
    .await?;
    assert_eq!(renamed, (panel_id, "Panel L.".to_owned()));
    wait_for_text(&root, "[data-testid=member-list]", |t| {
        t.contains("Panel L. (you)")
    })
    .await?;
    wait_for_text(&root, "[data-testid=activity-log]", |t| {
        t.contains("You are now Panel L.")
    })
    .await?;
    wait_for_text(&root, "[data-testid=rename-error]", str::is_empty).await?;
    drop(handle);
    owner.cleanup();
    root.remove();
    expect(&mut first_events, "the panel leaving", |event| {
        matches!(event, SignalingEvent::MemberLeft { .. }).then_some(())
    })
    .await?;

    // Fill the room to its limit; a newcomer's relay handle says the room is full.
    let mut fillers = Vec::new();
    for i in 1..limits.max_peers {
        let (client, mut events) = connect(&room, &format!("Filler {i}"))?;
        welcome(&mut events).await?;
        fillers.push((client, events));
    }
    let (root, owner, handle, relay) = mount(room.clone())?;
    relay.join("Late");
    let mut waited = 0;
    let problem = loop {
        if let Some(problem) = relay.roster().with_untracked(|r| r.problem.clone()) {
            break problem;
        }
        if waited >= WAIT_MS {
            return Err("the late joiner never learned that the room is full".into());
        }
        TimeoutFuture::new(20).await;
        waited += 20;
    };
    assert!(
        problem.headline.contains("The room is full"),
        "problem: {problem:?}"
    );
    assert_eq!(problem.code, Some(ErrorCode::RoomFull));
    drop(handle);
    owner.cleanup();
    root.remove();
    Ok(())
}
