//! The media page: camera and microphone preview. A placeholder until its issue builds it.

use leptos::prelude::*;

#[component]
pub fn MediaPage() -> impl IntoView {
    view! {
        <article>
            <h1 data-testid="page-media">"Media"</h1>
            <p class="not-built">
                "This page will ask for your camera and microphone with getUserMedia, show the live "
                "preview and an audio level meter, and list the devices and the settings the browser "
                "chose. It is not built yet."
            </p>
        </article>
    }
}
