//! The room page at `/room/:name`: a video call with everyone in the room, each browser connected
//! directly to every other (a full mesh).
//!
//! Before joining: a camera and microphone preview, the device pickers, a name (remembered) and the room
//! link to share (with its join token, for a relay that protects its rooms). In the call: a grid of tiles
//! that reflows for one to eight people, the controls (microphone, camera, devices, screen, leave), the
//! video bitrate cap, the room conversation and the inspector. The relay panel below both lists the members
//! and lets a member change their name. A room at capacity gets a page of its own.
//!
//! Lobby and call view are both built with the page and shown or hidden (the join switches at once).
//!
//! The page renders what [`use_call`] and `use_media_stream` hold and forwards what the person does; it
//! never touches a peer connection itself.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};
use peerlab_protocol::{validate_room, ErrorCode};
use wasm_bindgen::JsCast;

use crate::components::{
    use_settled, DeviceLossNotice, Inspector, RoomPanel, VideoTile, VideoView,
};
use crate::room::bitrate::{format_cap, UPLINK_BUDGET_BPS};
use crate::room::layout::grid_templates;
use crate::room::participants::capacity_from_refusal;
use crate::room::settings::VideoSettings;
use crate::room::{use_call, CallHandle};
use crate::rtc::constraints::MediaRequest;
use crate::rtc::media::{use_media_stream, MediaHandle, MediaStatus, TrackKind};
use crate::signaling::{use_relay_room, ConnectionState};
use crate::storage;

#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    // The home form percent-encodes the name; a name typed into the address bar may arrive either way.
    // Valid room names contain no '%', so decoding an already decoded name changes nothing.
    let raw = Memo::new(move |_| {
        let param = params.with(|p| p.get("name")).unwrap_or_default();
        js_sys::decode_uri_component(&param)
            .map(String::from)
            .unwrap_or(param)
    });
    // The router hands over the query value already percent-decoded; tokens are URL-safe anyway.
    let token = Memo::new(move |_| query.with(|q| q.get("token")).filter(|t| !t.is_empty()));
    let video = Memo::new(move |_| VideoSettings::parse(query.with(|q| q.get("video")).as_deref()));

    view! {
        <article class="room-page">
            <h1 data-testid="page-room">"Room " <code>{move || raw.get()}</code></h1>
            {move || match validate_room(&raw.get()) {
                Ok(room) => {
                    view! { <RoomCall room=room token=token.get() video=video.get() /> }.into_any()
                }
                Err(err) => {
                    view! {
                        <div class="problem" role="alert" data-testid="room-param-error">
                            <strong>"This is not a valid room name"</strong>
                            <p>{err.to_string()}</p>
                            <p><A href="/">"Choose another room"</A></p>
                        </div>
                    }
                        .into_any()
                }
            }}
        </article>
    }
}

/// The link that brings someone into this room: this origin, the room, and the join token if any.
fn room_link(room: &str, token: Option<&str>) -> String {
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    let mut link = format!("{origin}/room/{}", js_sys::encode_uri_component(room));
    if let Some(token) = token {
        link.push_str(&format!("?token={}", js_sys::encode_uri_component(token)));
    }
    link
}

/// Writes `text` to the clipboard (`navigator.clipboard.writeText`); fails where the browser refuses.
async fn copy_to_clipboard(text: &str) -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    let clipboard = js_sys::Reflect::get(&window.navigator(), &"clipboard".into())
        .ok()
        .filter(|c| !c.is_undefined())
        .ok_or("this browser has no clipboard access")?;
    let promise = js_sys::Reflect::get(&clipboard, &"writeText".into())
        .and_then(|f| f.dyn_into::<js_sys::Function>())
        .and_then(|f| f.call1(&clipboard, &text.into()))
        .and_then(|p| p.dyn_into::<js_sys::Promise>())
        .map_err(|e| crate::error::describe_js(&e))?;
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map(|_| ())
        .map_err(|e| crate::error::describe_js(&e))
}

