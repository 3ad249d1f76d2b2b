//! Camera and microphone: `use_media_stream` (open, list devices, switch devices on a live stream, mute,
//! stop), the microphone level meter, snapshots, and attaching a stream to a `<video>`.
//!
//! The hook owns its `MediaStream`: every track is stopped when the stream is replaced, when `stop` is
//! called and when the component is cleaned up (the camera light goes off as the page is left). Failures
//! become [`MediaError`]s whose message says what to do. This module deliberately builds no views.
//!
//! The hook also owns two kinds of listener, removed with it: an `ended` listener on each of its tracks,
//! which records a device that stopped by itself (unplugged, taken by another app) for the page to say
//! and offer a replacement (`rtc::devices` decides which), and a `devicechange` listener on
//! `navigator.mediaDevices`, which lists the devices again so the pickers follow what is plugged in.

use futures::future::{select, Either};
use gloo_events::EventListener;
use gloo_timers::callback::Interval;
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AnalyserNode, AudioContext, CanvasRenderingContext2d, HtmlCanvasElement, HtmlVideoElement,
    MediaDevices, MediaStream, MediaStreamAudioSourceNode, MediaStreamConstraints,
    MediaStreamTrack,
};

use super::constraints::MediaRequest;
use super::devices::{record_loss, DeviceLoss};
pub use super::devices::{DeviceInfo, TrackKind};
use super::js;
use super::states::MediaTrackState;
use crate::error::{describe_js, MediaError};

/// The longest a `getUserMedia` call may take before it is reported; a permission prompt the user ignores
/// would otherwise leave the page "opening" forever.
const OPEN_TIMEOUT_MS: u32 = 30_000;

/// What a live track really got, which may differ from what was asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackInfo {
    pub kind: TrackKind,
    pub label: String,
    pub device_id: String,
    pub ready_state: MediaTrackState,
    pub enabled: bool,
    pub width: Option<f64>,
    pub height: Option<f64>,
    pub frame_rate: Option<f64>,
}

/// Where the hook is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaStatus {
    Idle,
    Opening,
    Live,
    Stopped,
}

impl MediaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaStatus::Idle => "idle",
            MediaStatus::Opening => "opening",
            MediaStatus::Live => "live",
            MediaStatus::Stopped => "stopped",
        }
    }
}

/// A handle to the component's camera and microphone. `Copy`, so event handlers capture it freely.
#[derive(Clone, Copy)]
pub struct MediaHandle {
    /// The live stream, if any. Local because a browser object cannot cross threads.
    stream: RwSignal<Option<MediaStream>, LocalStorage>,
    /// The last failure, cleared by the next success.
    error: RwSignal<Option<MediaError>>,
    /// Cameras and microphones, refreshed after every open.
    devices: RwSignal<Vec<DeviceInfo>>,
    /// The settings of every track of the stream.
    tracks: RwSignal<Vec<TrackInfo>>,
    status: RwSignal<MediaStatus>,
    /// Counts requests, so a slow `getUserMedia` that finishes after a newer one (or after cleanup) stops
    /// its tracks instead of replacing the newer stream.
    generation: StoredValue<u64>,
    /// The devices whose track ended by themselves, at most one per kind, until replaced or restarted.
    losses: RwSignal<Vec<DeviceLoss>>,
    /// The `ended` listener of each track of the stream (by track id), so a device that stops is noticed.
    watches: StoredValue<Vec<(String, EventListener)>, LocalStorage>,
    /// Counts device listings, so one that finishes after a newer one (a burst of `devicechange`) is
    /// dropped instead of bringing back an older list.
    device_reads: StoredValue<u64>,
    /// The `devicechange` listener, which refreshes `devices` when something is plugged in or out.
    device_change: StoredValue<Option<EventListener>, LocalStorage>,
}

