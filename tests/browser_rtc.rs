//! Browser tests of `src/rtc` in headless Chromium with fake devices (`--use-fake-device-for-media-stream`):
//! the media hook and page, and the loopback's two real peer connections over loopback ICE.
//!
//! Hooks are run inside a fresh reactive `Owner`, so a test can clean that owner up and check what the hook
//! released. Waits are bounded polls, never fixed sleeps; a test fails with what it saw when a wait runs out.

#![cfg(target_arch = "wasm32")]

mod support;

use leptos::prelude::*;
use peerlab::rtc::constraints::MediaRequest;
use peerlab::rtc::loopback::{use_loopback, LoopbackOptions, Phase};
use peerlab::rtc::media::{use_media_stream, TrackKind};
use peerlab::rtc::states::{PeerConnectionState, SignalingState};
use peerlab::rtc::timeline::{Side, StepKind};
use peerlab::rtc::{Description, SdpKind};
use support::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{MediaStream, MediaStreamTrack};

wasm_bindgen_test_configure!(run_in_browser);

fn tracks(stream: &MediaStream) -> Vec<MediaStreamTrack> {
    stream
        .get_tracks()
        .iter()
        .filter_map(|t| t.dyn_into::<MediaStreamTrack>().ok())
        .collect()
}

fn ready_state(track: &MediaStreamTrack) -> String {
    js_sys::Reflect::get(track, &"readyState".into())
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn media_hook_yields_live_tracks_and_stops_them_on_cleanup() -> TestResult {
    let owner = Owner::new();
    let media = owner.with(use_media_stream);
    media.start(MediaRequest::default());
    wait_for("a stream", || {
        media.stream().with_untracked(Option::is_some)
    })
    .await?;
    let stream = media.stream().get_untracked().ok_or("no stream")?;
    let opened = tracks(&stream);
    let kinds: Vec<String> = opened.iter().map(|t| t.kind()).collect();
    assert!(
        kinds.contains(&"audio".to_owned()) && kinds.contains(&"video".to_owned()),
        "{kinds:?}"
    );
    for track in &opened {
        assert_eq!(ready_state(track), "live", "{} track", track.kind());
    }
    let infos = media.tracks().get_untracked();
    let video = infos
        .iter()
        .find(|t| t.kind == TrackKind::Video)
        .ok_or("no video settings")?;
    assert!(
        video.width.unwrap_or(0.0) > 0.0,
        "the settings report a width: {video:?}"
    );

    owner.cleanup();
    for track in &opened {
        assert_eq!(
            ready_state(track),
            "ended",
            "{} track after cleanup",
            track.kind()
        );
    }
    Ok(())
}

#[wasm_bindgen_test]
async fn switching_the_microphone_keeps_the_stream_live() -> TestResult {
    let owner = Owner::new();
    let media = owner.with(use_media_stream);
    media.start(MediaRequest::default());
    wait_for("a stream and devices", || {
        media.stream().with_untracked(Option::is_some)
            && media
                .devices()
                .with_untracked(|d| d.iter().filter(|d| d.kind == TrackKind::Audio).count() >= 2)
    })
    .await?;
    let stream = media.stream().get_untracked().ok_or("no stream")?;
    let old_audio = stream
        .get_audio_tracks()
        .get(0)
        .dyn_into::<MediaStreamTrack>()
        .map_err(js)?;
    let current = media.tracks().get_untracked();
    let current_id = current
        .iter()
        .find(|t| t.kind == TrackKind::Audio)
        .map(|t| t.device_id.clone())
        .unwrap_or_default();
    let devices = media.devices().get_untracked();
    let other = devices
        .iter()
        .find(|d| {
            d.kind == TrackKind::Audio && d.device_id != current_id && d.device_id != "default"
        })
        .ok_or_else(|| format!("no second microphone among {devices:?}"))?;
    assert!(
        !other.label.is_empty(),
        "labels are shown once permission is granted"
    );

    media.switch_device(
        TrackKind::Audio,
        MediaRequest {
            microphone: Some(other.device_id.clone()),
            ..MediaRequest::default()
        },
    );
    let wanted = other.device_id.clone();
    wait_for("the new microphone", || {
        media.tracks().with_untracked(|t| {
            t.iter()
                .any(|t| t.kind == TrackKind::Audio && t.device_id == wanted)
        })
    })
    .await?;
    let same = media.stream().get_untracked().ok_or("stream gone")?;
    assert!(
        js_sys::Object::is(&same, &stream),
        "the same MediaStream object, so a preview keeps playing"
    );
    assert_eq!(
        ready_state(&old_audio),
        "ended",
        "the old microphone was released"
    );
    for track in tracks(&stream) {
        assert_eq!(
            ready_state(&track),
            "live",
            "{} track after switching",
            track.kind()
        );
    }
    assert_eq!(stream.get_audio_tracks().length(), 1);
    assert_eq!(
        stream.get_video_tracks().length(),
        1,
        "the camera was not touched"
    );
    owner.cleanup();
    Ok(())
}

#[wasm_bindgen_test]
async fn an_impossible_constraint_shows_what_to_do() -> TestResult {
    let app = Mounted::at("/media")?;
    app.click("exact-toggle").await?;
    // The last resolution, 8K, is more than the fake camera (or most real ones) can deliver exactly.
    app.choose("resolution-select", "5").await?;
    app.click("media-start").await?;
    let error = app.find("media-error").await?;
    assert_eq!(
        error.get_attribute("data-error").as_deref(),
        Some("overconstrained")
    );
    let text = error.text_content().unwrap_or_default();
    assert!(
        text.contains("choose a smaller value"),
        "error shown: {text:?}"
    );
    assert_eq!(error.get_attribute("role").as_deref(), Some("alert"));
    Ok(())
}

#[wasm_bindgen_test]
async fn leaving_the_media_page_turns_the_camera_off() -> TestResult {
    let app = Mounted::at("/media")?;
    app.click("media-start").await?;
    let preview = app.find("media-preview").await?;
    let mut stream = None;
    wait_for("the preview to show a stream", || {
        stream = js_sys::Reflect::get(&preview, &"srcObject".into())
            .ok()
            .and_then(|s| s.dyn_into::<MediaStream>().ok());
        stream.is_some()
    })
    .await?;
    let shown = tracks(&stream.ok_or("no stream")?);
    assert!(!shown.is_empty());
    let settings = app.find("track-video").await?;
    assert_eq!(
        settings.get_attribute("data-ready-state").as_deref(),
        Some("live")
    );

    app.click("nav-home").await?;
    app.find("page-home").await?;
    wait_for("every track to end", || {
        shown.iter().all(|t| ready_state(t) == "ended")
    })
    .await?;
    Ok(())
}

fn ice_ufrag(sdp: &str) -> Option<String> {
    Description {
        kind: SdpKind::Offer,
        sdp: sdp.to_owned(),
    }
    .ice_ufrag()
    .map(str::to_owned)
}

#[wasm_bindgen_test]
async fn loopback_connects_carries_data_and_video_restarts_ice_and_hangs_up() -> TestResult {
    let owner = Owner::new();
    let lb = owner.with(use_loopback);
    lb.start(LoopbackOptions {
        audio: true,
        video: true,
    });
    let connected = |lb: &peerlab::rtc::loopback::Loopback| {
        lb.states().get_untracked().is_some_and(|(a, b)| {
            a.connection.get_untracked() == PeerConnectionState::Connected
                && b.connection.get_untracked() == PeerConnectionState::Connected
        })
    };
    wait_for("both connections connected", || connected(&lb)).await?;

    // The data channel carries text from the caller to the callee.
    wait_for("the data channel to open", || {
        lb.channel_open().get_untracked()
    })
    .await?;
    lb.send_text("hello over SCTP");
    wait_for("the message to arrive", || {
        lb.received()
            .with_untracked(|r| r.iter().any(|m| m == "hello over SCTP"))
    })
    .await?;

    // Video really flows: the callee's inbound video bytes grow between two stats samples.
    let video_bytes = || {
        lb.callee_stats()
            .with_untracked(|s| s.as_ref().map_or(0.0, |s| s.snapshot.video_bytes_received))
    };
    wait_for("inbound video bytes", || video_bytes() > 0.0).await?;
    let first = video_bytes();
    wait_for("inbound video bytes to grow", || video_bytes() > first).await?;
    assert!(
        lb.remote_stream().with_untracked(Option::is_some),
        "the callee shows a remote stream"
    );

    // The timeline shows candidates with their type, the offer and the answer.
    let timeline = lb.timeline().get_untracked();
    assert!(timeline
        .iter()
        .any(|s| matches!(s.kind, StepKind::LocalCandidate { kind: Some(_), .. })));
    assert!(timeline
        .iter()
        .any(|s| s.kind == StepKind::AnswerCreated && s.side == Some(Side::Callee)));
    let first_offer = lb.offer_sdp().get_untracked().ok_or("no offer")?;

    // Restart ICE: a new offer with new credentials, an answer, ICE connected again, data still flowing.
    lb.restart_ice();
    wait_for("the ICE-restart offer to be answered", || {
        lb.timeline().with_untracked(|t| {
            let restart = t
                .iter()
                .position(|s| s.kind == StepKind::OfferCreated { ice_restart: true });
            restart.is_some_and(|i| {
                t[i..].iter().any(|s| {
                    s.side == Some(Side::Caller)
                        && s.kind == StepKind::RemoteDescriptionSet(SdpKind::Answer)
                })
            })
        })
    })
    .await?;
    let second_offer = lb.offer_sdp().get_untracked().ok_or("no restart offer")?;
    assert_ne!(
        ice_ufrag(&first_offer),
        ice_ufrag(&second_offer),
        "the restart offer has new ICE credentials"
    );
    wait_for("ICE connected again on both sides", || {
        lb.states().get_untracked().is_some_and(|(a, b)| {
            [a.ice.get_untracked(), b.ice.get_untracked()]
                .iter()
                .all(|s| s.is_connected())
                && a.signaling.get_untracked() == SignalingState::Stable
        })
    })
    .await?;
    lb.send_text("after the restart");
    wait_for("a message after the restart", || {
        lb.received()
            .with_untracked(|r| r.iter().any(|m| m == "after the restart"))
    })
    .await?;
    assert!(connected(&lb));

    // Hang up closes both connections.
    let (caller, callee) = lb.states().get_untracked().ok_or("no states")?;
    lb.hang_up();
    assert_eq!(lb.phase().get_untracked(), Phase::HungUp);
    assert_eq!(
        caller.connection.get_untracked(),
        PeerConnectionState::Closed
    );
    assert_eq!(
        callee.connection.get_untracked(),
        PeerConnectionState::Closed
    );
    assert!(
        lb.local_stream().with_untracked(Option::is_none),
        "the camera is released"
    );
    owner.cleanup();
    Ok(())
}

#[wasm_bindgen_test]
async fn loopback_page_with_data_only_connects_and_shows_candidate_steps() -> TestResult {
    let app = Mounted::at("/loopback")?;
    app.click("loopback-audio").await?;
    app.click("loopback-video").await?;
    app.click("loopback-start").await?;
    let state = app.find("callee-state-connection").await?;
    wait_for("the callee to connect", || {
        state.get_attribute("data-state").as_deref() == Some("connected")
    })
    .await?;
    let timeline = app.find("timeline").await?;
    let candidate = timeline
        .query_selector("[data-step=\"candidate\"]")
        .map_err(js)?;
    assert!(candidate.is_some(), "candidate steps are shown");
    let text = timeline.text_content().unwrap_or_default();
    assert!(
        text.contains("typ") || text.contains("host"),
        "candidate types are named: {text}"
    );
    assert!(
        text.contains("createOffer wrote an SDP offer"),
        "steps carry their explanation"
    );
    Ok(())
}

#[wasm_bindgen_test]
async fn fresh_ice_servers_reach_a_live_connection_and_bad_ones_are_refused() -> TestResult {
    use peerlab::rtc::peer::{Peer, PeerConfig};
    use peerlab_protocol::IceServer;

    let (peer, _events) =
        Peer::new(PeerConfig::new("a", "b"), |_| {}).map_err(|e| e.to_string())?;
    assert!(peer.ice_server_urls().is_empty(), "no STUN/TURN by default");
    let turn = IceServer {
        urls: vec!["turn:127.0.0.1:3478?transport=udp".into()],
        username: Some("1767225600:a".into()),
        credential: Some("c2VjcmV0".into()),
    };
    peer.set_ice_servers(std::slice::from_ref(&turn))
        .map_err(|e| e.to_string())?;
    assert_eq!(peer.ice_server_urls(), turn.urls);
    // A TURN entry without credentials is invalid; the browser refuses it and the old settings stay.
    let broken = IceServer {
        urls: vec!["turn:127.0.0.1:3479".into()],
        username: None,
        credential: None,
    };
    let err = peer
        .set_ice_servers(&[broken])
        .expect_err("a TURN server without credentials is refused");
    assert!(err.to_string().contains("could not be applied"), "{err}");
    assert_eq!(peer.ice_server_urls(), turn.urls);
    Ok(())
}

// web-sys gives `MediaStream` and `MediaStreamTrack` an inherent `clone()` that is JavaScript's (a new
// stream or track, a new consumer of the camera), which `.clone()` picks over `Clone`. A sender must carry
// the very track the app handed it, or every replace would leak a camera consumer.
#[wasm_bindgen_test]
async fn replace_track_sends_the_given_track_itself_not_a_copy() -> TestResult {
    use peerlab::rtc::peer::{Peer, PeerConfig};
    use wasm_bindgen_futures::JsFuture;

    let devices = web_sys::window()
        .ok_or("no window")?
        .navigator()
        .media_devices()
        .map_err(|e| format!("{e:?}"))?;
    let open = |json: &str| {
        let constraints: web_sys::MediaStreamConstraints = js_sys::JSON::parse(json)
            .map_err(|e| format!("{e:?}"))?
            .unchecked_into();
        devices
            .get_user_media_with_constraints(&constraints)
            .map_err(|e| format!("{e:?}"))
    };
    let first: MediaStream = JsFuture::from(open(r#"{"video": true}"#)?)
        .await
        .map_err(|e| format!("{e:?}"))?
        .unchecked_into();
    let second: MediaStream = JsFuture::from(open(r#"{"video": {"width": 320}}"#)?)
        .await
        .map_err(|e| format!("{e:?}"))?
        .unchecked_into();
    let (camera, other) = (tracks(&first).remove(0), tracks(&second).remove(0));

    // Keep a reference to the connection the `Peer` makes, to look at its senders.
    js_sys::Function::new_no_args(
        "const Native = RTCPeerConnection; window.__native = Native; window.__made = [];\
         window.RTCPeerConnection = function (...args) {\
           const pc = new Native(...args); window.__made.push(pc); return pc; };\
         window.RTCPeerConnection.prototype = Native.prototype;",
    )
    .call0(&JsValue::NULL)
    .map_err(|e| format!("{e:?}"))?;
    let (peer, _events) =
        Peer::new(PeerConfig::new("a", "b"), |_| {}).map_err(|e| e.to_string())?;
    peer.add_track(&camera, &first).map_err(|e| e.to_string())?;
    peer.replace_track(&other)
        .await
        .map_err(|e| e.to_string())?;

    let made =
        js_sys::Reflect::get(&js_sys::global(), &"__made".into()).map_err(|e| format!("{e:?}"))?;
    let pc = js_sys::Array::from(&made).pop();
    let pc_senders = js_sys::Reflect::get(&pc, &"getSenders".into())
        .and_then(|f| f.dyn_into::<js_sys::Function>())
        .and_then(|f| f.call0(&pc))
        .map_err(|e| format!("{e:?}"))?;
    let sent = js_sys::Array::from(&pc_senders)
        .iter()
        .filter_map(|s| js_sys::Reflect::get(&s, &"track".into()).ok())
        .find(|t| !t.is_null())
        .ok_or("no sender carries a track")?;
    // The same JavaScript object, not a track with the same settings.
    assert!(
        js_sys::Object::is(&sent, &other),
        "the sender carries a copy of the track"
    );
    for track in tracks(&first).into_iter().chain(tracks(&second)) {
        track.stop();
    }
    drop(peer);
    js_sys::Function::new_no_args(
        "window.RTCPeerConnection = window.__native; window.__made = [];",
    )
    .call0(&JsValue::NULL)
    .map_err(|e| format!("{e:?}"))?;
    Ok(())
}
