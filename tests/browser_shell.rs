//! Browser tests of the app shell: the router, the navigation and the home page's room form, run in
//! headless Chromium by wasm-bindgen-test.
//!
//! Each test mounts a fresh `App` into its own `<div>`, starting from a path it sets with the History API,
//! and finds elements by `data-testid`. These tests deliberately need no relay: nothing here gets as far as
//! a relay connection.

#![cfg(target_arch = "wasm32")]

mod support;

use gloo_timers::future::TimeoutFuture;
use support::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::HtmlInputElement;

wasm_bindgen_test_configure!(run_in_browser);

fn pathname() -> Result<String, String> {
    window()?.location().pathname().map_err(js)
}

#[wasm_bindgen_test]
async fn nav_links_route_to_each_page_and_mark_the_current_one() -> TestResult {
    let app = Mounted::at("/")?;
    app.find("page-home").await?;
    let links = ["nav-home", "nav-media", "nav-loopback", "nav-chat"];
    for (link, page, path) in [
        ("nav-media", "page-media", "/media"),
        ("nav-loopback", "page-loopback", "/loopback"),
        ("nav-chat", "page-chat", "/chat"),
        ("nav-home", "page-home", "/"),
    ] {
        app.click(link).await?;
        app.find(page).await?;
        assert_eq!(pathname()?, path, "clicking {link}");
        for other in links {
            let current = app.find(other).await?.get_attribute("aria-current");
            let expected = (other == link).then(|| "page".to_owned());
            assert_eq!(current, expected, "aria-current of {other} on {path}");
        }
    }

    // The browser's back button returns to the chat page.
    window()?.history().map_err(js)?.back().map_err(js)?;
    app.find("page-chat").await?;
    assert!(!app.has("page-home")?, "only one page is shown at a time");
    Ok(())
}

#[wasm_bindgen_test]
async fn unknown_address_shows_not_found() -> TestResult {
    let app = Mounted::at("/no/such/page")?;
    app.find("page-not-found").await?;
    assert!(!app.has("page-home")?);
    Ok(())
}

#[wasm_bindgen_test]
async fn room_form_refuses_a_bad_name_then_opens_the_room() -> TestResult {
    let app = Mounted::at("/")?;
    app.type_into("room-name-input", "team standup").await?;
    app.click("room-go").await?;
    TimeoutFuture::new(50).await;
    let error = app
        .find("room-name-error")
        .await?
        .text_content()
        .unwrap_or_default();
    assert!(
        error.contains("' ' is not allowed"),
        "error shown: {error:?}"
    );
    assert!(app.has("page-home")?, "a bad name stays on the home page");

    app.type_into("room-name-input", "team-standup").await?;
    app.click("room-go").await?;
    app.find("page-room").await?;
    assert_eq!(pathname()?, "/room/team-standup");
    // The call is offered, not started: a name field and the join button, and no relay connection yet.
    app.find("room-name").await?;
    app.find("room-join").await?;
    let relay = app.find("relay-status").await?;
    assert_eq!(relay.get_attribute("data-state").as_deref(), Some("idle"));
    Ok(())
}

#[wasm_bindgen_test]
async fn room_link_with_an_invalid_name_explains_the_problem() -> TestResult {
    let app = Mounted::at("/room/a%20b")?;
    let error = app
        .find("room-param-error")
        .await?
        .text_content()
        .unwrap_or_default();
    assert!(error.contains("not allowed"), "error shown: {error:?}");
    assert!(
        !app.has("room-join")?,
        "no join is offered for an invalid room"
    );
    Ok(())
}

#[wasm_bindgen_test]
async fn chat_page_remembers_the_display_name() -> TestResult {
    let storage = window()?
        .local_storage()
        .map_err(js)?
        .ok_or("no localStorage")?;
    storage.set_item("peerlab.name", "Tess").map_err(js)?;
    let app = Mounted::at("/chat")?;
    app.find("page-chat").await?;
    let input: HtmlInputElement = app
        .find("chat-name")
        .await?
        .dyn_into()
        .map_err(|_| "chat-name is not an input".to_owned())?;
    assert_eq!(input.value(), "Tess");
    storage.remove_item("peerlab.name").map_err(js)?;
    Ok(())
}

