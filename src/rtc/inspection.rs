//! What the chat and room inspectors know about one peer connection: its timeline of steps, every
//! candidate of both ends, its current descriptions, the candidate pairs ICE selected (and when the
//! selection changed), the live charts, and the cap on what this side sends.
//!
//! The mesh folds the connection's events ([`PeerInspection::step`], [`PeerInspection::candidate`]) and
//! its `getStats` readings ([`PeerInspection::sample`]) in as they come; the inspector renders it. Pure:
//! no `web_sys`, no Leptos; every fold is table-tested here.

use std::collections::VecDeque;

use super::negotiation::{Candidate, CandidateType, RelayTransport, SdpKind};
use super::path::PathReading;
use super::stats::{SelectedPair, Series, StatsSample, StatsSnapshot};
use super::timeline::{Step, StepKind};

/// How many seconds of figures the charts keep.
pub const CHART_POINTS: usize = 60;
/// How many steps a timeline keeps; older ones are dropped and counted (a connection that runs for
/// hours restarts ICE and renegotiates, and its timeline must not grow without bound).
pub const STEP_LIMIT: usize = 400;
/// How many candidates of each end are listed; past it the oldest go (every ICE restart gathers a new
/// set, and the current ones are what matters).
pub const CANDIDATE_LIMIT: usize = 64;
/// How many selected pairs are kept; past it the oldest go, and are counted.
pub const PATH_LIMIT: usize = 32;

/// Which end of the connection a candidate belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Gathered by this browser and sent to the other side.
    Local,
    /// Received from the other side through signaling and handed to ICE.
    Remote,
}

impl End {
    pub fn as_str(self) -> &'static str {
        match self {
            End::Local => "local",
            End::Remote => "remote",
        }
    }
}

/// One candidate, as the inspector lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct CandidateRow {
    pub end: End,
    /// Milliseconds since the connection was made.
    pub at_ms: f64,
    pub kind: Option<CandidateType>,
    /// `udp` or `tcp`.
    pub protocol: String,
    /// `address:port` as the candidate line gives it (an mDNS name hides a host address).
    pub address: String,
    /// How a local relay candidate reaches its TURN server.
    pub relay: Option<RelayTransport>,
    /// The ICE generation (username fragment) it belongs to, when the candidate said.
    pub generation: Option<String>,
}

/// One candidate pair ICE selected, and when it was first seen selected.
#[derive(Clone, Debug, PartialEq)]
pub struct PathChange {
    pub at_ms: f64,
    pub pair: SelectedPair,
    pub reading: Option<PathReading>,
}

/// The charts of one connection, one point per reading.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerCharts {
    /// Everything the transport sent, kbit/s.
    pub sent: Series,
    /// Everything the transport received, kbit/s.
    pub received: Series,
    /// Round-trip time of the selected pair, ms.
    pub rtt: Series,
    /// Share of RTP packets lost, %.
    pub loss: Series,
    /// Frames per second of the received video (or of the sent video when none is received).
    pub fps: Series,
}

impl Default for PeerCharts {
    fn default() -> Self {
        PeerCharts {
            sent: Series::new(CHART_POINTS),
            received: Series::new(CHART_POINTS),
            rtt: Series::new(CHART_POINTS),
            loss: Series::new(CHART_POINTS),
            fps: Series::new(CHART_POINTS),
        }
    }
}

/// A description as the browser holds it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sdp {
    pub kind: SdpKind,
    pub text: String,
}

/// Everything the inspector shows of one connection.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeerInspection {
    steps: VecDeque<Step>,
    dropped_steps: usize,
    candidates: Vec<CandidateRow>,
    local: Option<Sdp>,
    remote: Option<Sdp>,
    paths: VecDeque<PathChange>,
    dropped_paths: usize,
    charts: PeerCharts,
    latest: Option<StatsSample>,
    /// How many readings were folded in, so a view can tell that they keep coming.
    readings: u64,
    sender_cap_bps: Option<u32>,
}

impl PeerInspection {
    /// Appends one step of the connection's life.
    pub fn step(&mut self, at_ms: f64, kind: StepKind, sdp: Option<String>) {
        if self.steps.len() == STEP_LIMIT {
            self.steps.pop_front();
            self.dropped_steps += 1;
        }
        self.steps.push_back(Step {
            at_ms,
            side: None,
            kind,
            sdp,
        });
    }

