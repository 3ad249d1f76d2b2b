//! The size floor: a Leptos 0.8 CSR app with leptos_router and five routes of trivial views (scripts/bench-size.sh).
use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

#[component]
fn Page(name: &'static str) -> impl IntoView {
    let (count, set_count) = signal(0);
    view! {
        <h1>{name}</h1>
        <button on:click=move |_| set_count.update(|n| *n += 1)>"Clicked " {count}</button>
    }
}

#[component]
fn App() -> impl IntoView {
    view! {
        <Router>
            <nav>
                <A href="/">"Home"</A> <A href="/media">"Media"</A> <A href="/loopback">"Loopback"</A>
                <A href="/chat">"Chat"</A> <A href="/room/x">"Room"</A>
            </nav>
            <main>
                <Routes fallback=|| view! { <p>"Not found"</p> }>
                    <Route path=path!("/") view=|| view! { <Page name="Home"/> }/>
                    <Route path=path!("/media") view=|| view! { <Page name="Media"/> }/>
                    <Route path=path!("/loopback") view=|| view! { <Page name="Loopback"/> }/>
                    <Route path=path!("/chat") view=|| view! { <Page name="Chat"/> }/>
                    <Route path=path!("/room/:name") view=|| view! { <Page name="Room"/> }/>
                </Routes>
            </main>
        </Router>
    }
}

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
