//! What the call reads from its connections while it runs: whether it is still coming together (and so
//! what must wait), the remote audio levels for the speaking lights, every connection's statistics for
//! its tile's quality line and path, and the video cap set on every sender once nothing is being set up.
//! The decisions are the pure modules' (`room::forming`, `room::pacing`, `room::quality`,
//! `room::bitrate`); this file carries them out.

use std::collections::HashMap;
use std::rc::Rc;

use leptos::prelude::*;
use peerlab_protocol::PeerId;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{MediaStream, MediaStreamTrack};

use super::Runtime;
use crate::room::bitrate::video_cap_bps;
use crate::room::pacing::SPEAKING_LIGHTS;
use crate::room::participants::Participants;
use crate::room::quality::Quality;
use crate::rtc::path::PathReading;

/// How often each connection's statistics are read for its tile.
pub const STATS_POLL_MS: u32 = 2_000;

impl Runtime {
    /// Caps every outgoing video at the budget divided by the number of peers; called whenever a peer
    /// comes, goes or connects (a sender not negotiated yet takes the cap at its `connected`).
    pub(super) fn apply_caps(&self) {
        let peers = self
            .s
            .participants
            .try_with_untracked(Participants::peer_count)
            .unwrap_or(0);
        let cap = video_cap_bps(peers);
        let shown = (peers > 0).then_some(cap);
        if self.s.cap.try_get_untracked() != Some(shown) {
            self.s.cap.try_set(shown);
        }
        // Each `setParameters` is a round trip through the browser's WebRTC threads, which are busiest
        // while connections are being set up; the caps are set once none is (this runs again on every
        // connection state change), and only on connections that are up.
        if self.forming() {
            return;
        }
        for row in self.mesh.rows().get_untracked() {
            let connected = row.is_connected();
            let applied = self.caps.borrow().get(&row.id) == Some(&cap);
            if !connected || applied {
                continue;
            }
            if let Some(setting) = self
                .mesh
                .with_peer(&row.id, |p| p.set_max_bitrate("video", cap))
            {
                self.caps.borrow_mut().insert(row.id.clone(), cap);
                let (caps, peer, mesh) = (Rc::clone(&self.caps), row.id.clone(), self.mesh.clone());
                spawn_local(async move {
                    match setting.await {
                        Ok(applied) => mesh.note_sender_cap(&peer, (applied > 0).then_some(cap)),
                        Err(err) => {
                            leptos::logging::warn!("{err}");
                            // Set it again on the next change.
                            caps.borrow_mut().remove(&peer);
                        }
                    }
                });
            }
        }
    }

    /// Whether the call is still coming together: a connection is being set up, a member the relay
    /// announced has none yet (its offer is on the way), or a connection is up and its media has not
    /// arrived (the page is about to start that member's player). The synchronous browser calls that
    /// read senders and receivers (`getParameters`, `getSynchronizationSources`) wait on the WebRTC
    /// threads, which are busiest then: measured at N = 6, they held each page's main thread for about
    /// a second in all and delayed the negotiation behind it. It lasts `SETTLE_MS` longer and at most
    /// `MAX_FORMING_MS` (`room::forming`).
    pub(super) fn forming(&self) -> bool {
        self.note_arrivals();
        let connecting = self.mesh.rows().with_untracked(|rows| {
            rows.iter()
                .any(|row| row.states.connection.get_untracked().is_setting_up())
        });
        let awaited = self
            .s
            .participants
            .try_with_untracked(Participants::settling)
            .unwrap_or(false);
        self.state
            .borrow_mut()
            .forming
            .update(connecting || awaited, js_sys::Date::now())
    }

    /// Marks the members whose media has arrived: every incoming track unmuted, which the browser does
    /// at each track's first data. A connected member with no incoming stream sends nothing to wait for.
    pub(super) fn note_arrivals(&self) {
        let awaiting = self
            .s
            .participants
            .try_with_untracked(Participants::awaiting_media)
            .unwrap_or_default();
        if awaiting.is_empty() {
            return;
        }
        let arrived: Vec<PeerId> = self
            .s
            .streams
            .try_with_untracked(|streams| {
                awaiting
                    .into_iter()
                    .filter(|id| streams.get(id).is_none_or(media_arrived))
                    .collect()
            })
            .unwrap_or_default();
        if !arrived.is_empty() {
            self.s.participants.update(|p| {
                for id in &arrived {
                    p.receiving(id);
                }
            });
        }
    }

    /// Reads every remote member's audio level for the speaking lights and returns how long to wait
    /// before the next reading. Each reading is a synchronous call into the browser's WebRTC threads
    /// (`getSynchronizationSources`), so none are made while the call is coming together, and the next
    /// comes later the longer this one held the main thread (`SPEAKING_LIGHTS`).
    pub(super) fn read_levels(&self) -> u32 {
        if self.s.active.try_get_untracked() != Some(true) {
            return SPEAKING_LIGHTS.every_ms;
        }
        let forming = self.forming();
        if self.s.forming.try_get_untracked() != Some(forming) {
            self.s.forming.try_set(forming);
        }
        if forming {
            if self.s.levels.try_with_untracked(|l| !l.is_empty()) == Some(true) {
                self.s.levels.try_set(HashMap::new());
            }
            return SPEAKING_LIGHTS.every_ms;
        }
        let started = js_sys::Date::now();
        self.fill_verifications();
        let mut levels = HashMap::new();
        for row in self.mesh.rows().get_untracked() {
            if let Some(Some(level)) = self.mesh.with_peer(&row.id, |p| p.remote_audio_level()) {
                levels.insert(row.id, level);
            }
        }
        let spent = js_sys::Date::now() - started;
        if self.s.levels.try_with_untracked(|l| *l != levels) == Some(true) {
            self.s.levels.try_set(levels);
        }
        SPEAKING_LIGHTS.next_delay_ms(spent)
    }

    pub(super) fn poll_stats(self: &Rc<Self>) {
        // `getStats` runs on the same browser threads as the negotiation; while the call is coming
        // together the quality lines wait.
        if self.forming() {
            return;
        }
        // Caps wait for the same reason; a call that stopped counting as forming without a connection
        // event (it settled, or reached the time bound) gets them here.
        self.apply_caps();
        let rows = self.mesh.rows().get_untracked();
        for row in rows {
            let connected = row.is_connected();
            if !connected {
                continue;
            }
            let Some(reading) = self.mesh.with_peer(&row.id, |p| p.stats()) else {
                continue;
            };
            let (weak, peer) = (Rc::downgrade(self), row.id.clone());
            spawn_local(async move {
                let Ok(snapshot) = reading.await else { return };
                let Some(rt) = weak.upgrade() else { return };
                let previous = rt.state.borrow_mut().last_stats.remove(&peer);
                let quality = Quality::between(previous.as_ref(), &snapshot);
                let path = snapshot.pair.as_ref().and_then(PathReading::of);
                rt.state
                    .borrow_mut()
                    .last_stats
                    .insert(peer.clone(), snapshot);
                rt.s.participants.try_update(|p| {
                    p.quality(&peer, quality.summary(), quality.grade.token());
                    p.path(&peer, path);
                });
            });
        }
    }
}

/// Whether every track of `stream` has had data (a remote track starts muted and unmutes then).
fn media_arrived(stream: &MediaStream) -> bool {
    stream
        .get_tracks()
        .iter()
        .all(|t| t.dyn_into::<MediaStreamTrack>().is_ok_and(|t| !t.muted()))
}
