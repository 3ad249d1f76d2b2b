//! The loopback page: two peer connections in one page, made into an inspector.
//!
//! The caller sends camera, microphone and a data channel to the callee; every step of the negotiation,
//! ICE and DTLS appears on a timeline with a sentence saying what happened, the SDP can be read in full and
//! the stats are charted every second. All WebRTC work is in `rtc::loopback`; this page renders signals.

use leptos::prelude::*;

use crate::components::{LineChart, SdpView, SelectedPairLine, StateTable, Timeline, VideoView};
use crate::rtc::loopback::{use_loopback, LoopbackOptions, Phase};
use crate::rtc::verification::short_authentication_string;

#[component]
pub fn LoopbackPage() -> impl IntoView {
    let lb = use_loopback();
    let audio = RwSignal::new(true);
    let video = RwSignal::new(true);
    let message = RwSignal::new(String::new());
    let running = move || matches!(lb.phase().get(), Phase::Running | Phase::Starting);

    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = message.get_untracked();
        if !text.is_empty() {
            lb.send_text(&text);
            message.set(String::new());
        }
    };
    let charts = lb.charts();

    view! {
        <article class="loopback-page">
            <h1 data-testid="page-loopback">"Loopback"</h1>
            <p class="lead">
                "Two RTCPeerConnections in this one page: the caller sends your camera, microphone and a "
                "data channel to the callee. Instead of a signaling server, each side's offer, answer and ICE "
                "candidates are handed straight to the other, so you can watch every step of WebRTC happen."
            </p>

            <section class="panel" aria-labelledby="loopback-controls-heading">
                <h2 id="loopback-controls-heading">"Controls"</h2>
                <div class="controls">
                    <label class="check">
                        <input
                            type="checkbox"
                            data-testid="loopback-audio"
                            prop:checked=move || audio.get()
                            on:change=move |ev| audio.set(event_target_checked(&ev))
                        />
                        "Audio"
                    </label>
                    <label class="check">
                        <input
                            type="checkbox"
                            data-testid="loopback-video"
                            prop:checked=move || video.get()
                            on:change=move |ev| video.set(event_target_checked(&ev))
                        />
                        "Video"
                    </label>
                    <span class="hint">"Untick both for a data channel only."</span>
                </div>
                <div class="buttons">
                    <button
                        type="submit"
                        data-testid="loopback-start"
                        on:click=move |_| lb.start(LoopbackOptions { audio: audio.get_untracked(), video: video.get_untracked() })
                    >
                        "Start"
                    </button>
                    <button type="button" data-testid="loopback-hangup" disabled=move || !running() on:click=move |_| lb.hang_up()>
                        "Hang up"
                    </button>
                    <button
                        type="button"
                        data-testid="loopback-restart-ice"
                        disabled=move || !running()
                        on:click=move |_| lb.restart_ice()
                    >
                        "Restart ICE"
                    </button>
                    <span class="status" data-testid="loopback-phase" data-phase=move || lb.phase().get().as_str()>
                        {move || lb.phase().get().as_str()}
                    </span>
                </div>
                {move || {
                    lb.error()
                        .get()
                        .map(|e| {
                            view! {
                                <div class="problem" role="alert" data-testid="loopback-error">
                                    <p>{e}</p>
                                </div>
                            }
                        })
                }}
            </section>

            <section class="panel" aria-labelledby="videos-heading">
                <h2 id="videos-heading">"Media"</h2>
                <div class="video-pair">
                    <figure class="video-box">
                        <VideoView stream=lb.local_stream() label="Caller's camera (local)" test_id="loopback-local-video" />
                        <figcaption>"Caller: what it sends"</figcaption>
                    </figure>
                    <figure class="video-box">
                        <VideoView stream=lb.remote_stream() label="Callee's received video (remote)" test_id="loopback-remote-video" />
                        <figcaption>"Callee: what arrived over the peer connection"</figcaption>
                    </figure>
                </div>
                <div class="state-grid" data-testid="peer-states">
                    {move || {
                        lb.states()
                            .get()
                            .map(|(caller, callee)| {
                                view! {
                                    <StateTable name="Caller".to_owned() test_id="caller-state" states=caller />
                                    <StateTable name="Callee".to_owned() test_id="callee-state" states=callee />
                                }
                            })
                    }}
                </div>
                <SelectedPairLine
                    pair=Signal::derive(move || lb.caller_stats().with(|s| s.as_ref().and_then(|s| s.snapshot.pair.clone())))
                    test_id="selected-pair"
                />
            </section>

            <section class="panel" aria-labelledby="data-heading">
                <h2 id="data-heading">"Data channel"</h2>
                <form class="message-form" on:submit=send>
                    <label for="loopback-message">"Message from caller to callee"</label>
                    <input
                        id="loopback-message"
                        type="text"
                        autocomplete="off"
                        data-testid="loopback-message"
                        prop:value=move || message.get()
                        on:input=move |ev| message.set(event_target_value(&ev))
                    />
                    <button type="submit" data-testid="loopback-send" disabled=move || !lb.channel_open().get()>
                        "Send"
                    </button>
                </form>
                <ul class="received" aria-label="Messages the callee received" aria-live="polite" data-testid="loopback-received">
                    {move || lb.received().get().into_iter().map(|m| view! { <li data-testid="received-message">{m}</li> }).collect_view()}
                </ul>
            </section>

            <section class="panel" aria-labelledby="stats-heading">
                <h2 id="stats-heading">"Live statistics"</h2>
                <p class="hint">"Read from getStats once a second: the callee's receive bitrate and frame rate, the caller's round-trip time."</p>
                <div class="charts">
                    <LineChart title="Bitrate received" unit="kbit/s" series=Signal::derive(move || charts.get().bitrate) test_id="chart-bitrate" />
                    <LineChart title="Round-trip time" unit="ms" series=Signal::derive(move || charts.get().rtt) test_id="chart-rtt" />
                    <LineChart title="Frames per second" unit="fps" series=Signal::derive(move || charts.get().fps) test_id="chart-fps" />
                </div>
                <p class="hint" data-testid="inbound-bytes">
                    {move || {
                        lb.callee_stats()
                            .get()
                            .map(|s| format!(
                                "Callee has received {:.0} kB of video, {:.0} kB in total; {} packets lost.",
                                s.snapshot.video_bytes_received / 1000.0,
                                s.snapshot.bytes_received / 1000.0,
                                s.snapshot.packets_lost,
                            ))
                    }}
                </p>
            </section>

            <section class="panel" aria-labelledby="sdp-heading">
                <h2 id="sdp-heading">"Session descriptions"</h2>
                <SdpView title="Offer (SDP)".to_owned() sdp=lb.offer_sdp() test_id="sdp-offer" empty="No offer yet." />
                <SdpView title="Answer (SDP)".to_owned() sdp=lb.answer_sdp() test_id="sdp-answer" empty="No answer yet." />
                <p class="hint">
                    "Verification code: "
                    <strong data-testid="verification-code">
                        {move || match (lb.offer_sdp().get(), lb.answer_sdp().get()) {
                            (Some(offer), Some(answer)) => short_authentication_string(&offer, &answer)
                                .unwrap_or_else(|err| err.to_string()),
                            _ => "appears once both descriptions are set".to_string(),
                        }}
                    </strong>
                    ". Both sides of a call derive it from the two DTLS fingerprints above; in a call between two "
                    "people, reading it aloud and getting the same digits shows that nobody in between rewrote the SDP."
                </p>
            </section>

            <section class="panel" aria-labelledby="timeline-heading">
                <h2 id="timeline-heading">"Timeline"</h2>
                <Timeline steps=lb.timeline() test_id="timeline" step_test_id="step" two_sides=true live=true />
            </section>
        </article>
    }
}
