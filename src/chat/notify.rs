//! [`use_tab_attention`]: the chat page's hidden-tab glue. While the tab is hidden, each incoming message
//! and file offer adds to a count in the document's title (cleared when the tab shows again) and, if the
//! person turned them on and the browser allows it, makes a notification.
//!
//! `chat::attention` decides; this module reads `document.visibilityState` and `Notification.permission`,
//! sets `document.title` and constructs `Notification`s. Permission is asked only by
//! [`TabAlerts::toggle`], which the page calls from a click: never on load. The hook owns its
//! `visibilitychange` listener (gloo-events removes it on drop), and takes any count out of the title
//! when the page goes.

use gloo_events::EventListener;
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};

use super::attention::{
    notification, should_notify, Permission, TabAttention, Watermarks, MAX_NOTIFICATIONS_AT_ONCE,
};
use super::conversation::Chats;

/// The page's notification setting. `Copy`, so view closures capture it freely.
#[derive(Clone, Copy)]
pub struct TabAlerts {
    /// What the browser allows, read at start and after every press of the button.
    permission: RwSignal<Permission>,
    /// Whether the person wants notifications; on by default only where the browser already allows them.
    wanted: RwSignal<bool>,
    /// The count shown in the title, for the page to say.
    unread: RwSignal<u32>,
}

/// Starts following `chats` for arrivals while the tab is hidden; everything stops with the calling
/// component.
pub fn use_tab_attention(chats: ReadSignal<Chats>) -> TabAlerts {
    let permission = RwSignal::new(read_permission());
    let alerts = TabAlerts {
        permission,
        wanted: RwSignal::new(permission.get_untracked() == Permission::Granted),
        unread: RwSignal::new(0),
    };
    let state: StoredValue<TabAttention, LocalStorage> =
        StoredValue::new_local(TabAttention::new(is_hidden()));
    let marks: StoredValue<Watermarks, LocalStorage> =
        StoredValue::new_local(Watermarks::default());

    // Removed with the component (dropping the listener removes it).
    let listener: StoredValue<Option<EventListener>, LocalStorage> =
        StoredValue::new_local(document().map(|d| {
            EventListener::new(&d, "visibilitychange", move |_| {
                let Some((title, unread)) =
                    state.try_update_value(|s| (s.visibility(is_hidden()), s.unread()))
                else {
                    return;
                };
                if let Some(title) = title {
                    set_title(&title);
                }
                alerts.unread.try_set(unread);
            })
        }));

    Effect::new(move |_| {
        let arrivals = chats.with(|c| {
            marks
                .try_update_value(|m| m.arrivals(c))
                .unwrap_or_default()
        });
        if arrivals.is_empty() {
            return;
        }
        let Some((title, unread, hidden)) = state.try_update_value(|s| {
            (
                s.arrived(arrivals.len(), &current_title()),
                s.unread(),
                s.hidden(),
            )
        }) else {
            return;
        };
        if let Some(title) = title {
            set_title(&title);
        }
        alerts.unread.try_set(unread);
        let notify = should_notify(
            hidden,
            alerts.permission.get_untracked(),
            alerts.wanted.get_untracked(),
        );
        if notify {
            for arrival in arrivals.iter().rev().take(MAX_NOTIFICATIONS_AT_ONCE).rev() {
                let (title, body) = notification(arrival);
                show_notification(&title, &body);
            }
        }
    });

    on_cleanup(move || {
        listener.try_update_value(Option::take);
        if let Some(Some(title)) = state.try_update_value(TabAttention::leave) {
            set_title(&title);
        }
    });
    alerts
}

impl TabAlerts {
    pub fn permission(&self) -> Signal<Permission> {
        self.permission.into()
    }

    /// Whether notifications are on: wanted, and allowed by the browser. Reactive.
    pub fn enabled(&self) -> bool {
        self.wanted.get() && self.permission.get() == Permission::Granted
    }

    /// Whether the person wants notifications (the button's pressed state). Reactive.
    pub fn wanted(&self) -> bool {
        self.wanted.get()
    }

    /// The count shown in the title while the tab is hidden. Reactive.
    pub fn unread(&self) -> Signal<u32> {
        self.unread.into()
    }

    /// Turns notifications on or off. Call it from a click: turning them on asks the browser for
    /// permission when it has not been asked, and browsers only show that prompt for a user gesture.
    pub fn toggle(&self) {
        let current = read_permission();
        self.permission.set(current);
        match current {
            Permission::Unsupported | Permission::Denied => self.wanted.set(false),
            Permission::Granted => self.wanted.update(|w| *w = !*w),
            Permission::NotAsked => {
                let this = *self;
                spawn_local(async move {
                    let answer = request_permission().await;
                    this.permission.try_set(answer);
                    this.wanted.try_set(answer == Permission::Granted);
                });
            }
        }
    }
}

/// The page's `Notification` constructor, where the browser has one.
fn notification_class() -> Option<js_sys::Function> {
    let window = web_sys::window()?;
    js_sys::Reflect::get(&window, &"Notification".into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()
}

fn read_permission() -> Permission {
    let Some(class) = notification_class() else {
        return Permission::Unsupported;
    };
    let value = js_sys::Reflect::get(&class, &"permission".into())
        .ok()
        .and_then(|v| v.as_string());
    Permission::from_browser(Some(value.as_deref().unwrap_or("default")))
}

/// Asks the browser (`Notification.requestPermission`), which prompts the person once.
async fn request_permission() -> Permission {
    let Some(class) = notification_class() else {
        return Permission::Unsupported;
    };
    let promise = js_sys::Reflect::get(&class, &"requestPermission".into())
        .and_then(|f| f.dyn_into::<js_sys::Function>())
        .and_then(|f| f.call0(&class))
        .and_then(|p| p.dyn_into::<js_sys::Promise>());
    if let Ok(promise) = promise {
        // A refusal resolves with "denied"; a rejection (an old browser's callback form) is read below.
        let _ = JsFuture::from(promise).await;
    }
    read_permission()
}

/// Shows a notification. Failures are ignored: some browsers (Chrome on Android) only make them from a
/// service worker, and the title's count still says what arrived.
fn show_notification(title: &str, body: &str) {
    let Some(class) = notification_class() else {
        return;
    };
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"body".into(), &body.into());
    let args = js_sys::Array::of2(&JsValue::from_str(title), &options);
    let _ = js_sys::Reflect::construct(&class, &args);
}

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

/// Read as a field, so a test can stand in for the browser's own visibility.
fn is_hidden() -> bool {
    document()
        .and_then(|d| js_sys::Reflect::get(&d, &"visibilityState".into()).ok())
        .and_then(|v| v.as_string())
        .is_some_and(|s| s == "hidden")
}

fn current_title() -> String {
    document().map(|d| d.title()).unwrap_or_default()
}

fn set_title(title: &str) {
    if let Some(d) = document() {
        d.set_title(title);
    }
}
