//! The site navigation. The router's `<A>` marks the link of the current page with `aria-current="page"`,
//! which both screen readers and the stylesheet use.

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn Nav() -> impl IntoView {
    view! {
        <nav class="site-nav" aria-label="Main">
            <ul>
                <li>
                    <A href="/" exact=true attr:data-testid="nav-home">
                        "Home"
                    </A>
                </li>
                <li>
                    <A href="/media" attr:data-testid="nav-media">
                        "Media"
                    </A>
                </li>
                <li>
                    <A href="/loopback" attr:data-testid="nav-loopback">
                        "Loopback"
                    </A>
                </li>
                <li>
                    <A href="/chat" attr:data-testid="nav-chat">
                        "Chat"
                    </A>
                </li>
                <li>
                    <A href="/network" attr:data-testid="nav-network">
                        "Network check"
                    </A>
                </li>
                <li>
                    <A href="/learn" attr:data-testid="nav-learn">
                        "Guide"
                    </A>
                </li>
            </ul>
        </nav>
    }
}
