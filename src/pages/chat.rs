//! The chat page: join the lobby under a display name, pick someone from the live user list, and talk to
//! them directly — text with delivery receipts and files with progress and a SHA-256 check — over one
//! WebRTC connection per pair of users. The relay only introduces the two browsers.
//!
//! The page renders [`Chats`](crate::chat::Chats) from [`use_chat`] and forwards what the person does; it
//! never touches a peer connection or data channel itself. Message text is always rendered as text.

use leptos::prelude::*;
use peerlab_protocol::PeerId;
use wasm_bindgen::JsCast;
use web_sys::{FileList, HtmlInputElement};

use crate::chat::meter::{format_bytes, format_rate};
use crate::chat::{
    use_chat, use_tab_attention, ChatSession, Direction, Item, MessageStatus, TransferState,
};
use crate::components::{ActivityLog, ConnectionProblemNote, Inspector, NotifyToggle, RenameForm};
use crate::rtc::states::{connection_token, connection_words};
use crate::signaling::{use_relay_room, ConnectionState};
use crate::storage;

/// The room every chat user joins.
pub const LOBBY: &str = "lobby";

#[component]
pub fn ChatPage() -> impl IntoView {
    let relay = use_relay_room(LOBBY.to_owned(), None);
    let chat = use_chat(relay);
    let roster = relay.roster();
    let chats = chat.chats();
    let alerts = use_tab_attention(chats);
    let name = RwSignal::new(storage::load_name().unwrap_or_default());
    let in_room = move || {
        roster.with(|r| {
            matches!(
                r.state,
                ConnectionState::Joined
                    | ConnectionState::Connecting
                    | ConnectionState::Joining
                    | ConnectionState::Reconnecting { .. }
            )
        })
    };
    let on_join = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        relay.join(&name.get_untracked());
    };
    let active = Memo::new(move |_| chats.with(|c| c.active.clone()));

    view! {
        <article class="chat-page">
            <h1 data-testid="page-chat">"Chat"</h1>
            <p class="lead">
                "Talk to someone in the lobby directly, browser to browser. Text and files go over a WebRTC "
                "data channel; the relay only introduces you."
            </p>
            <Show when=move || !in_room()>
                <form class="name-form" on:submit=on_join>
                    <label for="chat-name">"Display name"</label>
                    <input
                        id="chat-name"
                        type="text"
                        autocomplete="nickname"
                        maxlength="64"
                        data-testid="chat-name"
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                    <button type="submit" data-testid="chat-join">"Join the lobby"</button>
                </form>
            </Show>
            {move || {
                roster
                    .with(|r| r.problem.clone())
                    .map(|problem| {
                        view! {
                            <div class="problem" role="alert" data-testid="relay-error">
                                <strong>{problem.headline}</strong>
                                <p>{problem.detail}</p>
                            </div>
                        }
                    })
            }}
            <Show when=move || roster.with(|r| r.self_id.is_some())>
                <p class="chat-self">
                    "You are " <strong>{move || roster.with(|r| r.self_name.clone().unwrap_or_default())}</strong>
                    " · your peer id " <code data-testid="chat-self-id">
                        {move || roster.with(|r| r.self_id.as_ref().map(ToString::to_string).unwrap_or_default())}
                    </code> " · relay: " {move || roster.with(|r| r.state.label())}
                </p>
                <RenameForm relay=relay />
                <NotifyToggle alerts=alerts />
            </Show>
            // Joins, leaves and renames, for screen readers only: the list shows them already.
            <div class="visually-hidden">
                <ActivityLog roster=roster />
            </div>
            <div class="chat-layout">
                <aside class="chat-sidebar" aria-labelledby="chat-users-title">
                    <h2 id="chat-users-title">"In the lobby"</h2>
                    <ul class="chat-users" data-testid="chat-users">
                        <For
                            each=move || roster.with(|r| r.members.clone())
                            key=|m| (m.id.clone(), m.name.clone())
                            let:member
                        >
                            <li>
                                <UserButton chat=chat peer=member.id name=member.name />
                            </li>
                        </For>
                    </ul>
                    <p class="empty-hint" hidden=move || roster.with(|r| !r.members.is_empty())>
                        {move || {
                            if in_room() {
                                "Nobody else is here yet. Open this page in another tab or browser."
                            } else {
                                "Join the lobby to see who is here."
                            }
                        }}
                    </p>
                </aside>
                <div class="chat-main">
                    {move || match active.get() {
                        Some(peer) => view! { <ConversationView chat=chat peer=peer /> }.into_any(),
                        None => {
                            view! {
                                <p class="chat-placeholder">
                                    "Pick someone from the list to start a conversation."
                                </p>
                            }
                                .into_any()
                        }
                    }}
                </div>
            </div>
            <Inspector log=relay.log() feed=chat.inspector() />
        </article>
    }
}

