//! The network check's browser side: [`GatheringProbe`], the owner of one throwaway `RTCPeerConnection`
//! that only gathers candidates, and [`use_network_check`], the hook that runs one probe at a time and
//! judges it with `rtc::reach_check`.
//!
//! The probe is never connected to anybody: it makes an offer with one data channel (so there is
//! something to gather for), applies it locally and reports every candidate with the server it came from
//! and when it arrived. Dropping it removes its listeners and closes the channel and the connection; the
//! hook drops it as soon as the check is judged, and on cleanup.

use std::cell::Cell;
use std::rc::Rc;

use futures::channel::mpsc;
use futures::future::{select, Either};
use futures::StreamExt;
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use peerlab_protocol::{IceServer, IceSummary};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    Event, RtcDataChannel, RtcPeerConnection, RtcPeerConnectionIceEvent, RtcSdpType,
    RtcSessionDescriptionInit,
};

use super::js;
use super::negotiation::RelayTransport;
use super::peer::rtc_configuration;
use super::reach_check::{
    found_in, server_readings, verdict, CheckPhase, Gathered, ServerReading, GATHER_DEADLINE_MS,
};
use crate::error::{describe_js, RtcError};

/// What a probe reports.
#[derive(Clone, Debug, PartialEq)]
pub enum ProbeEvent {
    Candidate(Gathered),
    /// Gathering finished: every server answered or gave up.
    Complete,
}

/// One gathering-only connection; closed when dropped.
pub struct GatheringProbe {
    pc: RtcPeerConnection,
    channel: RtcDataChannel,
    /// Held so the listeners live exactly as long as the connection may call them.
    _on_ice_candidate: Closure<dyn FnMut(RtcPeerConnectionIceEvent)>,
    _on_gathering_state: Closure<dyn FnMut(Event)>,
}

impl GatheringProbe {
    /// Creates the connection with `servers` and starts gathering; candidates arrive on the stream.
    pub async fn start(
        servers: &[IceServer],
    ) -> Result<(GatheringProbe, mpsc::UnboundedReceiver<ProbeEvent>), RtcError> {
        let config =
            rtc_configuration(servers).map_err(|err| RtcError::Create(describe_js(&err)))?;
        let pc = RtcPeerConnection::new_with_configuration(&config)
            .map_err(|err| RtcError::Create(describe_js(&err)))?;
        let (tx, rx) = mpsc::unbounded();
        let started = js_sys::Date::now();
        let complete_sent = Rc::new(Cell::new(false));
        let on_ice_candidate = {
            let (tx, complete_sent) = (tx.clone(), Rc::clone(&complete_sent));
            Closure::<dyn FnMut(RtcPeerConnectionIceEvent)>::new(
                move |event: RtcPeerConnectionIceEvent| match event.candidate() {
                    Some(c) if !c.candidate().is_empty() => {
                        // The event's `url` is the server's; newer browsers also put it on the candidate.
                        let url = js::string(&event, "url").or_else(|| js::string(&c, "url"));
                        let relay = js::string(&c, "relayProtocol")
                            .as_deref()
                            .and_then(RelayTransport::parse);
                        let at = js_sys::Date::now() - started;
                        if let Some(g) = Gathered::parse(&c.candidate(), url, relay, at) {
                            let _ = tx.unbounded_send(ProbeEvent::Candidate(g));
                        }
                    }
                    _ => {
                        if !complete_sent.replace(true) {
                            let _ = tx.unbounded_send(ProbeEvent::Complete);
                        }
                    }
                },
            )
        };
        let on_gathering_state = {
            let pc = pc.clone();
            Closure::<dyn FnMut(Event)>::new(move |_: Event| {
                if js::string(&pc, "iceGatheringState").as_deref() == Some("complete")
                    && !complete_sent.replace(true)
                {
                    let _ = tx.unbounded_send(ProbeEvent::Complete);
                }
            })
        };
        pc.set_onicecandidate(Some(on_ice_candidate.as_ref().unchecked_ref()));
        pc.set_onicegatheringstatechange(Some(on_gathering_state.as_ref().unchecked_ref()));
        let channel = pc.create_data_channel("network-check");
        let probe = GatheringProbe {
            pc,
            channel,
            _on_ice_candidate: on_ice_candidate,
            _on_gathering_state: on_gathering_state,
        };
        // From here on a failure drops the probe, which closes the connection.
        let offer = JsFuture::from(probe.pc.create_offer())
            .await
            .map_err(|err| RtcError::negotiation("createOffer", &err))?;
        let description = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
        description.set_sdp(&js::string(&offer, "sdp").unwrap_or_default());
        JsFuture::from(probe.pc.set_local_description(&description))
            .await
            .map_err(|err| RtcError::negotiation("setLocalDescription", &err))?;
        Ok((probe, rx))
    }
}

