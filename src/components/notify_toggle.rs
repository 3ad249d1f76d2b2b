//! The chat page's "Notify me when the tab is hidden" button, with what the browser allows in words.

use leptos::prelude::*;

use crate::chat::attention::Permission;
use crate::chat::TabAlerts;

/// A toggle button (pressed while notifications are on) and the setting's state: allowed, off, blocked by
/// the browser, or not supported. The browser's permission prompt comes only from pressing it.
#[component]
pub fn NotifyToggle(alerts: TabAlerts) -> impl IntoView {
    let permission = alerts.permission();
    view! {
        <p class="notify-setting" data-testid="notify-setting" data-permission=move || permission.get().token()>
            <button
                type="button"
                data-testid="notify-toggle"
                aria-pressed=move || alerts.enabled().to_string()
                aria-describedby="notify-state"
                disabled=move || permission.get() == Permission::Unsupported
                on:click=move |_| alerts.toggle()
            >
                "Notify me when the tab is hidden"
            </button>
            " "
            <span id="notify-state" class="hint" role="status" data-testid="notify-state">
                {move || permission.get().words(alerts.wanted())}
            </span>
        </p>
    }
}