#[component]
fn RoomCall(room: String, token: Option<String>, video: VideoSettings) -> impl IntoView {
    let relay = use_relay_room(room.clone(), token.clone());
    let media = use_media_stream();
    let call = use_call(relay, media);
    let roster = relay.roster();
    let request = RwSignal::new(MediaRequest {
        width: video.width,
        height: video.height,
        frame_rate: video.frame_rate,
        ..MediaRequest::default()
    });
    media.start(request.get_untracked());
    let name = RwSignal::new(storage::load_name().unwrap_or_default());
    let link = room_link(&room, token.as_deref());
    let copied = RwSignal::new(None::<Result<(), String>>);

    let full = move || {
        roster.with(|r| {
            r.problem
                .as_ref()
                .filter(|p| p.code == Some(ErrorCode::RoomFull))
                .map(|p| capacity_from_refusal(&p.detail).unwrap_or(8))
        })
    };
    // Which of the three views shows. A memo, so the views change only when this does, not on every
    // roster update (rebuilding the call's tiles would make every tile's player anew).
    let view_mode = Memo::new(move |_| {
        if let Some(capacity) = full() {
            RoomView::Full(capacity)
        } else if call.active().get()
            && call.welcomed().get()
            && roster.with(|r| r.state != ConnectionState::Refused)
        {
            RoomView::InCall
        } else {
            RoomView::Lobby
        }
    });
    // Both views are built once, with the page, and only shown or hidden: building the call view at the
    // welcome (its controls, pickers, chat and grid) and taking the lobby down held every page's main
    // thread while its first connections were being set up (docs/BENCHMARKS.md, mesh set-up). The
    // hidden lobby lets go of the camera preview, so no player holds camera frames it does not show.
    let preview = Signal::derive_local(move || {
        if view_mode.get() == RoomView::Lobby {
            media.stream().get()
        } else {
            None
        }
    });
    // Joined but not yet welcomed: the lobby stays (its button says so) until the relay answers; a
    // refusal, a closed connection or a join that never started (a name the relay would refuse) lets the
    // person try again.
    let joining_now = move || {
        call.active().get()
            && !call.welcomed().get()
            && roster.with(|r| {
                !matches!(
                    r.state,
                    ConnectionState::Idle
                        | ConnectionState::Refused
                        | ConnectionState::Closed { .. }
                )
            })
    };
    // What the lobby shows of it: a join that gets its welcome at once goes straight to the call.
    let joining_shown = use_settled(Signal::derive(joining_now), |joining| *joining);
    let joining = move || joining_shown.get();
    let join = move || call.join(&name.get_untracked());
    let on_join = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // The button is disabled once "Joining…" shows; until then a second click changes nothing.
        if !joining_now() {
            join();
        }
    };
    let copy = {
        let link = link.clone();
        move |_| {
            let link = link.clone();
            wasm_bindgen_futures::spawn_local(async move {
                copied.try_set(Some(copy_to_clipboard(&link).await));
            });
        }
    };

    view! {
        <div class="room-call">
            <p class="room-share">
                "Invite others with this link: "
                <code data-testid="room-link">{link.clone()}</code>
                " "
                <button type="button" data-testid="room-copy-link" on:click=copy>
                    "Copy link"
                </button>
                <span class="hint" role="status">
                    {move || match copied.get() {
                        Some(Ok(())) => "Copied.".to_owned(),
                        Some(Err(err)) => format!("Could not copy ({err}); select the link and copy it by hand."),
                        None => String::new(),
                    }}
                </span>
            </p>
            {move || {
                roster
                    .with(|r| r.problem.clone())
                    .filter(|p| p.code != Some(ErrorCode::RoomFull))
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
            {move || {
                call.problem()
                    .get()
                    .map(|problem| {
                        view! {
                            <div class="problem" role="alert" data-testid="room-problem">
                                <p>{problem}</p>
                            </div>
                        }
                    })
            }}
            <DeviceLossNotice media=media request=request />
            {move || match view_mode.get() {
                RoomView::Full(capacity) => Some(view! {
                    <RoomFull capacity=capacity on_retry=Callback::new(move |_| join()) />
                }),
                RoomView::InCall | RoomView::Lobby => None,
            }}
            <section
                class="room-lobby"
                aria-labelledby="room-lobby-title"
                hidden=move || view_mode.get() != RoomView::Lobby
            >
                <h2 id="room-lobby-title">"Ready to join?"</h2>
                <VideoView
                    stream=preview
                    label="Camera preview"
                    test_id="room-preview"
                    mirrored=true
                />
                {move || media.error().get().map(|err| view! {
                    <p class="problem" role="alert" data-testid="media-error">{err.to_string()}</p>
                })}
                <DevicePickers media=media request=request />
                <form class="name-form" on:submit=on_join>
                    <label for="room-name">"Your name"</label>
                    <input
                        id="room-name"
                        type="text"
                        autocomplete="nickname"
                        maxlength="64"
                        data-testid="room-name"
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                    <button
                        type="submit"
                        data-testid="room-join"
                        aria-busy=move || joining().to_string()
                        disabled=move || {
                            joining() || media.status().get() == MediaStatus::Opening
                        }
                    >
                        {move || if joining() { "Joining…" } else { "Join call" }}
                    </button>
                    <Show when=joining>
                        <button
                            type="button"
                            data-testid="room-cancel-join"
                            on:click=move |_| call.leave()
                        >
                            "Cancel"
                        </button>
                        <p class="hint" role="status" data-testid="room-join-status">
                            {move || roster.with(|r| r.state.label())}
                        </p>
                    </Show>
                </form>
            </section>
            <InCall
                call=call
                media=media
                request=request
                shown=Signal::derive(move || view_mode.get() == RoomView::InCall)
            />
            <RoomPanel relay=relay />
            <Inspector log=relay.log() feed=call.inspector() collapsed=true media=true />
        </div>
    }
}

/// What the room page shows below its link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RoomView {
    /// The preview, the device pickers and the name form.
    Lobby,
    /// The grid, the controls and the room chat.
    InCall,
    /// The relay refused the join: the room holds this many people.
    Full(u32),
}

