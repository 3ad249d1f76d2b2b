//! A `<video>` that shows whatever stream a signal holds, re-attached whenever the signal changes and
//! released when the view goes.

use leptos::html::Video;
use leptos::prelude::*;
use web_sys::MediaStream;

use crate::rtc::media::bind_video_stream;

/// A muted, inline, autoplaying video of `stream`. `mirrored` flips it like a mirror (for a self view).
#[component]
pub fn VideoView(
    stream: Signal<Option<MediaStream>, LocalStorage>,
    /// The accessible name, e.g. "Camera preview".
    label: &'static str,
    test_id: &'static str,
    #[prop(into, optional)] mirrored: Signal<bool>,
    /// Lets the page reach the element (for a snapshot).
    #[prop(optional)]
    video_ref: Option<NodeRef<Video>>,
) -> impl IntoView {
    let video = video_ref.unwrap_or_default();
    bind_video_stream(video, stream);
    view! {
        <video
            node_ref=video
            class="video"
            class:mirrored=move || mirrored.get()
            aria-label=label
            data-testid=test_id
            data-live=move || if stream.with(Option::is_some) { "true" } else { "false" }
            autoplay=true
            playsinline=true
            prop:muted=true
        ></video>
    }
}