#[component]
fn UserButton(chat: ChatSession, peer: PeerId, name: String) -> impl IntoView {
    let chats = chat.chats();
    let id = peer.clone();
    let facts = Memo::new(move |_| {
        chats.with(|c| {
            let conv = c.get(&id);
            (
                conv.and_then(|c| c.connection),
                conv.map_or(0, |c| c.unread),
                c.active.as_ref() == Some(&id),
                conv.and_then(|c| c.path.as_ref()).map(|p| p.path.token()),
            )
        })
    });
    let connection = move || facts.with(|f| connection_token(f.0));
    let unread = move || facts.with(|f| f.1);
    let on_click = {
        let peer = peer.clone();
        move |_| chat.open(&peer)
    };
    let label = name.clone();
    view! {
        <button
            type="button"
            class="chat-user"
            data-testid="chat-user"
            data-peer-id=peer.to_string()
            data-name=name.clone()
            data-connection=connection
            data-path=move || facts.with(|f| f.3)
            aria-pressed=move || if facts.with(|f| f.2) { "true" } else { "false" }
            on:click=on_click
        >
            <span class="conn-dot" data-state=connection aria-hidden="true"></span>
            <span class="chat-user-name">{label}</span>
            <Show when=move || unread() != 0>
                <span class="unread" data-testid="chat-unread" aria-label=move || format!("{} unread", unread())>
                    {unread}
                </span>
            </Show>
        </button>
    }
}