#[component]
fn RoomFull(capacity: u32, on_retry: Callback<()>) -> impl IntoView {
    view! {
        <section class="problem room-full" role="alert" data-testid="room-full">
            <h2>{format!("This room is full ({capacity} people)")}</h2>
            <p>
                "A mesh call connects everyone to everyone, so a room holds at most "
                {capacity}
                " people. Try again when someone leaves, or start another room and share its link."
            </p>
            <p>
                <button type="button" data-testid="room-full-retry" on:click=move |_| on_retry.run(())>
                    "Try again"
                </button>
                " "
                <A href="/">"Choose another room"</A>
            </p>
        </section>
    }
}

#[component]
fn DevicePickers(media: MediaHandle, request: RwSignal<MediaRequest>) -> impl IntoView {
    let options = move |kind: TrackKind| {
        let current = media
            .tracks()
            .get()
            .into_iter()
            .find(|t| t.kind == kind)
            .map(|t| t.device_id);
        media
            .devices()
            .get()
            .into_iter()
            .filter(|d| d.kind == kind)
            .enumerate()
            .map(|(i, d)| {
                let label = if d.label.is_empty() {
                    format!("{} {}", kind.as_str(), i + 1)
                } else {
                    d.label.clone()
                };
                let selected = current.as_deref() == Some(d.device_id.as_str());
                view! { <option value=d.device_id selected=selected>{label}</option> }
            })
            .collect_view()
    };
    let switch = move |kind: TrackKind, id: String| media.choose_device(request, kind, &id);
    view! {
        <div class="room-devices">
            <label class="field">
                <span>"Camera device"</span>
                <select
                    data-testid="room-camera-select"
                    on:change=move |ev| switch(TrackKind::Video, event_target_value(&ev))
                >
                    {move || options(TrackKind::Video)}
                </select>
            </label>
            <label class="field">
                <span>"Microphone device"</span>
                <select
                    data-testid="room-microphone-select"
                    on:change=move |ev| switch(TrackKind::Audio, event_target_value(&ev))
                >
                    {move || options(TrackKind::Audio)}
                </select>
            </label>
        </div>
    }
}

