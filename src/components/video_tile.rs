//! One participant's tile in the room's grid: the video, the name, mute indicators, a speaking
//! indicator from the audio level, and for another member the connection's quality, its network path,
//! the call verification code, and why the connection failed when it did.
//!
//! It renders what the call ([`CallHandle`]) holds; it owns no connection. The only browser objects it
//! makes are its `<video>` element's binding and, for this client, its level meter (a branch of the
//! page's audio graph), released when the tile goes. Another member's level is read by the call, for
//! every tile at once (`CallHandle::remote_level`).

use leptos::html::Video;
use leptos::prelude::*;
use peerlab_protocol::PeerId;

use crate::components::ConnectionProblemNote;
use crate::room::participants::Tile;
use crate::room::CallHandle;
use crate::rtc::media::{bind_video_stream, use_audio_level};
use crate::rtc::states::PeerConnectionState;

/// The audio level above which a tile shows its speaker as speaking.
const SPEAKING_LEVEL: f64 = 0.05;
/// Scales the browser's audio level (RMS relative to a full-scale sine) to `use_audio_level`'s scale
/// (RMS relative to full scale, times four), so one threshold serves both: 4 / √2.
const REMOTE_LEVEL_SCALE: f64 = 2.828;

#[component]
pub fn VideoTile(call: CallHandle, id: PeerId, is_self: bool) -> impl IntoView {
    let video = NodeRef::<Video>::new();
    let stream = {
        let id = id.clone();
        Signal::derive_local(move || call.stream_of(&id, is_self))
    };
    bind_video_stream(video, stream);
    // Another member's level comes from the connection's receivers, which the browser measures anyway;
    // a Web Audio graph per remote stream would cost an audio source each on a page with up to seven.
    let level = if is_self {
        // The meter waits for the call to come together: it starts an audio context (a rendering
        // thread that wakes a hundred times a second) and a timer on the main thread, on a page whose
        // cores the connections being set up need.
        use_audio_level(Signal::derive_local(move || {
            if call.forming() {
                None
            } else {
                stream.get()
            }
        }))
    } else {
        let id = id.clone();
        Signal::derive(move || (call.remote_level(&id) * REMOTE_LEVEL_SCALE).min(1.0))
    };
    let participants = call.participants();
    // While the call comes together the lights stay off: each change is a rendering pass, and the
    // pages wait for a core for every one while connections are set up (docs/BENCHMARKS.md, mesh
    // set-up). Remote levels are not read then anyway; this keeps this client's light still too.
    let speaking = Memo::new(move |_| !call.forming() && level.get() > SPEAKING_LEVEL);
    let tile = {
        let id = id.clone();
        Memo::new(move |_| participants.with(|p| p.tile(&id, is_self)))
    };
    let remote = {
        let id = id.clone();
        Memo::new(move |_| participants.with(|p| p.remote(&id).cloned()))
    };
    let name = move || tile.with(|t| t.as_ref().map(|t| t.name.clone()).unwrap_or_default());
    let media = move || tile.with(|t| t.as_ref().map(|t| t.media).unwrap_or_default());
    let connection = move || tile.with(|t| t.as_ref().map_or("", Tile::connection_token));
    let connection_words = move || {
        tile.with(|t| {
            t.as_ref()
                .and_then(|t| t.connection)
                .map_or("", PeerConnectionState::words)
        })
    };
    let quality = move || remote.with(|r| r.as_ref().and_then(|r| r.quality.clone()));
    let verification = move || remote.with(|r| r.as_ref().and_then(|r| r.verification.clone()));
    let path = move || remote.with(|r| r.as_ref().and_then(|r| r.path.clone()));
    let problem = Signal::derive(move || remote.with(|r| r.as_ref().and_then(|r| r.problem)));
    let label = if is_self {
        "Your video"
    } else {
        "Participant video"
    };

    view! {
        <figure
            class="tile"
            class:speaking=move || speaking.get()
            data-testid="tile"
            data-peer-id=id.to_string()
            data-name=name
            data-self=if is_self { "true" } else { "false" }
            data-connection=connection
        >
            <video
                node_ref=video
                class="tile-video"
                class:mirrored=move || is_self && !media().sharing
                aria-label=label
                data-testid="tile-video"
                autoplay=true
                playsinline=true
                prop:muted=is_self
            ></video>
            <figcaption class="tile-caption">
                <span
                    class="tile-speaking"
                    data-testid="tile-speaking"
                    data-speaking=move || if speaking.get() { "true" } else { "false" }
                    aria-label=move || if speaking.get() { "speaking" } else { "not speaking" }
                >
                    "●"
                </span>
                <span class="tile-name" data-testid="tile-name">
                    {name}
                    {if is_self { " (you)" } else { "" }}
                </span>
                <Show when=move || media().mic_muted>
                    <span class="tile-flag" data-testid="tile-mic-muted" title="Microphone muted">
                        "mic off"
                    </span>
                </Show>
                <Show when=move || media().camera_off>
                    <span class="tile-flag" data-testid="tile-camera-off" title="Camera off">
                        "camera off"
                    </span>
                </Show>
                <Show when=move || media().sharing>
                    <span class="tile-flag" data-testid="tile-sharing">"sharing screen"</span>
                </Show>
                <Show when=move || !is_self>
                    <span
                        class="tile-quality"
                        data-testid="tile-quality"
                        data-grade=move || quality().map(|q| q.1).unwrap_or("unknown")
                    >
                        {move || quality().map_or_else(|| connection_words().to_owned(), |q| q.0)}
                    </span>
                    <span
                        class="tile-verification"
                        data-testid="tile-verification"
                        title="Call verification code: compare it with this person aloud"
                    >
                        {move || verification().unwrap_or_else(|| "······".into())}
                    </span>
                    {move || {
                        path()
                            .map(|reading| {
                                let pair = reading.pair.clone();
                                view! {
                                    <span
                                        class="tile-path"
                                        data-testid="tile-path"
                                        data-path=reading.path.token()
                                        title=pair
                                    >
                                        {reading.path.words()}
                                        <span class="tile-pair" data-testid="tile-pair">{reading.pair}</span>
                                    </span>
                                }
                            })
                    }}
                </Show>
            </figcaption>
            <Show when=move || !is_self>
                <ConnectionProblemNote problem=problem />
            </Show>
        </figure>
    }
}
