//! The panel the chat and room pages share: a name form, the connection state, this client's peer id, any
//! relay error, the live member list and recent activity.
//!
//! It renders a [`Roster`](crate::signaling::Roster) and forwards button presses to
//! [`RelayRoom`](crate::signaling::RelayRoom); it holds no protocol logic of its own.

use leptos::prelude::*;

use crate::signaling::{use_relay_room, ConnectionState, Roster};
use crate::storage;

#[component]
pub fn RoomPanel(
    /// The room to join, already validated.
    room: String,
    /// The join token from the room link, for a relay that protects its rooms.
    #[prop(default = None)]
    token: Option<String>,
) -> impl IntoView {
    let relay = use_relay_room(room.clone(), token);
    let roster = relay.roster();
    let name = RwSignal::new(storage::load_name().unwrap_or_default());
    let joined = move || roster.with(|r| r.state == ConnectionState::Joined);
    let busy = move || {
        roster.with(|r| {
            matches!(
                r.state,
                ConnectionState::Connecting
                    | ConnectionState::Joining
                    | ConnectionState::Reconnecting { .. }
            )
        })
    };
    // Leaving is offered while reconnecting too: it stops the retries.
    let in_room = move || {
        roster.with(|r| {
            matches!(
                r.state,
                ConnectionState::Joined | ConnectionState::Reconnecting { .. }
            )
        })
    };

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let typed = name.get_untracked();
        if joined() {
            relay.rename(&typed);
        } else {
            relay.join(&typed);
        }
    };

    view! {
        <section class="room-panel" aria-labelledby="room-panel-title" data-testid="room-panel">
            <h2 id="room-panel-title">"Room " <code>{room}</code></h2>
            <form class="name-form" on:submit=on_submit>
                <label for="display-name">"Your name"</label>
                <input
                    id="display-name"
                    type="text"
                    autocomplete="nickname"
                    maxlength="64"
                    data-testid="name-input"
                    prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev))
                />
                <button type="submit" data-testid="join-button" disabled=busy>
                    {move || if joined() { "Rename" } else { "Join" }}
                </button>
                <Show when=in_room>
                    <button type="button" data-testid="leave-button" on:click=move |_| relay.leave()>
                        "Leave"
                    </button>
                </Show>
            </form>

            <dl class="connection-facts">
                <dt>"Connection"</dt>
                <dd
                    data-testid="connection-state"
                    data-state=move || roster.with(|r| r.state.token())
                >
                    {move || roster.with(|r| r.state.label())}
                </dd>
                <dt>"Your peer id"</dt>
                <dd data-testid="peer-id">
                    <code>
                        {move || {
                            roster
                                .with(|r| {
                                    r.self_id.as_ref().map(ToString::to_string).unwrap_or_else(|| "—".into())
                                })
                        }}
                    </code>
                </dd>
            </dl>

            {move || {
                roster
                    .with(|r| r.problem.clone())
                    .map(|problem| {
                        let code = problem.code.map(|c| c.as_str()).unwrap_or("local");
                        view! {
                            <div class="problem" role="alert" data-testid="relay-error" data-code=code>
                                <strong>{problem.headline}</strong>
                                <p>{problem.detail}</p>
                            </div>
                        }
                    })
            }}

            <h3>"Members"</h3>
            <MemberList roster=roster with_ids=true />
            <p class="empty-hint" hidden=move || roster.with(|r| !r.members.is_empty() || r.self_id.is_none())>
                "Nobody else is here yet. Open this page in another tab or send the link to someone."
            </p>

            <h3>"Activity"</h3>
            <ol class="activity" data-testid="activity-log" aria-live="polite">
                <For
                    each=move || roster.with(|r| r.activity.iter().cloned().enumerate().collect::<Vec<_>>())
                    key=|(i, line)| (*i, line.clone())
                    let:entry
                >
                    <li>{entry.1}</li>
                </For>
            </ol>
        </section>
    }
}

/// The first eight characters of a peer id: enough to tell members apart at a glance.
fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// The members of the room, this client first ("(you)"), then the others in join order; with
/// `with_ids`, each other member's short peer id too.
#[component]
pub fn MemberList(
    roster: RwSignal<Roster>,
    #[prop(default = false)] with_ids: bool,
) -> impl IntoView {
    view! {
        <ul class="member-list" data-testid="member-list">
            {move || {
                roster
                    .with(|r| {
                        r.self_id
                            .as_ref()
                            .map(|id| {
                                let name = r.self_name.clone().unwrap_or_default();
                                view! {
                                    <li class="member self" data-testid="member" data-peer-id=id.to_string()>
                                        {name}
                                        " (you)"
                                    </li>
                                }
                            })
                    })
            }}
            <For
                each=move || roster.with(|r| r.members.clone())
                key=|m| (m.id.clone(), m.name.clone())
                let:member
            >
                <li class="member" data-testid="member" data-peer-id=member.id.to_string()>
                    {member.name}
                    {with_ids.then(|| view! { " " <code class="peer-id">{short_id(member.id.as_str())}</code> })}
                </li>
            </For>
        </ul>
    }
}
