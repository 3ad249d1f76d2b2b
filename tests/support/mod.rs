//! What the browser tests share: mounting a fresh `App` at a path (or one component on its own),
//! finding elements by `data-testid`, acting on them the way a person does, and bounded waiting.
//! Included with `mod support;` by each `tests/browser_*.rs` that drives pages; not a test binary itself.

#![allow(dead_code)]

use std::any::Any;

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::{IntoView, Owner};
use peerlab::error::describe_js;
use peerlab::App;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    Element, Event, EventInit, HtmlElement, HtmlInputElement, HtmlSelectElement, Window,
};

/// How long something may take to appear: a page after a navigation, media, or a loopback connection
/// (which usually needs well under a second).
pub const WAIT_MS: u32 = 15_000;

pub type TestResult = Result<(), String>;

pub fn js(err: JsValue) -> String {
    describe_js(&err)
}

pub fn window() -> Result<Window, String> {
    web_sys::window().ok_or_else(|| "no window".to_owned())
}

/// Polls `ready` every 20 ms until it holds, for at most [`WAIT_MS`].
pub async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) -> TestResult {
    let mut waited = 0;
    while !ready() {
        if waited >= WAIT_MS {
            return Err(format!("{what}: not within {WAIT_MS} ms"));
        }
        TimeoutFuture::new(20).await;
        waited += 20;
    }
    Ok(())
}

/// A mounted app; unmounts and removes its root when dropped, so tests do not see each other's pages.
pub struct Mounted {
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
    /// Mounts a fresh app with the address bar at `path`.
    pub fn at(path: &str) -> Result<Self, String> {
        window()?
            .history()
            .map_err(js)?
            .replace_state_with_url(&JsValue::NULL, "", Some(path))
            .map_err(js)?;
        Self::view(App)
    }

    /// Mounts `view` (a component on its own, or the whole app) into a fresh element of its own.
    pub fn view<V: IntoView + 'static>(view: impl FnOnce() -> V + 'static) -> Result<Self, String> {
        let document = window()?.document().ok_or("no document")?;
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
        let handle = owner.with(|| leptos::mount::mount_to(root.clone(), view));
        Ok(Mounted {
            root,
            handle: Some(Box::new(handle)),
            owner,
        })
    }

    /// The element the view is mounted in.
    pub fn root(&self) -> &HtmlElement {
        &self.root
    }

    /// Waits until an element with this `data-testid` is in the app and returns it.
    pub async fn find(&self, test_id: &str) -> Result<Element, String> {
        let selector = format!("[data-testid=\"{test_id}\"]");
        let mut found = None;
        wait_for(&format!("element {selector}"), || {
            found = self.root.query_selector(&selector).ok().flatten();
            found.is_some()
        })
        .await
        .map_err(|e| {
            format!(
                "{e}; the app shows: {}",
                self.root.text_content().unwrap_or_default()
            )
        })?;
        found.ok_or_else(|| "vanished".to_owned())
    }

    /// Whether an element with this `data-testid` is in the app right now.
    pub fn has(&self, test_id: &str) -> Result<bool, String> {
        let selector = format!("[data-testid=\"{test_id}\"]");
        Ok(self.root.query_selector(&selector).map_err(js)?.is_some())
    }

    pub async fn click(&self, test_id: &str) -> TestResult {
        let el: HtmlElement = self
            .find(test_id)
            .await?
            .dyn_into()
            .map_err(|_| format!("{test_id} is not an HTML element"))?;
        el.click();
        Ok(())
    }

    /// Types into an input the way a person does: set the value, then a bubbling `input` event.
    pub async fn type_into(&self, test_id: &str, text: &str) -> TestResult {
        let input: HtmlInputElement = self
            .find(test_id)
            .await?
            .dyn_into()
            .map_err(|_| format!("{test_id} is not an input"))?;
        input.set_value(text);
        bubble(&input, "input")
    }

    /// Picks `value` in a `<select>` and fires the bubbling `change` event a person's choice would.
    pub async fn choose(&self, test_id: &str, value: &str) -> TestResult {
        let select: HtmlSelectElement = self
            .find(test_id)
            .await?
            .dyn_into()
            .map_err(|_| format!("{test_id} is not a select"))?;
        select.set_value(value);
        bubble(&select, "change")
    }
}

fn bubble(target: &web_sys::EventTarget, kind: &str) -> TestResult {
    let init = EventInit::new();
    init.set_bubbles(true);
    let event = Event::new_with_event_init_dict(kind, &init).map_err(js)?;
    target.dispatch_event(&event).map_err(js)?;
    Ok(())
}
