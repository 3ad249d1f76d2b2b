//! The loopback page: two peer connections in one page. A placeholder until its issue builds it.

use leptos::prelude::*;

#[component]
pub fn LoopbackPage() -> impl IntoView {
    view! {
        <article>
            <h1 data-testid="page-loopback">"Loopback"</h1>
            <p class="not-built">
                "This page will connect two RTCPeerConnections inside this one page, without any server, "
                "and show each step: the SDP offer and answer, the ICE candidates as they are gathered, "
                "the connection states and live statistics from getStats. It is not built yet."
            </p>
        </article>
    }
}