/// Gives the calling component a camera and microphone; every track stops when the component goes.
pub fn use_media_stream() -> MediaHandle {
    let handle = MediaHandle {
        stream: RwSignal::new_local(None),
        error: RwSignal::new(None),
        devices: RwSignal::new(Vec::new()),
        tracks: RwSignal::new(Vec::new()),
        status: RwSignal::new(MediaStatus::Idle),
        generation: StoredValue::new(0),
        losses: RwSignal::new(Vec::new()),
        watches: StoredValue::new_local(Vec::new()),
        device_reads: StoredValue::new(0),
        device_change: StoredValue::new_local(None),
    };
    // List the devices at once, so the pickers are filled before Start (names stay hidden until then).
    spawn_local(async move { handle.refresh_devices().await });
    let listener = on_device_change(move || {
        spawn_local(async move { handle.refresh_devices().await });
    });
    handle.device_change.set_value(listener);
    on_cleanup(move || {
        handle.device_change.try_update_value(Option::take);
        handle.watches.try_update_value(std::mem::take);
        handle.generation.try_update_value(|g| *g += 1);
        if let Some(Some(stream)) = handle.stream.try_update_untracked(Option::take) {
            stop_stream(&stream);
        }
    });
    handle
}

impl MediaHandle {
    pub fn stream(&self) -> Signal<Option<MediaStream>, LocalStorage> {
        self.stream.into()
    }

    pub fn error(&self) -> Signal<Option<MediaError>> {
        self.error.into()
    }

    pub fn devices(&self) -> Signal<Vec<DeviceInfo>> {
        self.devices.into()
    }

    pub fn tracks(&self) -> Signal<Vec<TrackInfo>> {
        self.tracks.into()
    }

    pub fn status(&self) -> Signal<MediaStatus> {
        self.status.into()
    }

    /// The devices whose track ended by itself (unplugged, or taken by another app), at most one per
    /// kind; cleared for a kind when its device is switched, and for all when the media restarts or stops.
    pub fn losses(&self) -> Signal<Vec<DeviceLoss>> {
        self.losses.into()
    }

    /// Opens camera and/or microphone as `request` says, replacing (and stopping) any current stream.
    pub fn start(&self, request: MediaRequest) {
        if !request.video && !request.audio {
            self.error.set(Some(MediaError::NothingRequested));
            return;
        }
        let generation = self.next_generation();
        self.status.set(MediaStatus::Opening);
        let this = *self;
        spawn_local(async move {
            let opened = open_media(&request.constraints()).await;
            if !this.is_current(generation) {
                if let Ok(stream) = opened {
                    stop_stream(&stream);
                }
                return;
            }
            match opened {
                Ok(stream) => {
                    this.replace_stream(Some(stream));
                    this.losses.set(Vec::new());
                    this.error.set(None);
                    this.status.set(MediaStatus::Live);
                }
                Err(err) => {
                    this.replace_stream(None);
                    this.error.set(Some(err));
                    this.status.set(MediaStatus::Idle);
                }
            }
            this.refresh_devices().await;
        });
    }

    /// Stops every track; the camera light goes off.
    pub fn stop(&self) {
        self.next_generation();
        self.replace_stream(None);
        self.losses.set(Vec::new());
        self.status.set(MediaStatus::Stopped);
    }

    /// Switches the camera or microphone of the live stream to the device `request` names, keeping the
    /// same `MediaStream` (so a preview attached to it keeps playing) and the other kind's track.
    /// Makes `id` the device of `kind` in `request` (empty: the browser's default), and switches the live
    /// stream to it, as the pickers and the notice of a lost device do.
    pub fn choose_device(&self, request: RwSignal<MediaRequest>, kind: TrackKind, id: &str) {
        request.update(|r| r.choose(kind, id));
        self.switch_device(kind, request.get_untracked());
    }

    pub fn switch_device(&self, kind: TrackKind, request: MediaRequest) {
        let Some(stream) = self.stream.get_untracked() else {
            return;
        };
        let generation = self.generation.get_value();
        let this = *self;
        spawn_local(async move {
            let constraints = match kind {
                TrackKind::Video => request.video_only(),
                TrackKind::Audio => request.audio_only(),
            };
            match open_media(&constraints).await {
                Ok(fresh) => {
                    if !this.is_current(generation) {
                        stop_stream(&fresh);
                        return;
                    }
                    for old in tracks_of(&stream, kind) {
                        stream.remove_track(&old);
                        old.stop();
                    }
                    for track in tracks_of(&fresh, kind) {
                        stream.add_track(&track);
                    }
                    this.losses.update(|l| l.retain(|loss| loss.kind != kind));
                    this.error.set(None);
                    this.refresh_tracks();
                }
                Err(err) => this.error.set(Some(err)),
            }
        });
    }

