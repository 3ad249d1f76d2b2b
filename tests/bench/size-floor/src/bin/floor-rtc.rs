//! The size floor plus what every page of the app leans on: serde_json (a tagged message decoded and encoded) and an
//! RtcPeerConnection with a data channel and an offer.
use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Msg {
    Hello { name: String, room: Option<String> },
    Signal { to: u64, data: serde_json::Value },
    Bye,
}

#[component]
fn Page(name: &'static str) -> impl IntoView {
    let (count, set_count) = signal(0);
    let (out, set_out) = signal(String::new());
    let decode = move |_| {
        let m: Result<Msg, _> =
            serde_json::from_str(r#"{"type":"hello","name":"ada","room":null}"#);
        set_out.set(format!(
            "{m:?} {}",
            serde_json::to_string(&Msg::Bye).unwrap_or_default()
        ));
    };
    let rtc = move |_| {
        leptos::task::spawn_local(async move {
            // A size floor, never shipped: it only has to pull in the bindings an app needs, so failures
            // throw in the fewest bytes instead of becoming typed errors as the app's rtc layer does.
            let pc = web_sys::RtcPeerConnection::new().unwrap_throw();
            let _dc = pc.create_data_channel("chat");
            let offer = JsFuture::from(pc.create_offer()).await.unwrap_throw();
            let sdp = js_sys::Reflect::get(&offer, &"sdp".into())
                .unwrap_throw()
                .as_string()
                .unwrap_or_default();
            set_out.set(sdp);
            pc.close();
        });
    };
    view! {
        <h1>{name}</h1>
        <button on:click=move |_| set_count.update(|n| *n += 1)>"Clicked " {count}</button>
        <button on:click=decode>"json"</button>
        <button on:click=rtc>"rtc"</button>
        <pre>{out}</pre>
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
