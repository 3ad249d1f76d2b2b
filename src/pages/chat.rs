//! The chat page: the lobby's member list now, peer-to-peer text and files later.

use leptos::prelude::*;

use crate::components::RoomPanel;

/// The room every chat user joins.
pub const LOBBY: &str = "lobby";

#[component]
pub fn ChatPage() -> impl IntoView {
    view! {
        <article>
            <h1 data-testid="page-chat">"Chat"</h1>
            <p class="not-built">
                "Join the lobby to see who else is here. Sending text and files directly to another "
                "member over a WebRTC data channel is not built yet; for now the page shows the live "
                "member list the relay keeps."
            </p>
            <RoomPanel room=LOBBY.to_owned() />
        </article>
    }
}
