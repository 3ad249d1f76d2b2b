//! `use_loopback`: two [`Peer`]s in one page, the caller and the callee, signaling straight into each
//! other, for the loopback inspector.
//!
//! The hook owns one session at a time (both peers, both data channels, the camera stream, the stats
//! timer); Hang up and component cleanup drop it, which closes both connections and stops the camera.
//! Everything the page shows is a signal here: the timeline of steps (with their explanations, in
//! `rtc::timeline`), both peers' states, the remote stream, received messages, the latest stats of each
//! side and the chart series. This module deliberately builds no views.

use std::cell::RefCell;
use std::rc::Rc;

use futures::StreamExt;
use gloo_timers::callback::Interval;
use leptos::prelude::*;
use serde_json::json;
use wasm_bindgen_futures::spawn_local;
use web_sys::MediaStream;

use super::data::{DataChannel, DataEvent, DataEvents};
use super::media::{open_media, stop_stream};
use super::negotiation::{Description, SdpKind};
use super::peer::{Peer, PeerConfig, PeerEvent, PeerEvents, PeerStates, SignalSink};
use super::stats::{Series, StatsSample, StatsSnapshot};
use super::timeline::{Side, Step, StepKind};

/// How many seconds the charts show.
pub const CHART_SECONDS: usize = 30;

/// What the loopback sends besides its data channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopbackOptions {
    pub audio: bool,
    pub video: bool,
}

/// Where the loopback is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Starting,
    Running,
    HungUp,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::HungUp => "hung-up",
        }
    }
}

/// The live charts: one value per second.
#[derive(Clone, Debug, PartialEq)]
pub struct Charts {
    /// kbit/s the callee receives.
    pub bitrate: Series,
    /// Round-trip time of the caller's selected pair, ms.
    pub rtt: Series,
    /// Frames per second the callee decodes.
    pub fps: Series,
}

impl Charts {
    fn new() -> Self {
        Charts {
            bitrate: Series::new(CHART_SECONDS),
            rtt: Series::new(CHART_SECONDS),
            fps: Series::new(CHART_SECONDS),
        }
    }
}

/// The browser objects of one run; dropping it hangs up.
struct Session {
    caller: Peer,
    callee: Peer,
    /// The caller's end of the data channel (the sending end).
    caller_channel: Option<DataChannel>,
    /// The callee's end, once `datachannel` fired.
    callee_channel: Option<DataChannel>,
    /// The camera and microphone, stopped on drop.
    local_stream: Option<MediaStream>,
    _stats_timer: Interval,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(stream) = &self.local_stream {
            stop_stream(stream);
        }
    }
}

/// A handle to the loopback; `Copy`, so buttons capture it freely.
#[derive(Clone, Copy)]
pub struct Loopback {
    phase: RwSignal<Phase>,
    timeline: RwSignal<Vec<Step>>,
    /// Both peers' states, while a session exists (and after Hang up, showing `closed`).
    states: RwSignal<Option<(PeerStates, PeerStates)>>,
    local_stream: RwSignal<Option<MediaStream>, LocalStorage>,
    remote_stream: RwSignal<Option<MediaStream>, LocalStorage>,
    channel_open: RwSignal<bool>,
    received: RwSignal<Vec<String>>,
    caller_stats: RwSignal<Option<StatsSample>>,
    callee_stats: RwSignal<Option<StatsSample>>,
    charts: RwSignal<Charts>,
    offer: RwSignal<Option<String>>,
    answer: RwSignal<Option<String>>,
    error: RwSignal<Option<String>>,
    session: StoredValue<Option<Session>, LocalStorage>,
    /// Counts runs, so events and stats of an earlier run are ignored.
    generation: StoredValue<u64>,
    /// `Date.now()` when Start was pressed; timeline times are relative to it.
    started_at: StoredValue<f64>,
}