    /// Lists a candidate of `end`, unless that end already lists it; a full end forgets its oldest. The
    /// end-of-candidates marker (an empty line) is not a candidate.
    pub fn candidate(&mut self, at_ms: f64, end: End, candidate: &Candidate) {
        let Some(address) = candidate.address() else {
            return;
        };
        let row = CandidateRow {
            end,
            at_ms,
            kind: candidate.kind(),
            protocol: candidate.protocol().unwrap_or_default().to_owned(),
            address,
            relay: candidate.relay_protocol,
            generation: candidate.username_fragment.clone(),
        };
        let same = |r: &&CandidateRow| {
            r.end == row.end
                && r.kind == row.kind
                && r.protocol == row.protocol
                && r.address == row.address
                && r.generation == row.generation
        };
        if self.candidates.iter().any(|r| same(&r)) {
            return;
        }
        if self.candidates.iter().filter(|r| r.end == end).count() == CANDIDATE_LIMIT {
            if let Some(oldest) = self.candidates.iter().position(|r| r.end == end) {
                self.candidates.remove(oldest);
            }
        }
        self.candidates.push(row);
    }

    /// Keeps the descriptions the browser holds now (`localDescription`, `remoteDescription`), which grow
    /// the candidates gathered since they were set; returns whether they changed.
    pub fn descriptions(&mut self, local: Option<Sdp>, remote: Option<Sdp>) -> bool {
        let changed = self.local != local || self.remote != remote;
        self.local = local;
        self.remote = remote;
        changed
    }

    /// Folds one `getStats` reading in: the rates since the previous one go on the charts, and a selected
    /// pair that differs from the last one is recorded, with a step on the timeline. A reading that is
    /// not newer than the last one (readings that overtook each other) is dropped: it would chart a
    /// negative interval and show the path flip back.
    pub fn sample(&mut self, at_ms: f64, snapshot: StatsSnapshot) {
        let previous = self.latest.as_ref().map(|s| &s.snapshot);
        if previous.is_some_and(|p| snapshot.timestamp_ms <= p.timestamp_ms) {
            return;
        }
        self.readings += 1;
        let sample = StatsSample::between(previous, snapshot);
        let charts = &mut self.charts;
        charts.sent.push(sample.transport_out_kbps);
        charts.received.push(sample.transport_in_kbps);
        charts.rtt.push(sample.snapshot.rtt_ms);
        charts.loss.push(sample.loss_percent);
        charts.fps.push(sample.snapshot.fps);
        if let Some(pair) = &sample.snapshot.pair {
            let last = self.paths.back().map(|p| &p.pair);
            if last != Some(pair) {
                let changed = last.is_some();
                let reading = PathReading::of(pair);
                if let Some(reading) = &reading {
                    self.step(
                        at_ms,
                        StepKind::PathSelected {
                            path: reading.path,
                            pair: reading.pair.clone(),
                            changed,
                        },
                        None,
                    );
                }
                if self.paths.len() == PATH_LIMIT {
                    self.paths.pop_front();
                    self.dropped_paths += 1;
                }
                self.paths.push_back(PathChange {
                    at_ms,
                    pair: pair.clone(),
                    reading,
                });
            }
        }
        self.latest = Some(sample);
    }

    /// The cap this side set on the video it sends over this connection, in bit/s.
    pub fn set_sender_cap(&mut self, bps: Option<u32>) {
        self.sender_cap_bps = bps;
    }

    pub fn steps(&self) -> impl DoubleEndedIterator<Item = &Step> + ExactSizeIterator {
        self.steps.iter()
    }

    /// How many of the oldest steps were dropped to keep the timeline bounded.
    pub fn dropped_steps(&self) -> usize {
        self.dropped_steps
    }

    pub fn candidates(&self, end: End) -> impl Iterator<Item = &CandidateRow> {
        self.candidates.iter().filter(move |r| r.end == end)
    }

    pub fn local_description(&self) -> Option<&Sdp> {
        self.local.as_ref()
    }

    pub fn remote_description(&self) -> Option<&Sdp> {
        self.remote.as_ref()
    }

    /// The pairs ICE selected, oldest first (the newest [`PATH_LIMIT`]); the last is the one in use.
    pub fn paths(&self) -> impl DoubleEndedIterator<Item = &PathChange> + ExactSizeIterator {
        self.paths.iter()
    }

    /// How many of the oldest pairs were dropped.
    pub fn dropped_paths(&self) -> usize {
        self.dropped_paths
    }

    /// How many readings were folded in.
    pub fn readings(&self) -> u64 {
        self.readings
    }

