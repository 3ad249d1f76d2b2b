//! The room page at `/room/:name`: the room's member list now, a mesh video call later.
//!
//! A room link may carry a join token (`/room/team?token=...`, printed by `peerlab-server token`) for a relay
//! that protects its rooms; the page passes it on with the join.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};
use peerlab_protocol::validate_room;

use crate::components::RoomPanel;

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

    view! {
        <article>
            <h1 data-testid="page-room">"Room " <code>{move || raw.get()}</code></h1>
            <p class="not-built">
                "This page will be a video call with everyone in the room, each connected directly to "
                "every other. The call itself is not built yet; for now the page joins the room on the "
                "relay and shows who is in it."
            </p>
            {move || match validate_room(&raw.get()) {
                Ok(room) => view! { <RoomPanel room=room token=token.get() /> }.into_any(),
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