/// The files of a file list, in order.
fn files_of(list: Option<FileList>) -> Vec<web_sys::File> {
    let Some(list) = list else { return Vec::new() };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

#[component]
fn ConversationView(chat: ChatSession, peer: PeerId) -> impl IntoView {
    let chats = chat.chats();
    let id = peer.clone();
    let header = Memo::new(move |_| {
        chats.with(|c| {
            c.get(&id)
                .map(|conv| {
                    (
                        conv.name.clone(),
                        conv.connection,
                        conv.verification.clone(),
                        conv.gone.clone(),
                    )
                })
                .unwrap_or_default()
        })
    });
    let id = peer.clone();
    let path = Memo::new(move |_| chats.with(|c| c.get(&id).and_then(|conv| conv.path.clone())));
    let id = peer.clone();
    let problem = Memo::new(move |_| chats.with(|c| c.get(&id).and_then(|conv| conv.problem)));
    let id = peer.clone();
    let count = Memo::new(move |_| chats.with(|c| c.get(&id).map_or(0, |conv| conv.items.len())));
    let draft = RwSignal::new(String::new());
    let send = {
        let peer = peer.clone();
        move || {
            let text = draft.get_untracked();
            if !text.trim().is_empty() {
                chat.send_text(&peer, &text);
                draft.set(String::new());
            }
        }
    };
    let on_submit = {
        let send = send.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            send();
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            send();
        }
    };
    let on_file = {
        let peer = peer.clone();
        move |ev: leptos::ev::Event| {
            let Some(input) = ev
                .target()
                .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
            else {
                return;
            };
            for file in files_of(input.files()) {
                chat.send_file(&peer, file);
            }
            // Picking the same file again must fire `change` again.
            input.set_value("");
        }
    };
    let dragging = RwSignal::new(false);
    let on_drop = {
        let peer = peer.clone();
        move |ev: leptos::ev::DragEvent| {
            ev.prevent_default();
            dragging.set(false);
            for file in files_of(ev.data_transfer().and_then(|d| d.files())) {
                chat.send_file(&peer, file);
            }
        }
    };
    let list_peer = peer.clone();
    view! {
        <section
            class="conversation"
            class:dragging=move || dragging.get()
            data-testid="chat-conversation"
            data-peer-id=peer.to_string()
            aria-label=move || format!("Conversation with {}", header.with(|h| h.0.clone()))
            on:dragover=move |ev: leptos::ev::DragEvent| {
                ev.prevent_default();
                dragging.set(true);
            }
            on:dragleave=move |_| dragging.set(false)
            on:drop=on_drop
        >
            <header class="conversation-head">
                <h2>{move || header.with(|h| h.0.clone())}</h2>
                <span class="conn-state" role="status" data-state=move || header.with(|h| connection_token(h.1))>
                    <span class="conn-dot" data-state=move || header.with(|h| connection_token(h.1)) aria-hidden="true"></span>
                    {move || header.with(|h| connection_words(h.1))}
                </span>
                <Show when=move || header.with(|h| h.2.is_some())>
                    <span class="verification" title="Read it to each other: the same digits on both sides mean nobody in between rewrote the connection.">
                        "Verification code "
                        <strong data-testid="chat-verification">
                            {move || header.with(|h| h.2.clone().unwrap_or_default())}
                        </strong>
                    </span>
                </Show>
            </header>
            {move || {
                path.get()
                    .map(|reading| {
                        view! {
                            <p class="conn-path" data-testid="chat-path" data-path=reading.path.token()>
                                "Path: "
                                <strong>{reading.path.words()}</strong>
                                " · "
                                <span class="conn-pair" data-testid="chat-pair">{reading.pair}</span>
                            </p>
                        }
                    })
            }}
            <ConnectionProblemNote problem=problem />
            <Show when=move || header.with(|h| h.3.is_some())>
                <p class="problem" role="status">{move || header.with(|h| h.3.clone().unwrap_or_default())}</p>
            </Show>
            // New messages, offers and notices are read out; a transfer's moving figures are not (its
            // state words are a status of their own).
            <ol class="messages" aria-live="polite" aria-relevant="additions">
                <For each=move || 0..count.get() key=|i| *i let:index>
                    <ItemView chat=chat peer=list_peer.clone() index=index />
                </For>
            </ol>
            <form class="composer" on:submit=on_submit>
                <label for="chat-input" class="visually-hidden">"Message"</label>
                <textarea
                    id="chat-input"
                    data-testid="chat-input"
                    rows="2"
                    placeholder="Write a message — Enter sends, Shift+Enter starts a new line"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                    on:keydown=on_keydown
                ></textarea>
                <button type="submit" data-testid="chat-send">"Send"</button>
                <label class="file-pick">
                    <span>"Send a file"</span>
                    <input type="file" data-testid="chat-file-input" multiple=true on:change=on_file />
                </label>
            </form>
            <p class="hint">"You can also drop files on the conversation."</p>
        </section>
    }
}

/// One line of a conversation; items are only ever appended, so an index names one item for good.
#[component]
fn ItemView(chat: ChatSession, peer: PeerId, index: usize) -> impl IntoView {
    let chats = chat.chats();
    let id = peer.clone();
    let item = Memo::new(move |_| {
        chats.with(|c| c.get(&id).and_then(|conv| conv.items.get(index).cloned()))
    });
    // The kind of an item never changes; render the right view once.
    match item.get_untracked() {
        Some(Item::Message(m)) => {
            let status = move || {
                item.with(|i| match i {
                    Some(Item::Message(m)) => m.status.clone(),
                    _ => MessageStatus::Queued,
                })
            };
            view! {
                <li
                    class="message"
                    class:out=m.direction == Direction::Out
                    data-testid="chat-message"
                    data-direction=m.direction.token()
                    data-status=move || status().token()
                    data-message-id=m.id.clone()
                >
                    <p class="message-text" data-testid="chat-message-text">{m.text}</p>
                    <span class="message-status">
                        {move || match (m.direction, status()) {
                            (Direction::In, _) => String::new(),
                            (_, MessageStatus::Queued) => "queued — waiting for the connection".into(),
                            (_, MessageStatus::Sent) => "sent".into(),
                            (_, MessageStatus::Delivered) => "delivered ✓".into(),
                            (_, MessageStatus::Failed(why)) => format!("not sent: {why}"),
                        }}
                    </span>
                </li>
            }
                .into_any()
        }
        Some(Item::Transfer(t)) => {
            view! { <TransferView chat=chat peer=peer index=index initial=t /> }.into_any()
        }
        Some(Item::Notice(text)) => {
            view! { <li class="notice" role="status">{text}</li> }.into_any()
        }
        None => ().into_any(),
    }
}

