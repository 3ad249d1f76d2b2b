//! Browser tests of the app shell: the router, the navigation and the home page's room form, run in
//! headless Chromium by wasm-bindgen-test.
//!
//! Each test mounts a fresh `App` into its own `<div>`, starting from a path it sets with the History API,
//! and finds elements by `data-testid`. These tests deliberately need no relay: nothing here presses Join.

#![cfg(target_arch = "wasm32")]

use std::any::Any;

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::Owner;
use peerlab::error::describe_js;
use peerlab::App;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Document, Element, Event, EventInit, HtmlElement, HtmlInputElement, Window};

wasm_bindgen_test_configure!(run_in_browser);

/// How long a page may take to appear after a navigation.
const WAIT_MS: u32 = 5_000;

type TestResult = Result<(), String>;

fn js(err: JsValue) -> String {
    describe_js(&err)
}

fn window() -> Result<Window, String> {
    web_sys::window().ok_or_else(|| "no window".to_owned())
}

fn document() -> Result<Document, String> {
    window()?.document().ok_or_else(|| "no document".to_owned())
}

/// A mounted app; unmounts and removes its root when dropped, so tests do not see each other's pages.
struct Mounted {
    root: HtmlElement,
    /// The Leptos unmount handle, whose drop removes the view.
    handle: Option<Box<dyn Any>>,
    /// The parent of the app's reactive owner. Dropping the unmount handle alone does not run the router's
    /// cleanup here, so its window-wide click listener would survive and swallow the next app's link
    /// clicks; cleaning this owner runs it.
    owner: Owner,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        self.handle.take();
        self.owner.cleanup();
        self.root.remove();
    }
}

impl Mounted {
    /// Waits until an element with this `data-testid` is in the app and returns it.
    async fn find(&self, test_id: &str) -> Result<Element, String> {
        let selector = format!("[data-testid=\"{test_id}\"]");
        let mut waited = 0;
        loop {
            if let Some(el) = self.root.query_selector(&selector).map_err(js)? {
                return Ok(el);
            }
            if waited >= WAIT_MS {
                return Err(format!(
                    "no element {selector} after {WAIT_MS} ms; the app shows: {}",
                    self.root.text_content().unwrap_or_default()
                ));
            }
            TimeoutFuture::new(20).await;
            waited += 20;
        }
    }

    /// Whether an element with this `data-testid` is in the app right now.
    fn has(&self, test_id: &str) -> Result<bool, String> {
        let selector = format!("[data-testid=\"{test_id}\"]");
        Ok(self.root.query_selector(&selector).map_err(js)?.is_some())
    }

    async fn click(&self, test_id: &str) -> TestResult {
        let el: HtmlElement = self
            .find(test_id)
            .await?
            .dyn_into()
            .map_err(|_| format!("{test_id} is not an HTML element"))?;
        el.click();
        Ok(())
    }

    /// Types into an input the way a person does: set the value, then a bubbling `input` event.
    async fn type_into(&self, test_id: &str, text: &str) -> TestResult {
        let input: HtmlInputElement = self
            .find(test_id)
            .await?
            .dyn_into()
            .map_err(|_| format!("{test_id} is not an input"))?;
        input.set_value(text);
        let init = EventInit::new();
        init.set_bubbles(true);
        let event = Event::new_with_event_init_dict("input", &init).map_err(js)?;
        input.dispatch_event(&event).map_err(js)?;
        Ok(())
    }
}

/// Mounts a fresh app with the address bar at `path`.
fn mount_at(path: &str) -> Result<Mounted, String> {
    window()?
        .history()
        .map_err(js)?
        .replace_state_with_url(&JsValue::NULL, "", Some(path))
        .map_err(js)?;
    let document = document()?;
    let root: HtmlElement = document
        .create_element("div")
        .map_err(js)?
        .dyn_into()
        .map_err(|_| "a div is not an HtmlElement".to_owned())?;
    document
        .body()
        .ok_or("no body")?
        .append_child(&root)
        .map_err(js)?;
    let owner = Owner::new();
    let handle = owner.with(|| leptos::mount::mount_to(root.clone(), App));
    Ok(Mounted {
        root,
        handle: Some(Box::new(handle)),
        owner,
    })
}

fn pathname() -> Result<String, String> {
    window()?.location().pathname().map_err(js)
}

#[wasm_bindgen_test]
async fn nav_links_route_to_each_page_and_mark_the_current_one() -> TestResult {
    let app = mount_at("/")?;
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
    let app = mount_at("/no/such/page")?;
    app.find("page-not-found").await?;
    assert!(!app.has("page-home")?);
    Ok(())
}

#[wasm_bindgen_test]
async fn room_form_refuses_a_bad_name_then_opens_the_room() -> TestResult {
    let app = mount_at("/")?;
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
    app.find("room-panel").await?;
    let state = app.find("connection-state").await?;
    assert_eq!(state.get_attribute("data-state").as_deref(), Some("idle"));
    Ok(())
}

#[wasm_bindgen_test]
async fn room_link_with_an_invalid_name_explains_the_problem() -> TestResult {
    let app = mount_at("/room/a%20b")?;
    let error = app
        .find("room-param-error")
        .await?
        .text_content()
        .unwrap_or_default();
    assert!(error.contains("not allowed"), "error shown: {error:?}");
    assert!(
        !app.has("room-panel")?,
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
    let app = mount_at("/chat")?;
    app.find("page-chat").await?;
    let input: HtmlInputElement = app
        .find("name-input")
        .await?
        .dyn_into()
        .map_err(|_| "name-input is not an input".to_owned())?;
    assert_eq!(input.value(), "Tess");
    storage.remove_item("peerlab.name").map_err(js)?;
    Ok(())
}
