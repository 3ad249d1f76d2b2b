//! The inspector panel: the relay messages a page sent and received, and every peer connection's states,
//! as they happen. Shared by the chat and room pages.
//!
//! It renders what it is given (the relay handle's [`SignalLog`] and the mesh's [`PeerRow`]s); it produces
//! neither.

use leptos::prelude::*;

use crate::mesh::PeerRow;
use crate::rtc::peer::PeerStates;
use crate::signaling::SignalLog;

use super::RelayLog;

#[component]
pub fn Inspector(
    /// The relay messages, from `RelayRoom::log`.
    log: RwSignal<SignalLog>,
    /// The live peer connections, from the page's mesh.
    #[prop(into)]
    peers: Signal<Vec<PeerRow>>,
    /// Starts closed, and renders nothing of the log and the states until it is opened. The room page
    /// uses this: while a call comes together each relay message and state change would otherwise
    /// update the page, and every update is a rendering pass the page waits for a core to do while the
    /// machine encodes and decodes video (docs/BENCHMARKS.md, mesh set-up).
    #[prop(optional)]
    collapsed: bool,
) -> impl IntoView {
    if !collapsed {
        return view! {
            <section class="panel inspector" data-testid="inspector" aria-labelledby="inspector-title">
                <h2 id="inspector-title">"Inspector"</h2>
                <InspectorBody log=log peers=peers />
            </section>
        }
        .into_any();
    }
    let open = RwSignal::new(false);
    view! {
        <details
            class="panel inspector"
            data-testid="inspector"
            on:toggle=move |ev| {
                let details = event_target::<web_sys::HtmlDetailsElement>(&ev);
                open.set(details.open());
            }
        >
            <summary>
                <h2 id="inspector-title">"Inspector"</h2>
                <span class="hint">" the relay messages and every peer connection's states"</span>
            </summary>
            <Show when=move || open.get()>
                <InspectorBody log=log peers=peers />
            </Show>
        </details>
    }
    .into_any()
}

#[component]
fn InspectorBody(log: RwSignal<SignalLog>, peers: Signal<Vec<PeerRow>>) -> impl IntoView {
    view! {
        <h3>"Peer connections"</h3>
        <p class="hint" hidden=move || peers.with(|p| !p.is_empty())>
            "No peer connections yet. Pick someone to talk to."
        </p>
        <table class="inspector-peers" hidden=move || peers.with(Vec::is_empty)>
            <thead>
                <tr>
                    <th scope="col">"Peer"</th>
                    <th scope="col">"Connection"</th>
                    <th scope="col">"ICE"</th>
                    <th scope="col">"Signaling"</th>
                    <th scope="col">"Gathering"</th>
                </tr>
            </thead>
            <tbody>
                <For each=move || peers.get() key=|row| row.id.clone() let:row>
                    <PeerStateRow row=row />
                </For>
            </tbody>
        </table>
        <h3>"Relay messages " <span class="hint">"(newest first)"</span></h3>
        <RelayLog log=log entry_testid="inspector-entry" />
    }
}

#[component]
fn PeerStateRow(row: PeerRow) -> impl IntoView {
    // Like the loopback's state table: the browser's words, and what they mean as tooltips.
    let PeerStates {
        connection,
        ice,
        signaling,
        gathering,
    } = row.states;
    let (connection, ice, signaling, gathering) = (
        RwSignal::from(connection),
        RwSignal::from(ice),
        RwSignal::from(signaling),
        RwSignal::from(gathering),
    );
    view! {
        <tr
            data-testid="inspector-peer"
            data-peer-id=row.id.to_string()
            data-connection=move || connection.get().as_str()
        >
            <td><code class="peer-id">{row.id.as_str().chars().take(8).collect::<String>()}</code></td>
            <td
                class="state"
                data-state=move || connection.get().as_str()
                title=move || connection.get().words()
            >
                {move || connection.get().as_str()}
            </td>
            <td title=move || ice.get().words()>{move || ice.get().as_str()}</td>
            <td title=move || signaling.get().words()>{move || signaling.get().as_str()}</td>
            <td title=move || gathering.get().words()>{move || gathering.get().as_str()}</td>
        </tr>
    }
}