/// The call: grid, controls, pickers, bitrate cap and room chat. Built with the page and shown only in a
/// call (`shown`); its tiles, and so their players, exist only while it shows.
#[component]
fn InCall(
    call: CallHandle,
    media: MediaHandle,
    request: RwSignal<MediaRequest>,
    shown: Signal<bool>,
) -> impl IntoView {
    let participants = call.participants();
    // Only who has a tile: a tile's own state (connection, media, name) changes inside the tile, and
    // the grid's list is diffed only when a tile comes or goes.
    let tiles = Memo::new(move |_| {
        if shown.get() {
            participants.with(|p| p.tile_keys())
        } else {
            Vec::new()
        }
    });
    let templates = move || tiles.with(|t| grid_templates(t.len()));
    let self_media = Memo::new(move |_| participants.with(|p| p.self_media));
    let mic_muted = move || self_media.get().mic_muted;
    let camera_off = move || self_media.get().camera_off;
    let sharing = move || self_media.get().sharing;
    let peer_count = move || participants.with(|p| p.peer_count());
    let draft = RwSignal::new(String::new());
    let chat = call.chat();
    let on_send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        call.send_chat(&draft.get_untracked());
        draft.set(String::new());
    };

    view! {
        <section class="room-in-call" aria-label="Call" hidden=move || !shown.get()>
            <div
                class="room-grid"
                data-testid="room-grid"
                data-count=move || tiles.with(Vec::len)
                style:grid-template-columns=move || templates().0
                style:grid-template-rows=move || templates().1
            >
                <For each=move || tiles.get() key=|key| key.clone() let:((id, is_self))>
                    <VideoTile call=call id=id is_self=is_self />
                </For>
            </div>
            <p class="empty-hint" hidden=move || participants.with(|p| p.peer_count() > 0)>
                "Nobody else is here yet. Send them the link above."
            </p>
            <div class="room-controls" role="toolbar" aria-label="Call controls">
                <button
                    type="button"
                    data-testid="control-mic"
                    aria-pressed=move || if mic_muted() { "true" } else { "false" }
                    on:click=move |_| call.set_mic_muted(!mic_muted())
                >
                    {move || if mic_muted() { "Unmute microphone" } else { "Mute microphone" }}
                </button>
                <button
                    type="button"
                    data-testid="control-camera"
                    aria-pressed=move || if camera_off() { "true" } else { "false" }
                    on:click=move |_| call.set_camera_off(!camera_off())
                >
                    {move || if camera_off() { "Turn camera on" } else { "Turn camera off" }}
                </button>
                <button
                    type="button"
                    data-testid="control-screen"
                    aria-pressed=move || if sharing() { "true" } else { "false" }
                    on:click=move |_| if sharing() { call.stop_sharing() } else { call.share_screen() }
                >
                    {move || if sharing() { "Stop sharing" } else { "Share screen" }}
                </button>
                <button type="button" class="danger" data-testid="control-leave" on:click=move |_| call.leave()>
                    "Leave call"
                </button>
            </div>
            <DevicePickers media=media request=request />
            <p class="room-cap" data-testid="room-bitrate-cap" data-bps=move || call.cap().get().unwrap_or(0)>
                {move || match call.cap().get() {
                    Some(bps) => format!(
                        "Video cap: {} ({} Mbit/s uplink shared by {} peer{})",
                        format_cap(bps),
                        f64::from(UPLINK_BUDGET_BPS) / 1_000_000.0,
                        peer_count(),
                        if peer_count() == 1 { "" } else { "s" },
                    ),
                    None => "Video cap: none yet (nobody to send to)".to_owned(),
                }}
            </p>
            <section class="room-chat" aria-labelledby="room-chat-title">
                <h2 id="room-chat-title">"Room chat"</h2>
                <ol class="room-chat-log" aria-live="polite">
                    <For each=move || chat.with(|c| c.lines.clone()) key=|line| (line.key(), line.delivered) let:line>
                        <li
                            class="room-chat-message"
                            data-testid="room-chat-message"
                            data-mine=if line.from.is_none() { "true" } else { "false" }
                            data-delivered=line.delivered
                        >
                            <strong>{line.name.clone()}</strong>
                            ": "
                            <span class="text">{line.text.clone()}</span>
                        </li>
                    </For>
                </ol>
                <form class="room-chat-form" on:submit=on_send>
                    <label for="room-chat-input" class="visually-hidden">"Message to the room"</label>
                    <input
                        id="room-chat-input"
                        type="text"
                        maxlength="4000"
                        data-testid="room-chat-input"
                        placeholder="Message everyone"
                        prop:value=move || draft.get()
                        on:input=move |ev| draft.set(event_target_value(&ev))
                    />
                    <button type="submit" data-testid="room-chat-send">"Send"</button>
                </form>
            </section>
        </section>
    }
}