impl Drop for GatheringProbe {
    fn drop(&mut self) {
        self.pc.set_onicecandidate(None);
        self.pc.set_onicegatheringstatechange(None);
        self.channel.close();
        self.pc.close();
    }
}

/// A handle to the network check; `Copy`, so buttons capture it freely.
#[derive(Clone, Copy)]
pub struct NetworkCheck {
    phase: RwSignal<CheckPhase>,
    /// Every candidate, in the order gathered.
    gathered: RwSignal<Vec<Gathered>>,
    /// What each configured server did, updated with every candidate.
    servers: RwSignal<Vec<ServerReading>>,
    /// The probe of the run under way; dropping it ends that run's connection.
    probe: StoredValue<Option<GatheringProbe>, LocalStorage>,
    /// Counts runs, so a late event of an earlier run is ignored.
    generation: StoredValue<u64>,
}

/// Gives the calling component a network check; its probe closes when the component goes.
pub fn use_network_check() -> NetworkCheck {
    let check = NetworkCheck {
        phase: RwSignal::new(CheckPhase::FetchingServers),
        gathered: RwSignal::new(Vec::new()),
        servers: RwSignal::new(Vec::new()),
        probe: StoredValue::new_local(None),
        generation: StoredValue::new(0),
    };
    on_cleanup(move || {
        check.generation.try_update_value(|g| *g += 1);
        let probe = check.probe.try_update_value(Option::take).flatten();
        drop(probe);
    });
    check
}

impl NetworkCheck {
    pub fn phase(&self) -> Signal<CheckPhase> {
        self.phase.into()
    }
    pub fn gathered(&self) -> Signal<Vec<Gathered>> {
        self.gathered.into()
    }
    pub fn servers(&self) -> Signal<Vec<ServerReading>> {
        self.servers.into()
    }

    /// Waiting for the relay's ICE servers again (a new run was asked for).
    pub fn fetching(&self) {
        self.next_generation();
        self.phase.set(CheckPhase::FetchingServers);
    }

    /// The check cannot run; `why` says what to do.
    pub fn fail(&self, why: String) {
        self.next_generation();
        self.phase.try_set(CheckPhase::Failed(why));
    }

    /// Gathers with `servers` until gathering completes or the deadline passes, then judges.
    pub fn run(&self, servers: Vec<IceServer>) {
        let generation = self.next_generation();
        let configured: Vec<String> = servers.iter().flat_map(|s| s.urls.clone()).collect();
        self.gathered.set(Vec::new());
        self.servers.set(server_readings(&configured, &[]));
        self.phase.set(CheckPhase::Gathering);
        let this = *self;
        spawn_local(async move {
            let started = GatheringProbe::start(&servers).await;
            if !this.is_current(generation) {
                return;
            }
            let mut events = match started {
                Ok((probe, events)) => {
                    this.probe.try_set_value(Some(probe));
                    events
                }
                Err(err) => {
                    this.phase.try_set(CheckPhase::Failed(err.to_string()));
                    return;
                }
            };
            let mut deadline = TimeoutFuture::new(GATHER_DEADLINE_MS);
            // Until gathering completes (or the probe is gone) or the deadline passes.
            while let Either::Left((Some(ProbeEvent::Candidate(g)), _)) =
                select(events.next(), &mut deadline).await
            {
                if !this.is_current(generation) {
                    return;
                }
                this.gathered.try_update(|all| all.push(g));
                if let Some(all) = this.gathered.try_get_untracked() {
                    this.servers.try_set(server_readings(&configured, &all));
                }
            }
            if !this.is_current(generation) {
                return;
            }
            let probe = this.probe.try_update_value(Option::take).flatten();
            drop(probe);
            let found = this
                .gathered
                .try_with_untracked(|all| found_in(all))
                .unwrap_or_default();
            let summary = IceSummary::from_urls(configured.iter().map(String::as_str));
            this.phase
                .try_set(CheckPhase::Done(verdict(summary, found)));
        });
    }

    fn next_generation(&self) -> u64 {
        self.generation.try_update_value(|g| *g += 1);
        let probe = self.probe.try_update_value(Option::take).flatten();
        drop(probe);
        self.generation.try_get_value().unwrap_or(0)
    }

    fn is_current(&self, generation: u64) -> bool {
        self.generation.try_get_value() == Some(generation)
    }
}
