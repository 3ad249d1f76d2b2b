//! The relay panel of a room: the connection state, this client's peer id, a form to change one's name
//! while joined, the live member list and the recent joins, leaves and renames (a polite live region, so
//! a screen reader hears who came and went without the page taking the focus).
//!
//! It renders the [`Roster`](crate::signaling::Roster) of a [`RelayRoom`] the page already holds and
//! forwards the rename to it; it holds no protocol logic of its own and never joins by itself (joining is
//! the page's: a call joins with its media, the chat with its name form).

use leptos::prelude::*;
use peerlab_protocol::validate_name;

use super::settled::use_settled;
use crate::signaling::{ConnectionState, RelayRoom, Roster};

#[component]
pub fn RoomPanel(
    /// The page's connection to its room.
    relay: RelayRoom,
) -> impl IntoView {
    let roster = relay.roster();
    let state = use_settled(
        Signal::derive(move || roster.with(|r| r.state.clone())),
        ConnectionState::is_passing,
    );
    let joined = move || roster.with(|r| r.state == ConnectionState::Joined);
    view! {
        <section class="panel room-panel" data-testid="room-panel" aria-labelledby="room-status-title">
            <h2 id="room-status-title">"Relay"</h2>
            <dl class="connection-facts">
                <dt>"Connection"</dt>
                <dd data-testid="connection-state" data-state=move || state.with(ConnectionState::token)>
                    {move || state.with(ConnectionState::label)}
                </dd>
                <dt>"Your peer id"</dt>
                <dd data-testid="peer-id">
                    <code>
                        {move || roster.with(|r| {
                            r.self_id.as_ref().map(ToString::to_string).unwrap_or_else(|| "—".into())
                        })}
                    </code>
                </dd>
            </dl>
            <Show when=joined>
                <RenameForm relay=relay />
            </Show>
            <h3>"Members"</h3>
            <MemberList roster=roster />
            <h3>"Activity"</h3>
            <ActivityLog roster=roster />
        </section>
    }
}

/// A form that changes this client's display name while it is in a room. The name is checked by the
/// same rules as the join before anything is sent, and a refused name is said next to the field; the
/// others see the new name through the relay's `member_renamed`.
#[component]
pub fn RenameForm(relay: RelayRoom) -> impl IntoView {
    let roster = relay.roster();
    let draft = RwSignal::new(roster.with_untracked(|r| r.self_name.clone().unwrap_or_default()));
    let error = RwSignal::new(None::<String>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match validate_name(&draft.get_untracked()) {
            Ok(name) => {
                error.set(None);
                draft.set(name.clone());
                relay.rename(&name);
            }
            Err(err) => error.set(Some(format!("Not renamed: {err}."))),
        }
    };
    view! {
        <form class="rename-form" data-testid="rename-form" on:submit=on_submit novalidate=true>
            <label for="rename-input">"Change your name"</label>
            <input
                id="rename-input"
                type="text"
                autocomplete="nickname"
                data-testid="rename-input"
                aria-describedby="rename-error"
                aria-invalid=move || if error.with(Option::is_some) { "true" } else { "false" }
                prop:value=move || draft.get()
                on:input=move |ev| draft.set(event_target_value(&ev))
            />
            <button type="submit" data-testid="rename-button">"Rename"</button>
            <p id="rename-error" class="field-error" role="alert" data-testid="rename-error">
                {move || error.get()}
            </p>
        </form>
    }
}

/// The recent joins, leaves and renames of the room, newest last, as a polite live region.
#[component]
pub fn ActivityLog(roster: RwSignal<Roster>) -> impl IntoView {
    view! {
        <ol class="activity" data-testid="activity-log" aria-live="polite" aria-relevant="additions">
            <For
                each=move || roster.with(|r| r.activity.iter().cloned().enumerate().collect::<Vec<_>>())
                key=|(i, line)| (*i, line.clone())
                let:entry
            >
                <li>{entry.1}</li>
            </For>
        </ol>
    }
}

/// The members of the room, this client first ("(you)"), then the others in join order.
#[component]
pub fn MemberList(roster: RwSignal<Roster>) -> impl IntoView {
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
                </li>
            </For>
        </ul>
    }
}