/// Gives the calling component a loopback; it hangs up when the component goes.
pub fn use_loopback() -> Loopback {
    let lb = Loopback {
        phase: RwSignal::new(Phase::Idle),
        timeline: RwSignal::new(Vec::new()),
        states: RwSignal::new(None),
        local_stream: RwSignal::new_local(None),
        remote_stream: RwSignal::new_local(None),
        channel_open: RwSignal::new(false),
        received: RwSignal::new(Vec::new()),
        caller_stats: RwSignal::new(None),
        callee_stats: RwSignal::new(None),
        charts: RwSignal::new(Charts::new()),
        offer: RwSignal::new(None),
        answer: RwSignal::new(None),
        error: RwSignal::new(None),
        session: StoredValue::new_local(None),
        generation: StoredValue::new(0),
        started_at: StoredValue::new(0.0),
    };
    on_cleanup(move || {
        lb.generation.try_update_value(|g| *g += 1);
        let session = lb.session.try_update_value(Option::take).flatten();
        drop(session);
    });
    lb
}

impl Loopback {
    pub fn phase(&self) -> Signal<Phase> {
        self.phase.into()
    }
    pub fn timeline(&self) -> Signal<Vec<Step>> {
        self.timeline.into()
    }
    pub fn states(&self) -> Signal<Option<(PeerStates, PeerStates)>> {
        self.states.into()
    }
    pub fn local_stream(&self) -> Signal<Option<MediaStream>, LocalStorage> {
        self.local_stream.into()
    }
    pub fn remote_stream(&self) -> Signal<Option<MediaStream>, LocalStorage> {
        self.remote_stream.into()
    }
    pub fn channel_open(&self) -> Signal<bool> {
        self.channel_open.into()
    }
    pub fn received(&self) -> Signal<Vec<String>> {
        self.received.into()
    }
    pub fn caller_stats(&self) -> Signal<Option<StatsSample>> {
        self.caller_stats.into()
    }
    pub fn callee_stats(&self) -> Signal<Option<StatsSample>> {
        self.callee_stats.into()
    }
    pub fn charts(&self) -> Signal<Charts> {
        self.charts.into()
    }
    pub fn offer_sdp(&self) -> Signal<Option<String>> {
        self.offer.into()
    }
    pub fn answer_sdp(&self) -> Signal<Option<String>> {
        self.answer.into()
    }
    pub fn error(&self) -> Signal<Option<String>> {
        self.error.into()
    }

    /// Starts a fresh run: opens the camera (unless data only), builds both peers, adds the tracks and the
    /// data channel to the caller, and lets negotiation run.
    pub fn start(&self, options: LoopbackOptions) {
        self.hang_up_quietly();
        let generation = self.next_generation();
        self.started_at.set_value(js_sys::Date::now());
        self.timeline.set(Vec::new());
        self.received.set(Vec::new());
        self.channel_open.set(false);
        self.caller_stats.set(None);
        self.callee_stats.set(None);
        self.charts.set(Charts::new());
        self.offer.set(None);
        self.answer.set(None);
        self.error.set(None);
        self.remote_stream.set(None);
        self.phase.set(Phase::Starting);
        let this = *self;
        spawn_local(async move {
            if let Err(message) = this.run(generation, options).await {
                if this.is_current(generation) {
                    this.step(None, StepKind::Failed(message.clone()), None);
                    this.error.set(Some(message));
                    this.hang_up_quietly();
                    this.phase.set(Phase::Idle);
                }
            }
        });
    }

    /// Closes both connections and stops the camera.
    pub fn hang_up(&self) {
        if self.session.with_value(Option::is_some) {
            self.next_generation();
            self.hang_up_quietly();
            self.step(None, StepKind::HungUp, None);
            self.phase.set(Phase::HungUp);
        }
    }

    /// Restarts ICE from the caller's side.
    pub fn restart_ice(&self) {
        self.session.with_value(|s| {
            if let Some(s) = s {
                s.caller.restart_ice();
            }
        });
    }

    /// Sends `text` from the caller to the callee over the data channel.
    pub fn send_text(&self, text: &str) {
        let result =
            self.session.with_value(
                |s| match s.as_ref().and_then(|s| s.caller_channel.as_ref()) {
                    Some(channel) => channel.send_text(text),
                    None => Err(crate::error::RtcError::Send(
                        "no data channel; press Start first".into(),
                    )),
                },
            );
        if let Err(err) = result {
            self.error.set(Some(err.to_string()));
        }
    }