    /// Mutes or unmutes one kind by disabling its tracks: a disabled video track sends black frames and a
    /// disabled audio track silence, while the device stays open.
    pub fn set_enabled(&self, kind: TrackKind, enabled: bool) {
        if let Some(stream) = self.stream.get_untracked() {
            for track in tracks_of(&stream, kind) {
                track.set_enabled(enabled);
            }
            self.refresh_tracks();
        }
    }

    /// Lists the cameras and microphones again.
    pub async fn refresh_devices(&self) {
        let Some(read) = self.device_reads.try_update_value(|n| {
            *n += 1;
            *n
        }) else {
            return;
        };
        let listed = list_devices().await;
        if self.device_reads.try_get_value() != Some(read) {
            return;
        }
        match listed {
            Ok(devices) => {
                self.devices.try_set(devices);
            }
            Err(err) => {
                self.error.try_set(Some(err));
            }
        }
    }

    fn replace_stream(&self, stream: Option<MediaStream>) {
        let old = self
            .stream
            .try_update(|current| std::mem::replace(current, stream));
        if let Some(Some(old)) = old {
            stop_stream(&old);
        }
        self.refresh_tracks();
    }

    fn refresh_tracks(&self) {
        let infos = self
            .stream
            .try_with_untracked(|s| s.as_ref().map(track_infos).unwrap_or_default())
            .unwrap_or_default();
        self.tracks.try_set(infos);
        self.watch_tracks();
    }