/// The room page's inspector is closed and renders none of the relay log or peer states until it is
/// opened (each update while a call forms would be a rendering pass); opened, it shows the log as it grows,
/// and closed again it lets go of the rows. Its `watching` switch (the mesh reads connections only while it
/// is on) follows the same opening and closing: the room's inspector shows the uplink, made from readings,
/// as soon as it is open.
#[wasm_bindgen_test]
async fn a_collapsed_inspector_renders_its_log_only_while_open() -> TestResult {
    use leptos::prelude::*;
    use peerlab::components::Inspector;
    use peerlab::mesh::InspectorFeed;
    use peerlab::signaling::{Direction, SignalLog};

    // The log lives outside the mounted view, as the relay handle's does on the page.
    let log = RwSignal::new(SignalLog::new());
    log.update(|l| l.push(Direction::Received, "welcome", None, "joined as Ada"));
    let watching = RwSignal::new(false);
    let feed = InspectorFeed {
        peers: Signal::derive(Vec::new),
        watching,
    };
    let app =
        Mounted::view(move || view! { <Inspector log=log feed=feed collapsed=true media=true /> })?;
    let root = app.root();
    // The log's rows (none while the list itself is not rendered).
    let entries = || -> Result<u32, wasm_bindgen::JsValue> {
        Ok(root
            .query_selector("ol.inspector-log")?
            .map_or(0, |list| list.child_element_count()))
    };
    let details: web_sys::HtmlDetailsElement = root
        .query_selector("details[data-testid=\"inspector\"]")
        .map_err(js)?
        .ok_or("the inspector is not a <details>")?
        .dyn_into()
        .map_err(|_| "not a details element")?;
    assert!(!details.open(), "closed at first");
    log.update(|l| l.push(Direction::Sent, "signal", None, "offer"));
    TimeoutFuture::new(50).await;
    assert_eq!(entries().map_err(js)?, 0, "nothing rendered while closed");
    assert!(!watching.get_untracked(), "nothing read while closed");

    details.set_open(true);
    wait_for("two entries once opened", || entries().ok() == Some(2)).await?;
    assert!(watching.get_untracked(), "connections read while open");
    log.update(|l| l.push(Direction::Received, "signal", None, "answer"));
    wait_for("the new entry while open", || entries().ok() == Some(3)).await?;

    details.set_open(false);
    wait_for("no rows once closed again", || entries().ok() == Some(0)).await?;
    assert!(!watching.get_untracked(), "reading stops once closed");
    Ok(())
}

/// A blank name stops the join before it reaches the relay: the page says what is wrong, the lobby does
/// not turn into "Joining…", and the next click is a new join (it clears the problem).
#[wasm_bindgen_test]
async fn a_join_with_a_blank_name_says_so_and_the_next_click_is_taken() -> TestResult {
    use web_sys::HtmlButtonElement;

    let app = Mounted::at("/room/blank-name-check")?;
    let button: HtmlButtonElement = app
        .find("room-join")
        .await?
        .dyn_into()
        .map_err(|_| "room-join is not a button".to_owned())?;
    wait_for("the camera to open", || !button.disabled()).await?;
    app.type_into("room-name", "   ").await?;
    button.click();
    let error = app
        .find("relay-error")
        .await?
        .text_content()
        .unwrap_or_default();
    assert!(error.contains("name"), "error shown: {error:?}");
    // Longer than a passing state waits before it shows (`components::settled`).
    TimeoutFuture::new(400).await;
    assert_eq!(button.text_content().as_deref(), Some("Join call"));
    assert!(!button.disabled(), "the lobby is stuck joining");
    assert!(!app.has("room-cancel-join")?);

    // The next click is taken: a new join starts, and the problem goes.
    app.type_into("room-name", "Ada").await?;
    button.click();
    wait_for("the blank-name problem to go", || {
        !app.has("relay-error").unwrap_or(true)
    })
    .await?;
    Ok(())
}
