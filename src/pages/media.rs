//! The media page: camera and microphone preview, with the constraints and the permission model explained.
//!
//! Everything that touches `getUserMedia` and the devices is in `rtc::media`; this page only holds the
//! user's choices (a [`MediaRequest`]) and renders the hook's signals.

use leptos::html::Video;
use leptos::prelude::*;

use crate::components::{DeviceLossNotice, VideoView};
use crate::rtc::constraints::{MediaRequest, FRAME_RATES, RESOLUTIONS};
use crate::rtc::media::{snapshot_png, use_audio_level, use_media_stream, MediaStatus, TrackKind};

#[component]
pub fn MediaPage() -> impl IntoView {
    let media = use_media_stream();
    let request = RwSignal::new(MediaRequest::default());
    let mirrored = RwSignal::new(true);
    let video_muted = RwSignal::new(false);
    let audio_muted = RwSignal::new(false);
    let snapshot = RwSignal::new(None::<String>);
    let snapshot_error = RwSignal::new(None::<String>);
    let video_ref = NodeRef::<Video>::new();
    let level = use_audio_level(media.stream());
    let live = move || media.status().get() == MediaStatus::Live;

    let start = move |_| {
        video_muted.set(false);
        audio_muted.set(false);
        media.start(request.get_untracked());
    };
    // Before Start the choice is only kept in the request; live, the stream switches too.
    let switch = move |kind: TrackKind, id: String| {
        if live() {
            media.choose_device(request, kind, &id);
        } else {
            request.update(|r| r.choose(kind, &id));
        }
    };
    let take_snapshot = move |_| {
        let Some(video) = video_ref.get_untracked() else {
            return;
        };
        match snapshot_png(&video) {
            Ok(url) => {
                snapshot.set(Some(url));
                snapshot_error.set(None);
            }
            Err(err) => snapshot_error.set(Some(err.to_string())),
        }
    };
    let device_options = move |kind: TrackKind| {
        media
            .devices()
            .get()
            .into_iter()
            .filter(|d| d.kind == kind)
            .enumerate()
            .map(|(i, d)| {
                let label = if d.label.is_empty() {
                    format!(
                        "{} {} (name hidden until permission)",
                        kind_word(kind),
                        i + 1
                    )
                } else {
                    d.label.clone()
                };
                view! { <option value=d.device_id.clone()>{label}</option> }
            })
            .collect_view()
    };

    view! {
        <article class="media-page">
            <h1 data-testid="page-media">"Media"</h1>
            <p class="lead">
                "getUserMedia asks the browser for a camera and a microphone and returns a MediaStream of "
                "live tracks. The first time, the browser asks you for permission; it remembers your answer "
                "for this site, and it only offers cameras at all on a secure page (https or localhost)."
            </p>

            <section class="panel" aria-labelledby="media-controls-heading">
                <h2 id="media-controls-heading">"What to ask for"</h2>
                <div class="controls">
                    <label class="check">
                        <input
                            type="checkbox"
                            data-testid="want-video"
                            prop:checked=move || request.with(|r| r.video)
                            on:change=move |ev| request.update(|r| r.video = event_target_checked(&ev))
                        />
                        "Camera"
                    </label>
                    <label class="check">
                        <input
                            type="checkbox"
                            data-testid="want-audio"
                            prop:checked=move || request.with(|r| r.audio)
                            on:change=move |ev| request.update(|r| r.audio = event_target_checked(&ev))
                        />
                        "Microphone"
                    </label>
                    <label class="field">
                        <span>"Camera device"</span>
                        <select
                            data-testid="camera-select"
                            on:change=move |ev| switch(TrackKind::Video, event_target_value(&ev))
                        >
                            <option value="">"Default camera"</option>
                            {move || device_options(TrackKind::Video)}
                        </select>
                    </label>
                    <label class="field">
                        <span>"Microphone device"</span>
                        <select
                            data-testid="microphone-select"
                            on:change=move |ev| switch(TrackKind::Audio, event_target_value(&ev))
                        >
                            <option value="">"Default microphone"</option>
                            {move || device_options(TrackKind::Audio)}
                        </select>
                    </label>
                    <label class="field">
                        <span>"Resolution"</span>
                        <select
                            data-testid="resolution-select"
                            on:change=move |ev| {
                                if let Ok(i) = event_target_value(&ev).parse::<usize>() {
                                    if let Some((_, w, h)) = RESOLUTIONS.get(i) {
                                        request.update(|r| {
                                            r.width = *w;
                                            r.height = *h;
                                        });
                                    }
                                }
                            }
                        >
                            {RESOLUTIONS
                                .iter()
                                .enumerate()
                                .map(|(i, (label, w, _))| {
                                    view! {
                                        <option value=i.to_string() selected=*w == 640>
                                            {*label}
                                        </option>
                                    }
                                })
                                .collect_view()}
                        </select>
                    </label>
                    <label class="field">
                        <span>"Frame rate"</span>
                        <select
                            data-testid="frame-rate-select"
                            on:change=move |ev| {
                                if let Ok(fps) = event_target_value(&ev).parse::<u32>() {
                                    request.update(|r| r.frame_rate = fps);
                                }
                            }
                        >
                            {FRAME_RATES
                                .iter()
                                .map(|fps| {
                                    view! {
                                        <option value=fps.to_string() selected=*fps == 30>
                                            {format!("{fps} fps")}
                                        </option>
                                    }
                                })
                                .collect_view()}
                        </select>
                    </label>
                    <label class="check">
                        <input
                            type="checkbox"
                            data-testid="exact-toggle"
                            prop:checked=move || request.with(|r| r.exact)
                            on:change=move |ev| request.update(|r| r.exact = event_target_checked(&ev))
                        />
                        "Exactly (exact instead of ideal)"
                    </label>
                </div>
                <p class="hint">
                    "Resolution and frame rate are sent as " <code>"ideal"</code>
                    " constraints: the browser picks the closest the device can do. Tick “Exactly” to send "
                    <code>"exact"</code> " instead, and the request fails with OverconstrainedError when the "
                    "device cannot do it. Device choices are always exact: that camera or none."
                </p>
                <div class="buttons">
                    <button type="submit" data-testid="media-start" on:click=start>
                        {move || if live() { "Restart camera" } else { "Start camera" }}
                    </button>
                    <button
                        type="button"
                        data-testid="media-stop"
                        disabled=move || !live()
                        on:click=move |_| media.stop()
                    >
                        "Stop"
                    </button>
                </div>
            </section>

            {move || {
                media
                    .error()
                    .get()
                    .map(|err| {
                        view! {
                            <div class="problem" role="alert" data-testid="media-error" data-error=err.code()>
                                <strong>"The camera or microphone could not be used"</strong>
                                <p>{err.to_string()}</p>
                            </div>
                        }
                    })
            }}

            <DeviceLossNotice media=media request=request />

            <section class="panel preview" aria-labelledby="preview-heading">
                <h2 id="preview-heading">
                    "Preview "
                    <span class="status" data-testid="media-status" data-status=move || media.status().get().as_str()>
                        {move || media.status().get().as_str()}
                    </span>
                </h2>
                <div class="preview-grid">
                    <div class="video-box">
                        <VideoView
                            stream=media.stream()
                            label="Camera preview"
                            test_id="media-preview"
                            mirrored=mirrored
                            video_ref=video_ref
                        />
                    </div>
                    <div class="preview-side">
                        <label class="check">
                            <input
                                type="checkbox"
                                data-testid="mirror-toggle"
                                prop:checked=move || mirrored.get()
                                on:change=move |ev| mirrored.set(event_target_checked(&ev))
                            />
                            "Mirror the preview"
                        </label>
                        <button
                            type="button"
                            data-testid="mute-video"
                            aria-pressed=move || video_muted.get().to_string()
                            disabled=move || !live()
                            on:click=move |_| {
                                let muted = !video_muted.get_untracked();
                                video_muted.set(muted);
                                media.set_enabled(TrackKind::Video, !muted);
                            }
                        >
                            {move || if video_muted.get() { "Unmute camera" } else { "Mute camera" }}
                        </button>
                        <button
                            type="button"
                            data-testid="mute-audio"
                            aria-pressed=move || audio_muted.get().to_string()
                            disabled=move || !live()
                            on:click=move |_| {
                                let muted = !audio_muted.get_untracked();
                                audio_muted.set(muted);
                                media.set_enabled(TrackKind::Audio, !muted);
                            }
                        >
                            {move || if audio_muted.get() { "Unmute microphone" } else { "Mute microphone" }}
                        </button>
                        <label class="field" for="mic-level">
                            <span>"Microphone level"</span>
                        </label>
                        <meter
                            id="mic-level"
                            data-testid="mic-level"
                            min="0"
                            max="1"
                            low="0.6"
                            high="0.85"
                            optimum="0.3"
                            prop:value=move || level.get()
                        ></meter>
                        <button
                            type="button"
                            data-testid="snapshot-button"
                            disabled=move || !live()
                            on:click=take_snapshot
                        >
                            "Take snapshot"
                        </button>
                        {move || snapshot_error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
                        {move || {
                            snapshot
                                .get()
                                .map(|url| {
                                    view! {
                                        <figure class="snapshot">
                                            <img src=url.clone() alt="Snapshot of the camera" data-testid="snapshot-image" />
                                            <a href=url download="peerlab-snapshot.png" data-testid="snapshot-link">
                                                "Download snapshot (PNG)"
                                            </a>
                                        </figure>
                                    }
                                })
                        }}
                    </div>
                </div>
                <p class="hint">
                    "Muting sets the track's " <code>"enabled"</code>
                    " to false: the device stays open and a peer would receive black frames or silence. "
                    "Stop (or leaving this page) calls " <code>"stop()"</code>
                    " on every track, which releases the device and turns the camera light off."
                </p>
            </section>

            <section class="panel" aria-labelledby="settings-heading">
                <h2 id="settings-heading">"What the browser actually gave you"</h2>
                <p class="hint">
                    "A track's settings are what the device really delivers, which with ideal constraints may "
                    "differ from what you asked for. Device names stay hidden until you grant permission once."
                </p>
                <div data-testid="track-settings">
                    {move || {
                        let tracks = media.tracks().get();
                        if tracks.is_empty() {
                            return view! { <p class="empty-hint">"No live tracks."</p> }.into_any();
                        }
                        tracks
                            .into_iter()
                            .map(|t| {
                                let size = match (t.width, t.height) {
                                    (Some(w), Some(h)) => format!("{w} × {h}"),
                                    _ => "–".to_owned(),
                                };
                                let fps = t.frame_rate.map(|f| format!("{f:.0} fps")).unwrap_or_else(|| "–".into());
                                view! {
                                    <dl
                                        class="connection-facts"
                                        data-testid=format!("track-{}", t.kind.as_str())
                                        data-ready-state=t.ready_state.as_str()
                                        data-device-id=t.device_id.clone()
                                    >
                                        <dt>"Kind"</dt>
                                        <dd>{t.kind.as_str()} {if t.enabled { "" } else { " (muted)" }}</dd>
                                        <dt>"Device"</dt>
                                        <dd>{t.label.clone()}</dd>
                                        <dt>"State"</dt>
                                        <dd>{t.ready_state.as_str()}</dd>
                                        {(t.kind == TrackKind::Video)
                                            .then(|| {
                                                view! {
                                                    <dt>"Resolution"</dt>
                                                    <dd data-testid="video-resolution">{size}</dd>
                                                    <dt>"Frame rate"</dt>
                                                    <dd>{fps}</dd>
                                                }
                                            })}
                                    </dl>
                                }
                            })
                            .collect_view()
                            .into_any()
                    }}
                </div>
            </section>
        </article>
    }
}

fn kind_word(kind: TrackKind) -> &'static str {
    match kind {
        TrackKind::Video => "Camera",
        TrackKind::Audio => "Microphone",
    }
}