    /// Keeps one `ended` listener on each track of the stream: listeners of tracks that left it go, new
    /// tracks get one. A track this app stops fires no `ended`, so only a device that stopped by itself
    /// is recorded.
    fn watch_tracks(&self) {
        let tracks: Vec<(TrackKind, MediaStreamTrack)> = self
            .stream
            .try_with_untracked(|s| {
                s.as_ref()
                    .map(|s| {
                        [TrackKind::Video, TrackKind::Audio]
                            .into_iter()
                            .flat_map(|kind| tracks_of(s, kind).into_iter().map(move |t| (kind, t)))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let this = *self;
        self.watches.try_update_value(|watches| {
            watches.retain(|(id, _)| tracks.iter().any(|(_, t)| &t.id() == id));
            for (kind, track) in &tracks {
                if watches.iter().any(|(id, _)| *id == track.id()) {
                    continue;
                }
                let settings: JsValue = track.get_settings().into();
                let loss = DeviceLoss {
                    kind: *kind,
                    device_id: js::string(&settings, "deviceId").unwrap_or_default(),
                    label: track.label(),
                };
                let listener = on_track_ended(track, move || {
                    this.losses.try_update(|l| record_loss(l, loss.clone()));
                    // The ready state shows `ended`; an unplugged device also leaves the list.
                    this.tracks.try_set(
                        this.stream
                            .try_with_untracked(|s| s.as_ref().map(track_infos).unwrap_or_default())
                            .unwrap_or_default(),
                    );
                    spawn_local(async move { this.refresh_devices().await });
                });
                watches.push((track.id(), listener));
            }
        });
    }

    fn next_generation(&self) -> u64 {
        self.generation.update_value(|g| *g += 1);
        self.generation.get_value()
    }

    fn is_current(&self, generation: u64) -> bool {
        self.generation.try_get_value() == Some(generation)
    }
}

fn media_devices() -> Result<MediaDevices, MediaError> {
    let window = web_sys::window().ok_or(MediaError::Unsupported)?;
    if !window.is_secure_context() {
        return Err(MediaError::InsecureContext);
    }
    let devices = js_sys::Reflect::get(&window.navigator(), &"mediaDevices".into())
        .map_err(|err| MediaError::from_js(&err))?;
    if devices.is_undefined() || devices.is_null() {
        return Err(MediaError::Unsupported);
    }
    Ok(devices.unchecked_into())
}

/// Calls `getUserMedia` with constraints given as JSON.
pub async fn open_media(constraints: &serde_json::Value) -> Result<MediaStream, MediaError> {
    let devices = media_devices()?;
    let constraints: MediaStreamConstraints = js::from_json(constraints)
        .map_err(|err| MediaError::InvalidRequest(describe_js(&err)))?
        .unchecked_into();
    let promise = devices
        .get_user_media_with_constraints(&constraints)
        .map_err(|err| MediaError::from_js(&err))?;
    let opened = JsFuture::from(promise);
    let timeout = TimeoutFuture::new(OPEN_TIMEOUT_MS);
    match select(opened, timeout).await {
        Either::Left((Ok(stream), _)) => stream
            .dyn_into::<MediaStream>()
            .map_err(|_| MediaError::InvalidRequest("getUserMedia returned no stream".into())),
        Either::Left((Err(err), _)) => Err(MediaError::from_js(&err)),
        Either::Right(_) => Err(MediaError::Aborted),
    }
}

/// Lists audio and video inputs. Labels are empty until permission has been granted once.
pub async fn list_devices() -> Result<Vec<DeviceInfo>, MediaError> {
    let devices = media_devices()?;
    let promise = devices
        .enumerate_devices()
        .map_err(|err| MediaError::from_js(&err))?;
    let list = JsFuture::from(promise)
        .await
        .map_err(|err| MediaError::from_js(&err))?;
    let mut out = Vec::new();
    for entry in js_sys::Array::from(&list).iter() {
        // Read as fields rather than through `MediaDeviceInfo`'s getters: the same for the browser's own
        // entries, and a test can list a device of its own.
        let kind = match js::string(&entry, "kind").as_deref() {
            Some("videoinput") => TrackKind::Video,
            Some("audioinput") => TrackKind::Audio,
            _ => continue,
        };
        out.push(DeviceInfo {
            kind,
            device_id: js::string(&entry, "deviceId").unwrap_or_default(),
            label: js::string(&entry, "label").unwrap_or_default(),
        });
    }
    Ok(out)
}

/// Stops every track of `stream`.
pub fn stop_stream(stream: &MediaStream) {
    for track in stream.get_tracks().iter() {
        if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
            track.stop();
        }
    }
}

/// The tracks of one kind.
pub fn tracks_of(stream: &MediaStream, kind: TrackKind) -> Vec<MediaStreamTrack> {
    let list = match kind {
        TrackKind::Audio => stream.get_audio_tracks(),
        TrackKind::Video => stream.get_video_tracks(),
    };
    list.iter()
        .filter_map(|t| t.dyn_into::<MediaStreamTrack>().ok())
        .collect()
}

/// What every track of `stream` is really doing.
pub fn track_infos(stream: &MediaStream) -> Vec<TrackInfo> {
    let mut infos = Vec::new();
    for kind in [TrackKind::Video, TrackKind::Audio] {
        for track in tracks_of(stream, kind) {
            let settings: JsValue = track.get_settings().into();
            infos.push(TrackInfo {
                kind,
                label: track.label(),
                device_id: js::string(&settings, "deviceId").unwrap_or_default(),
                // A track whose state cannot be read is of no use: counted as ended.
                ready_state: js::string(&track, "readyState")
                    .as_deref()
                    .and_then(MediaTrackState::parse)
                    .unwrap_or(MediaTrackState::Ended),
                enabled: track.enabled(),
                width: js::number(&settings, "width"),
                height: js::number(&settings, "height"),
                frame_rate: js::number(&settings, "frameRate"),
            });
        }
    }
    infos
}

/// Shows `stream` in `video` (or nothing); muted so the preview never echoes the microphone.
pub fn attach_stream(video: &HtmlVideoElement, stream: Option<&MediaStream>) {
    // Setting the same stream again would reload the element (a visible flicker and a decoder restart).
    let playing: Option<JsValue> = video.src_object().map(Into::into);
    let wanted: Option<JsValue> = stream.map(|s| Clone::clone(s).into());
    if playing == wanted {
        return;
    }
    video.set_src_object(stream);
    if stream.is_some() {
        // `play` only fails when autoplay is refused; the element's own controls then start it.
        if let Ok(promise) = js_sys::Reflect::get(video, &"play".into())
            .and_then(|f| f.dyn_into::<js_sys::Function>())
            .and_then(|play| play.call0(video))
        {
            if let Ok(promise) = promise.dyn_into::<js_sys::Promise>() {
                spawn_local(async move {
                    let _ = JsFuture::from(promise).await;
                });
            }
        }
    }
}

/// Shows `stream` in the `<video>` of `video` for as long as the calling component lives, re-attached
/// whenever the signal changes. When the component goes, the element lets go of the stream: a detached
/// element keeps its player, and the camera frames that player holds, until it is garbage collected, and
/// the camera's small pool of frame buffers is shared by every page that uses it — while it is empty the
/// camera sends no frames anywhere, to the peer connections included.
pub fn bind_video_stream(
    video: NodeRef<leptos::html::Video>,
    stream: Signal<Option<MediaStream>, LocalStorage>,
) {
    let bound: StoredValue<Option<HtmlVideoElement>, LocalStorage> = StoredValue::new_local(None);
    Effect::new(move |_| {
        let current = stream.get();
        if let Some(el) = video.get() {
            attach_stream(&el, current.as_ref());
            bound.try_set_value(Some(el));
        }
    });
    on_cleanup(move || {
        if let Some(el) = bound.try_update_value(Option::take).flatten() {
            el.set_src_object(None);
        }
    });
}

/// A PNG of the video's current frame, as a `data:` URL a link can download.
pub fn snapshot_png(video: &HtmlVideoElement) -> Result<String, MediaError> {
    let snapshot_error = |detail: String| MediaError::Other {
        name: "Snapshot".into(),
        message: detail,
    };
    let (width, height) = (video.video_width(), video.video_height());
    if width == 0 || height == 0 {
        return Err(snapshot_error("the video has no frame yet".into()));
    }
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| snapshot_error("no document".into()))?;
    let canvas: HtmlCanvasElement = document
        .create_element("canvas")
        .map_err(|e| snapshot_error(describe_js(&e)))?
        .dyn_into()
        .map_err(|_| snapshot_error("no canvas".into()))?;
    canvas.set_width(width);
    canvas.set_height(height);
    let context: CanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(|e| snapshot_error(describe_js(&e)))?
        .ok_or_else(|| snapshot_error("no 2d context".into()))?
        .dyn_into()
        .map_err(|_| snapshot_error("no 2d context".into()))?;
    context
        .draw_image_with_html_video_element(video, 0.0, 0.0)
        .map_err(|e| snapshot_error(describe_js(&e)))?;
    canvas
        .to_data_url_with_type("image/png")
        .map_err(|e| snapshot_error(describe_js(&e)))
}

/// A live microphone level between 0 and 1 (RMS of the waveform, scaled), measured with Web Audio ten
/// times a second while `stream` has an audio track. Every meter of the page shares one audio context;
/// a meter's branch of it goes when the stream changes and when the component is cleaned up.
pub fn use_audio_level(stream: Signal<Option<MediaStream>, LocalStorage>) -> Signal<f64> {
    let level = RwSignal::new(0.0);
    let meter: StoredValue<Option<LevelMeter>, LocalStorage> = StoredValue::new_local(None);
    Effect::new(move |_| {
        let wanted = stream.get().filter(|s| s.get_audio_tracks().length() > 0);
        // The same stream again (a sibling tile's stream changed): keep the running meter.
        let unchanged = meter.with_value(|m| m.as_ref().map(|m| &m.stream) == wanted.as_ref());
        if unchanged && wanted.is_some() {
            return;
        }
        let next = wanted.and_then(|s| LevelMeter::new(&s, level).ok());
        meter.update_value(|m| *m = next);
        if meter.with_value(Option::is_none) {
            level.set(0.0);
        }
    });
    on_cleanup(move || {
        meter.try_update_value(|m| *m = None);
    });
    level.into()
}

thread_local! {
    /// The page's audio context for level meters, while any meter lives.
    static METER_AUDIO: std::cell::RefCell<std::rc::Weak<MeterAudio>> =
        const { std::cell::RefCell::new(std::rc::Weak::new()) };
}

/// The one `AudioContext` every level meter of the page shares, closed when the last meter goes. A
/// context is costly to make (it starts an audio rendering thread and opens the output device), and a call
/// with eight tiles would otherwise make eight at the moment everyone connects.
struct MeterAudio {
    context: AudioContext,
}

impl MeterAudio {
    fn shared() -> Result<std::rc::Rc<MeterAudio>, JsValue> {
        METER_AUDIO.with(|cell| {
            if let Some(audio) = cell.borrow().upgrade() {
                return Ok(audio);
            }
            let audio = std::rc::Rc::new(MeterAudio {
                context: AudioContext::new()?,
            });
            *cell.borrow_mut() = std::rc::Rc::downgrade(&audio);
            Ok(audio)
        })
    }
}

impl Drop for MeterAudio {
    fn drop(&mut self) {
        // Closing releases the audio hardware; it only fails on an already closed context.
        let _ = self.context.close();
    }
}

/// One stream's branch of the shared audio graph (source → analyser) and the timer that reads it.
struct LevelMeter {
    stream: MediaStream,
    source: MediaStreamAudioSourceNode,
    _audio: std::rc::Rc<MeterAudio>,
    _timer: Interval,
}

impl LevelMeter {
    fn new(stream: &MediaStream, level: RwSignal<f64>) -> Result<Self, JsValue> {
        let audio = MeterAudio::shared()?;
        let context = &audio.context;
        let source = context.create_media_stream_source(stream)?;
        let analyser: AnalyserNode = context.create_analyser()?;
        analyser.set_fft_size(1024);
        source.connect_with_audio_node(&analyser)?;
        // A context created outside a click may start suspended; resuming is allowed once the page has
        // had a user gesture (Start or Join was pressed), and harmless otherwise.
        if let Ok(promise) = context.resume() {
            spawn_local(async move {
                let _ = JsFuture::from(promise).await;
            });
        }
        let mut buffer = vec![0.0f32; analyser.fft_size() as usize];
        let timer = Interval::new(100, move || {
            analyser.get_float_time_domain_data(&mut buffer);
            let rms =
                (buffer.iter().map(|s| s * s).sum::<f32>() / buffer.len().max(1) as f32).sqrt();
            level.try_set((f64::from(rms) * 4.0).min(1.0));
        });
        Ok(LevelMeter {
            stream: Clone::clone(stream),
            source,
            _audio: audio,
            _timer: timer,
        })
    }
}

impl Drop for LevelMeter {
    fn drop(&mut self) {
        // Takes this stream's branch out of the shared graph; the context closes with the last meter.
        let _ = self.source.disconnect();
    }
}

/// Asks the browser for a screen, window or tab to share (`getDisplayMedia`, video only, at most
/// `width`×`height` and `frame_rate`). Must be called while handling a click: browsers refuse it otherwise.
pub async fn open_display(
    width: u32,
    height: u32,
    frame_rate: u32,
) -> Result<MediaStream, crate::error::RtcError> {
    use crate::error::RtcError;
    let devices = media_devices().map_err(|e| RtcError::ScreenShare(e.to_string()))?;
    let constraints = js::from_json(&serde_json::json!({
        "video": {
            "width": { "max": width },
            "height": { "max": height },
            "frameRate": { "max": frame_rate },
        },
        "audio": false,
    }))
    .map_err(|err| RtcError::ScreenShare(describe_js(&err)))?;
    let promise = js_sys::Reflect::get(&devices, &"getDisplayMedia".into())
        .and_then(|f| f.dyn_into::<js_sys::Function>())
        .map_err(|_| RtcError::ScreenShare("this browser cannot share a screen".into()))?
        .call1(&devices, &constraints)
        .and_then(|p| p.dyn_into::<js_sys::Promise>())
        .map_err(|err| RtcError::ScreenShare(describe_js(&err)))?;
    let stream = JsFuture::from(promise)
        .await
        .map_err(|err| RtcError::ScreenShare(describe_js(&err)))?;
    stream
        .dyn_into::<MediaStream>()
        .map_err(|_| RtcError::ScreenShare("getDisplayMedia returned no stream".into()))
}

/// Calls `f` when a track ends by itself (a shared screen's "Stop sharing" bar, an unplugged camera). The
/// listener is removed when the returned value is dropped.
pub fn on_track_ended(track: &MediaStreamTrack, mut f: impl FnMut() + 'static) -> EventListener {
    EventListener::new(track, "ended", move |_| f())
}

/// Calls `f` when the browser's list of cameras and microphones changes (`devicechange` on
/// `navigator.mediaDevices`); `None` where there are no media devices (an insecure page, an old browser):
/// nothing to follow. The listener is removed when the returned value is dropped.
fn on_device_change(mut f: impl FnMut() + 'static) -> Option<EventListener> {
    let devices = media_devices().ok()?;
    Some(EventListener::new(&devices, "devicechange", move |_| f()))
}