    fn hang_up_quietly(&self) {
        let session = self.session.try_update_value(Option::take).flatten();
        drop(session);
        self.local_stream.try_set(None);
        self.channel_open.try_set(false);
    }

    fn next_generation(&self) -> u64 {
        self.generation.update_value(|g| *g += 1);
        self.generation.get_value()
    }

    fn is_current(&self, generation: u64) -> bool {
        self.generation.try_get_value() == Some(generation)
    }

    fn step(&self, side: Option<Side>, kind: StepKind, sdp: Option<String>) {
        let at_ms = js_sys::Date::now() - self.started_at.try_get_value().unwrap_or(0.0);
        self.timeline.try_update(|t| {
            t.push(Step {
                at_ms,
                side,
                kind,
                sdp,
            })
        });
    }

    async fn run(self, generation: u64, options: LoopbackOptions) -> Result<(), String> {
        let local_stream = if options.audio || options.video {
            let constraints = json!({
                "audio": options.audio,
                "video": if options.video { json!({"width": {"ideal": 640}, "height": {"ideal": 480}}) } else { json!(false) },
            });
            let stream = open_media(&constraints).await.map_err(|e| e.to_string())?;
            if !self.is_current(generation) {
                stop_stream(&stream);
                return Ok(());
            }
            let tracks = stream.get_tracks().length() as usize;
            self.step(Some(Side::Caller), StepKind::MediaOpened { tracks }, None);
            Some(stream)
        } else {
            None
        };

        // Each side's signals go straight into the other's queue; the slots are filled right after both
        // peers exist, before anything can be sent (negotiation starts on a later turn of the event loop).
        let to_callee: Rc<RefCell<Option<SignalSink>>> = Rc::new(RefCell::new(None));
        let to_caller: Rc<RefCell<Option<SignalSink>>> = Rc::new(RefCell::new(None));
        let (caller, caller_events) = {
            let slot = Rc::clone(&to_callee);
            Peer::new(steps(PeerConfig::new("caller", "callee")), move |signal| {
                if let Some(sink) = slot.borrow().as_ref() {
                    sink.deliver(signal);
                }
            })
            .map_err(|e| e.to_string())?
        };
        let (callee, callee_events) = {
            let slot = Rc::clone(&to_caller);
            Peer::new(steps(PeerConfig::new("callee", "caller")), move |signal| {
                if let Some(sink) = slot.borrow().as_ref() {
                    sink.deliver(signal);
                }
            })
            .map_err(|e| e.to_string())?
        };
        *to_callee.borrow_mut() = Some(callee.sink());
        *to_caller.borrow_mut() = Some(caller.sink());

        let (caller_channel, caller_channel_events) = caller
            .create_data_channel("chat")
            .map_err(|e| e.to_string())?;
        self.step(Some(Side::Caller), StepKind::DataChannelCreated, None);
        if let Some(stream) = &local_stream {
            for track in stream.get_tracks().iter() {
                if let Ok(track) = wasm_bindgen::JsCast::dyn_into(track) {
                    caller
                        .add_track(&track, stream)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        self.states.set(Some((caller.states(), callee.states())));
        self.local_stream.set(local_stream.clone());

        let stats_timer = {
            let this = self;
            Interval::new(1_000, move || this.poll_stats(generation))
        };
        self.session.set_value(Some(Session {
            caller,
            callee,
            caller_channel: Some(caller_channel),
            callee_channel: None,
            local_stream,
            _stats_timer: stats_timer,
        }));
        self.phase.set(Phase::Running);
        spawn_local(self.pump(generation, Side::Caller, caller_events));
        spawn_local(self.pump(generation, Side::Callee, callee_events));
        spawn_local(self.pump_channel(generation, Side::Caller, caller_channel_events));
        Ok(())
    }

    /// Turns one peer's events into timeline steps and state.
    async fn pump(self, generation: u64, side: Side, mut events: PeerEvents) {
        while let Some(event) = events.next().await {
            if !self.is_current(generation) {
                return;
            }
            if let Some((kind, text)) = event.step() {
                self.step(Some(side), kind, text);
            }
            match event {
                PeerEvent::DescriptionCreated {
                    description: Description { kind, sdp },
                    ..
                } => match kind {
                    SdpKind::Offer => self.offer.set(Some(sdp)),
                    SdpKind::Answer => self.answer.set(Some(sdp)),
                },
                PeerEvent::Track { track, stream } => {
                    let stream = stream.or_else(|| {
                        let s = MediaStream::new().ok()?;
                        s.add_track(&track);
                        Some(s)
                    });
                    if let Some(stream) = stream {
                        self.remote_stream.set(Some(stream));
                    }
                }
                PeerEvent::DataChannel(channel, channel_events) => {
                    self.session.update_value(|s| {
                        if let Some(s) = s {
                            s.callee_channel = Some(channel);
                        }
                    });
                    spawn_local(self.pump_channel(generation, side, channel_events));
                }
                PeerEvent::Error(err) => self.error.set(Some(err.to_string())),
                _ => {}
            }
        }
    }

    async fn pump_channel(self, generation: u64, side: Side, mut events: DataEvents) {
        while let Some(event) = events.next().await {
            if !self.is_current(generation) {
                return;
            }
            match event {
                DataEvent::Open => {
                    if side == Side::Caller {
                        self.channel_open.set(true);
                    }
                    self.step(Some(side), StepKind::DataChannelOpen, None);
                }
                DataEvent::Message(text) => {
                    self.received.update(|r| r.push(text.clone()));
                    self.step(Some(side), StepKind::MessageReceived { text }, None);
                }
                DataEvent::Closed => {
                    if side == Side::Caller {
                        self.channel_open.set(false);
                    }
                }
                DataEvent::Error(message) => self.error.set(Some(message)),
                // The loopback sends only text and no flow control.
                DataEvent::Binary(_) | DataEvent::BufferedAmountLow => {}
            }
        }
    }

    /// Reads both peers' stats once and updates the samples, the charts and the DTLS step.
    fn poll_stats(self, generation: u64) {
        let futures = self
            .session
            .with_value(|s| s.as_ref().map(|s| (s.caller.stats(), s.callee.stats())));
        let Some((caller, callee)) = futures else {
            return;
        };
        spawn_local(async move {
            let (caller, callee) = futures::join!(caller, callee);
            if !self.is_current(generation) {
                return;
            }
            if let Ok(snap) = caller {
                self.dtls_step(Side::Caller, &snap, self.caller_stats);
                let sample = next_sample(self.caller_stats, snap);
                self.charts.update(|c| c.rtt.push(sample.snapshot.rtt_ms));
                self.caller_stats.set(Some(sample));
            }
            if let Ok(snap) = callee {
                self.dtls_step(Side::Callee, &snap, self.callee_stats);
                let sample = next_sample(self.callee_stats, snap);
                self.charts.update(|c| {
                    c.bitrate.push(sample.inbound_kbps);
                    c.fps.push(sample.snapshot.fps);
                });
                self.callee_stats.set(Some(sample));
            }
        });
    }

    fn dtls_step(&self, side: Side, snap: &StatsSnapshot, previous: RwSignal<Option<StatsSample>>) {
        let before = previous.with_untracked(|p| p.as_ref().and_then(|p| p.snapshot.dtls_state));
        if let Some(state) = snap.dtls_state {
            if before != Some(state) {
                self.step(Some(side), StepKind::DtlsState(state), None);
            }
        }
    }
}

fn next_sample(previous: RwSignal<Option<StatsSample>>, snap: StatsSnapshot) -> StatsSample {
    let prev = previous.with_untracked(|p| p.as_ref().map(|p| p.snapshot.clone()));
    StatsSample::between(prev.as_ref(), snap)
}

/// The loopback page shows `createOffer`/`createAnswer` and `setLocalDescription` as separate steps.
fn steps(mut config: PeerConfig) -> PeerConfig {
    config.separate_steps = true;
    config
}
