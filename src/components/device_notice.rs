//! The notice of a camera or microphone that stopped mid-call, with a button that switches to the device
//! `rtc::devices` offers in its place. The media page and the room page show it the same way.

use leptos::prelude::*;

use crate::rtc::constraints::MediaRequest;
use crate::rtc::devices::{notice, TrackKind};
use crate::rtc::media::MediaHandle;
use crate::rtc::states::MediaTrackState;

/// One notice per kind whose device stopped. The button records the chosen device in `request` (so the
/// pickers and a later restart keep it) and switches the live stream to it; in a call the new track then
/// replaces the old one on every peer (`replaceTrack`, nothing renegotiated).
#[component]
pub fn DeviceLossNotice(media: MediaHandle, request: RwSignal<MediaRequest>) -> impl IntoView {
    // A notice is rendered again only when its words change: each rendering of an alert is announced
    // again by screen readers, and the device list and the tracks change more often than that.
    let notices = Memo::new(move |_| {
        let devices = media.devices().get();
        let tracks = media.tracks().get();
        media
            .losses()
            .get()
            .iter()
            .map(|loss| {
                let other_live = tracks
                    .iter()
                    .any(|t| t.kind == loss.kind.other() && t.ready_state == MediaTrackState::Live);
                notice(loss, &devices, other_live)
            })
            .collect::<Vec<_>>()
    });
    let switch = move |kind: TrackKind, id: String| media.choose_device(request, kind, &id);
    view! {
        {move || {
            notices
                .get()
                .into_iter()
                .map(|n| {
                    let kind = n.kind;
                    view! {
                        <div class="problem device-lost" role="alert" data-testid="device-lost" data-kind=kind.as_str()>
                            <strong>{n.headline}</strong>
                            <p data-testid="device-lost-detail">{n.detail}</p>
                            {n.offer.map(|(device, words)| {
                                let id = device.device_id.clone();
                                view! {
                                    <button
                                        type="button"
                                        data-testid="device-lost-switch"
                                        data-device-id=device.device_id
                                        on:click=move |_| switch(kind, id.clone())
                                    >
                                        {words}
                                    </button>
                                }
                            })}
                        </div>
                    }
                })
                .collect_view()
        }}
    }
}