#[component]
fn TransferView(
    chat: ChatSession,
    peer: PeerId,
    index: usize,
    initial: crate::chat::Transfer,
) -> impl IntoView {
    let chats = chat.chats();
    let id = peer.clone();
    let t = Memo::new(move |_| {
        chats.with(
            |c| match c.get(&id).and_then(|conv| conv.items.get(index)) {
                Some(Item::Transfer(t)) => Some(t.clone()),
                _ => None,
            },
        )
    });
    let state = Memo::new(move |_| {
        t.with(|t| {
            t.as_ref()
                .map(|t| t.state.clone())
                .unwrap_or(TransferState::Offered)
        })
    });
    let sha = Memo::new(move |_| t.with(|t| t.as_ref().and_then(|t| t.sha256.clone())));
    let url = Memo::new(move |_| t.with(|t| t.as_ref().and_then(|t| t.url.clone())));
    let size = initial.size;
    let max = size.max(1) as f64;
    let value = move || {
        t.with(|t| {
            t.as_ref()
                .map(|t| {
                    if size == 0 {
                        t.fraction()
                    } else {
                        t.bytes as f64
                    }
                })
                .unwrap_or(0.0)
        })
    };
    let rate = move || t.with(|t| format_rate(t.as_ref().and_then(|t| t.rate)));
    let done_bytes = move || t.with(|t| format_bytes(t.as_ref().map_or(0, |t| t.bytes)));
    let direction = initial.direction;
    let transfer_id = initial.id.clone();
    let (accept, decline, cancel) = {
        let (p1, p2, p3) = (peer.clone(), peer.clone(), peer.clone());
        let (i1, i2, i3) = (
            transfer_id.clone(),
            transfer_id.clone(),
            transfer_id.clone(),
        );
        (
            move |_| chat.answer(&p1, &i1, true),
            move |_| chat.answer(&p2, &i2, false),
            move |_| chat.cancel(&p3, &i3),
        )
    };
    let file_name = initial.name.clone();
    view! {
        <li
            class="transfer"
            class:out=direction == Direction::Out
            data-testid="chat-transfer"
            data-transfer-id=transfer_id.clone()
            data-direction=direction.token()
            data-state=move || state.with(|s| s.token())
        >
            <div class="transfer-head">
                <span class="transfer-icon" aria-hidden="true">"⇅"</span>
                <strong class="transfer-name" data-testid="transfer-name">{initial.name.clone()}</strong>
                <span class="transfer-size" data-testid="transfer-size">{format_bytes(size)}</span>
                <span class="transfer-mime">{if initial.mime.is_empty() { "unknown type".to_owned() } else { initial.mime.clone() }}</span>
            </div>
            <div class="transfer-progress">
                <progress data-testid="transfer-progress" max=max value=value></progress>
                <span class="transfer-numbers">
                    {done_bytes} " · " <span data-testid="transfer-rate">{rate}</span>
                </span>
                <span class="transfer-state" role="status">{move || state.with(|s| s.words(direction))}</span>
            </div>
            <Show when=move || sha.with(Option::is_some)>
                <p class="transfer-hash">
                    "SHA-256 "
                    <code data-testid="transfer-sha256" data-sha256=move || sha.get().unwrap_or_default()>
                        {move || sha.get().unwrap_or_default()}
                    </code>
                </p>
            </Show>
            <div class="transfer-actions">
                <Show when=move || direction == Direction::In && state.with(|s| *s == TransferState::Offered)>
                    <button type="button" class="primary" data-testid="transfer-accept" on:click=accept.clone()>"Accept"</button>
                    <button type="button" data-testid="transfer-decline" on:click=decline.clone()>"Decline"</button>
                </Show>
                <Show when=move || state.with(|s| s.is_active() && !(direction == Direction::In && *s == TransferState::Offered))>
                    <button type="button" data-testid="transfer-cancel" on:click=cancel.clone()>"Cancel"</button>
                </Show>
                <Show when=move || url.with(Option::is_some)>
                    <a
                        class="download"
                        data-testid="transfer-download"
                        download=file_name.clone()
                        href=move || url.get().unwrap_or_default()
                    >
                        "Download"
                    </a>
                </Show>
            </div>
            <Show when=move || state.with(|s| s.error_text().is_some() && *s != TransferState::Declined)>
                <p class="transfer-error" data-testid="transfer-error" role="alert">
                    {move || state.with(|s| s.error_text().unwrap_or_default())}
                </p>
            </Show>
        </li>
    }
}
