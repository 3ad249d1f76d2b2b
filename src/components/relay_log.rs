//! The relay messages a page sent and received, newest first, read-only: the inspector of chat and room
//! and the guide's chapter on signaling show their log with it. It renders a [`SignalLog`] it is given
//! (from `RelayRoom::log`) and produces none.

use leptos::prelude::*;

use crate::signaling::{Direction, SignalLog};

#[component]
pub fn RelayLog(
    /// The relay messages, from `RelayRoom::log`.
    #[prop(into)]
    log: Signal<SignalLog>,
    /// The `data-testid` of each entry, so each page's tests find their own log's entries.
    #[prop(default = "relay-log-entry")]
    entry_testid: &'static str,
) -> impl IntoView {
    let entries = move || log.with(|l| l.entries().rev().cloned().collect::<Vec<_>>());
    view! {
        <p class="hint" hidden=move || log.with(|l| !l.is_empty())>"Nothing sent or received yet."</p>
        // Focusable: the list scrolls, and a keyboard must be able to scroll it.
        <ol class="inspector-log" aria-live="off" data-testid="relay-log" tabindex="0" aria-label="Relay messages">
            <For each=entries key=|entry| entry.seq let:entry>
                <li
                    class="inspector-entry"
                    data-testid=entry_testid
                    data-direction=entry.direction.token()
                    data-kind=entry.kind.clone()
                >
                    <span class="inspector-arrow" aria-label=match entry.direction {
                        Direction::Sent => "sent",
                        Direction::Received => "received",
                    }>
                        {match entry.direction {
                            Direction::Sent => "→",
                            Direction::Received => "←",
                        }}
                    </span>
                    <code class="inspector-kind">{entry.kind.clone()}</code>
                    <code class="peer-id">
                        {entry.peer.map(|p| p.as_str().chars().take(8).collect::<String>()).unwrap_or_default()}
                    </code>
                    <span class="inspector-summary">{entry.summary}</span>
                </li>
            </For>
        </ol>
    }
}