    pub fn charts(&self) -> &PeerCharts {
        &self.charts
    }

    /// The newest reading, with its rates.
    pub fn latest(&self) -> Option<&StatsSample> {
        self.latest.as_ref()
    }

    pub fn sender_cap_bps(&self) -> Option<u32> {
        self.sender_cap_bps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtc::path::NetworkPath;
    use crate::rtc::stats::CandidateInfo;

    fn candidate(line: &str, ufrag: Option<&str>) -> Candidate {
        Candidate {
            candidate: line.into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            username_fragment: ufrag.map(Into::into),
            relay_protocol: None,
        }
    }

    const HOST: &str = "candidate:1 1 udp 2122260223 192.0.2.10 50000 typ host";
    const SRFLX: &str =
        "candidate:2 1 udp 1686052607 203.0.113.7 40000 typ srflx raddr 192.0.2.10 rport 50000";

    #[test]
    fn candidates_are_listed_once_per_end_and_generation() {
        let mut i = PeerInspection::default();
        // (end, line, ufrag, listed after)
        let table = [
            (End::Local, HOST, Some("a"), 1),
            (End::Local, HOST, Some("a"), 1),
            (End::Local, SRFLX, Some("a"), 2),
            (End::Remote, HOST, Some("a"), 1),
            // An ICE restart gathers the same address again under new credentials.
            (End::Local, HOST, Some("b"), 3),
            // The end-of-candidates marker.
            (End::Local, "", Some("b"), 3),
        ];
        for (end, line, ufrag, listed) in table {
            i.candidate(10.0, end, &candidate(line, ufrag));
            assert_eq!(
                i.candidates(end).count(),
                listed,
                "{end:?} {line:?} {ufrag:?}"
            );
        }
        let srflx = i.candidates(End::Local).nth(1).unwrap();
        assert_eq!(srflx.kind, Some(CandidateType::Srflx));
        assert_eq!(srflx.address, "203.0.113.7:40000");
        assert_eq!(srflx.protocol, "udp");
    }

    #[test]
    fn the_candidate_list_is_bounded_and_keeps_the_newest() {
        let mut i = PeerInspection::default();
        i.candidate(0.0, End::Local, &candidate(HOST, None));
        for port in 0..CANDIDATE_LIMIT + 10 {
            let line = format!("candidate:1 1 udp 1 192.0.2.1 {port} typ host");
            i.candidate(0.0, End::Remote, &candidate(&line, None));
        }
        assert_eq!(i.candidates(End::Remote).count(), CANDIDATE_LIMIT);
        let first = i.candidates(End::Remote).next().unwrap();
        assert_eq!(first.address, "192.0.2.1:10", "the oldest ten went");
        let last = i.candidates(End::Remote).last().unwrap();
        assert_eq!(last.address, format!("192.0.2.1:{}", CANDIDATE_LIMIT + 9));
        assert_eq!(
            i.candidates(End::Local).count(),
            1,
            "each end has its own bound"
        );
    }

    #[test]
    fn the_timeline_keeps_the_newest_steps_and_counts_the_dropped() {
        let mut i = PeerInspection::default();
        for n in 0..STEP_LIMIT + 5 {
            i.step(n as f64, StepKind::GatheringComplete, None);
        }
        assert_eq!(i.steps().len(), STEP_LIMIT);
        assert_eq!(i.dropped_steps(), 5);
        assert_eq!(i.steps().next().unwrap().at_ms, 5.0);
        assert!(i.steps().all(|s| s.side.is_none()));
    }

    fn end(kind: CandidateType, address: &str) -> CandidateInfo {
        CandidateInfo {
            kind: Some(kind),
            address: address.into(),
            protocol: "udp".into(),
            relay_protocol: None,
        }
    }

    /// Host to host on one network.
    fn direct() -> SelectedPair {
        SelectedPair {
            local: end(CandidateType::Host, "192.0.2.10:50000"),
            remote: end(CandidateType::Host, "192.0.2.20:50002"),
        }
    }

    /// Through this side's TURN allocation.
    fn relayed() -> SelectedPair {
        SelectedPair {
            local: end(CandidateType::Relay, "198.51.100.1:3478"),
            remote: end(CandidateType::Host, "192.0.2.20:50002"),
        }
    }

    fn reading(at: f64, sent: f64, pair: Option<SelectedPair>) -> StatsSnapshot {
        StatsSnapshot {
            timestamp_ms: at,
            transport_bytes_sent: sent,
            rtt_ms: pair.as_ref().map(|_| 12.0),
            pair,
            ..Default::default()
        }
    }

    #[test]
    fn readings_chart_the_rates_and_record_each_change_of_path() {
        let (direct, relayed) = (direct(), relayed());
        let mut i = PeerInspection::default();
        // (time, bytes sent, pair, sent kbit/s charted, paths recorded, last step's code)
        let table = [
            (1000.0, 0.0, None, None, 0, None),
            (
                2000.0,
                125_000.0,
                Some(direct.clone()),
                Some(1000.0),
                1,
                Some("path"),
            ),
            (
                3000.0,
                250_000.0,
                Some(direct.clone()),
                Some(1000.0),
                1,
                Some("path"),
            ),
            (4000.0, 250_000.0, None, Some(0.0), 1, Some("path")),
            (
                5000.0,
                500_000.0,
                Some(relayed.clone()),
                Some(2000.0),
                2,
                Some("path"),
            ),
        ];
        for (at, sent, pair, kbps, paths, code) in table {
            i.sample(at, reading(at, sent, pair));
            assert_eq!(i.charts().sent.latest(), kbps, "at {at}");
            assert_eq!(i.paths().len(), paths, "at {at}");
            assert_eq!(i.steps().last().map(|s| s.kind.code()), code, "at {at}");
        }
        let steps: Vec<_> = i.steps().map(|s| s.kind.clone()).collect();
        assert_eq!(steps.len(), 2, "one step per selection, none for a repeat");
        assert!(matches!(
            steps[0],
            StepKind::PathSelected {
                path: NetworkPath::Direct,
                changed: false,
                ..
            }
        ));
        assert!(matches!(
            steps[1],
            StepKind::PathSelected {
                path: NetworkPath::Relayed(_),
                changed: true,
                ..
            }
        ));
        assert_eq!(i.paths().nth(1).unwrap().at_ms, 5000.0);
        assert_eq!(i.readings(), 5);
        assert_eq!(i.charts().rtt.latest(), Some(12.0));
        assert_eq!(i.charts().sent.values().count(), 5, "a point per reading");
    }

    #[test]
    fn a_reading_that_is_not_newer_is_dropped() {
        let (direct, relayed) = (direct(), relayed());
        let mut i = PeerInspection::default();
        // (report time, pair, readings kept, paths recorded)
        let table = [
            (1000.0, direct.clone(), 1, 1),
            (3000.0, relayed.clone(), 2, 2),
            // An older reading that resolved late: no flip back to the direct pair.
            (2000.0, direct.clone(), 2, 2),
            (3000.0, relayed.clone(), 2, 2),
            (4000.0, relayed.clone(), 3, 2),
        ];
        for (at, pair, readings, paths) in table {
            i.sample(at, reading(at, 0.0, Some(pair)));
            assert_eq!(
                (i.readings(), i.paths().len()),
                (readings, paths),
                "at {at}"
            );
        }
        assert_eq!(i.charts().sent.values().count(), 3);
    }

    #[test]
    fn the_paths_are_bounded_and_count_the_dropped() {
        let mut i = PeerInspection::default();
        for n in 0..PATH_LIMIT + 3 {
            let pair = SelectedPair {
                local: end(CandidateType::Host, &format!("192.0.2.10:{n}")),
                remote: end(CandidateType::Host, "192.0.2.20:50002"),
            };
            let at = (n as f64 + 1.0) * 1000.0;
            i.sample(at, reading(at, 0.0, Some(pair)));
        }
        assert_eq!(i.paths().len(), PATH_LIMIT);
        assert_eq!(i.dropped_paths(), 3);
        assert_eq!(i.paths().next().unwrap().pair.local.address, "192.0.2.10:3");
    }

    #[test]
    fn descriptions_and_the_cap_are_kept_as_given() {
        let mut i = PeerInspection::default();
        assert!(i.local_description().is_none());
        let offer = || {
            Some(Sdp {
                kind: SdpKind::Offer,
                text: "v=0\r\n".into(),
            })
        };
        assert!(
            i.descriptions(offer(), None),
            "a new description is a change"
        );
        assert!(!i.descriptions(offer(), None), "the same one again is not");
        assert_eq!(i.local_description().unwrap().kind, SdpKind::Offer);
        assert!(i.remote_description().is_none());
        i.set_sender_cap(Some(625_000));
        assert_eq!(i.sender_cap_bps(), Some(625_000));
    }
}
