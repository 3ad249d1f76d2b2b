//! The header's small relay indicator: whether the current page holds a relay connection, and in what state.

use leptos::prelude::*;

use super::settled::use_settled;
use crate::signaling::ConnectionState;
use crate::signaling::RelayStatus;

#[component]
pub fn RelayIndicator() -> impl IntoView {
    let status = use_context::<RelayStatus>()
        .map(|RelayStatus(signal)| signal)
        .unwrap_or_else(|| RwSignal::new(ConnectionState::Idle));
    let status = use_settled(status.into(), ConnectionState::is_passing);
    view! {
        <p
            class="relay-status"
            data-testid="relay-status"
            data-state=move || status.with(|s| s.token())
            role="status"
            aria-live="polite"
        >
            <span class="relay-dot" aria-hidden="true"></span>
            "Relay: "
            {move || status.with(|s| s.label())}
        </p>
    }
}
