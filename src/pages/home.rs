//! The home page: what each page of peerlab shows, a form that opens a named room, one sentence on
//! whether calls to other networks can work with this relay's STUN/TURN settings, and the way to the
//! network check and the guide.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use peerlab_protocol::validate_room;

use crate::config::load_ice_summary;
use crate::context::AppConfig;
use crate::rtc::diagnosis::{Reach, TURN_HELP_HREF};

#[component]
pub fn HomePage() -> impl IntoView {
    let navigate = use_navigate();
    let room = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let config = use_context::<AppConfig>();
    let ice = LocalResource::new(move || async move {
        let config = match config {
            Some(AppConfig(resource)) => resource.await.ok()?,
            None => Default::default(),
        };
        load_ice_summary(&config).await
    });
    let reach = move || {
        ice.get().flatten().map(|servers| {
            let reach = Reach::of(servers);
            view! {
                <p class="home-reach" data-testid="home-reach" data-reach=reach.token()>
                    {Reach::sentence(servers)}
                    {(reach != Reach::Turn)
                        .then(|| {
                            view! {
                                " "
                                <a href=TURN_HELP_HREF target="_blank" rel="noopener">
                                    "README: TURN server"
                                </a>
                            }
                        })}
                </p>
            }
        })
    };

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match validate_room(&room.get_untracked()) {
            Ok(name) => {
                error.set(None);
                let encoded = String::from(js_sys::encode_uri_component(&name));
                navigate(&format!("/room/{encoded}"), Default::default());
            }
            Err(err) => error.set(Some(err.to_string())),
        }
    };

    view! {
        <article class="home">
            <h1 data-testid="page-home">"peerlab"</h1>
            <p class="lead">
                "A small laboratory for WebRTC, written in Rust and running in your browser. "
                "Each page takes one piece of WebRTC and makes it visible."
            </p>
            {reach}
            <ul class="cards">
                <li class="card">
                    <h2><A href="/media">"Media"</A></h2>
                    <p>
                        "MediaStream: ask for your camera and microphone, preview the video and watch the "
                        "audio level, and see which devices and constraints the browser picked."
                    </p>
                </li>
                <li class="card">
                    <h2><A href="/loopback">"Loopback"</A></h2>
                    <p>
                        "Two peer connections inside this one page, talking to each other: follow the SDP "
                        "offer and answer, the ICE candidates and the live statistics without any server."
                    </p>
                </li>
                <li class="card">
                    <h2><A href="/chat">"Chat"</A></h2>
                    <p>
                        "See who else is in the lobby, then send text and files straight to them over "
                        "peer-to-peer data channels; the relay only introduces you."
                    </p>
                </li>
                <li class="card">
                    <h2><A href="/network" attr:data-testid="home-network">"Network check"</A></h2>
                    <p>
                        "Which ways out does your network have? Gather ICE candidates with this relay's STUN and "
                        "TURN servers and read what calls to other networks will do."
                    </p>
                </li>
                <li class="card">
                    <h2><A href="/learn" attr:data-testid="home-learn">"Guide"</A></h2>
                    <p>
                        "WebRTC in eight short chapters, from the camera to NAT traversal, topologies and "
                        "security, each linked to the page that shows it and the code that does it."
                    </p>
                </li>
                <li class="card">
                    <h2>"Room"</h2>
                    <p>
                        "A video call with several people, each connected directly to every other (a mesh). "
                        "Pick a room name below and share the link."
                    </p>
                </li>
            </ul>
            <form class="room-form" on:submit=on_submit novalidate=true>
                <label for="room-name">"Room name"</label>
                <input
                    id="room-name"
                    type="text"
                    placeholder="team-standup"
                    autocomplete="off"
                    data-testid="room-name-input"
                    aria-describedby="room-name-error"
                    aria-invalid=move || if error.with(Option::is_some) { "true" } else { "false" }
                    prop:value=move || room.get()
                    on:input=move |ev| room.set(event_target_value(&ev))
                />
                <button type="submit" data-testid="room-go">"Open room"</button>
                <p id="room-name-error" class="field-error" role="alert" data-testid="room-name-error">
                    {move || error.get()}
                </p>
            </form>
        </article>
    }
}
