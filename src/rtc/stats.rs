//! `getStats` reports turned into typed samples, and the ring buffers the live charts draw.
//!
//! The browser glue hands [`parse_report`] the report as JSON text (the array of its stats objects); this
//! module picks out what the inspector shows: bytes and packets of the RTP streams, frame rate and
//! resolution of video, the round-trip time and local/remote candidate types of the *selected* candidate
//! pair, and the DTLS state of the transport. [`StatsSample::between`] turns two snapshots into rates.
//! It deliberately imports neither `web_sys` nor Leptos and never fails on unknown or missing fields: a
//! browser that reports less gives a sample with fewer values.

use std::collections::{BTreeMap, VecDeque};

use serde::Deserialize;

use super::negotiation::CandidateType;
use super::negotiation::RelayTransport;
use super::states::DtlsState;

/// The fields of a stats object that [`RawStat`] reads, as the browser names them. The glue serializes
/// only these (`JSON.stringify` with this list as its replacer), so a report's certificates, codec lines
/// and other fields are neither copied into text nor parsed: a room page reads the stats of up to seven
/// connections every two seconds.
pub const RAW_STAT_FIELDS: &[&str] = &[
    "id",
    "type",
    "timestamp",
    "kind",
    "bytesSent",
    "bytesReceived",
    "packetsLost",
    "packetsReceived",
    "framesPerSecond",
    "frameWidth",
    "frameHeight",
    "currentRoundTripTime",
    "selectedCandidatePairId",
    "dtlsState",
    "localCandidateId",
    "remoteCandidateId",
    "nominated",
    "state",
    "candidateType",
    "address",
    "port",
    "protocol",
    "relayProtocol",
];

/// One stats object, with only the fields this module reads (all optional; browsers differ).
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct RawStat {
    pub id: String,
    #[serde(rename = "type")]
    pub stat_type: String,
    pub timestamp: Option<f64>,
    /// `audio` or `video` on RTP stream stats.
    pub kind: Option<String>,
    pub bytes_sent: Option<f64>,
    pub bytes_received: Option<f64>,
    pub packets_lost: Option<f64>,
    pub packets_received: Option<f64>,
    pub frames_per_second: Option<f64>,
    pub frame_width: Option<f64>,
    pub frame_height: Option<f64>,
    pub current_round_trip_time: Option<f64>,
    pub selected_candidate_pair_id: Option<String>,
    pub dtls_state: Option<String>,
    pub local_candidate_id: Option<String>,
    pub remote_candidate_id: Option<String>,
    pub nominated: Option<bool>,
    pub state: Option<String>,
    pub candidate_type: Option<String>,
    pub address: Option<String>,
    pub port: Option<f64>,
    pub protocol: Option<String>,
    /// How a local relay candidate reaches its TURN server (`udp`, `tcp` or `tls`).
    pub relay_protocol: Option<String>,
}

/// One end of the selected candidate pair.
#[derive(Clone, Debug, PartialEq)]
pub struct CandidateInfo {
    /// host, srflx, prflx or relay; `None` when the browser did not say.
    pub kind: Option<CandidateType>,
    /// `address:port`, or what the browser gave of it.
    pub address: String,
    /// `udp` or `tcp`.
    pub protocol: String,
    /// How this end reaches its TURN server, for a local relay candidate; `None` for any other candidate
    /// (the browser reports it only for its own relay candidates).
    pub relay_protocol: Option<RelayTransport>,
}

/// The candidate pair ICE selected: the path media and data really take.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectedPair {
    pub local: CandidateInfo,
    pub remote: CandidateInfo,
}

/// The totals of one report, before rates are worked out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatsSnapshot {
    /// The report's time in milliseconds (`timestamp` of its stats); rates divide by its differences.
    pub timestamp_ms: f64,
    /// Bytes sent on every outbound RTP stream.
    pub bytes_sent: f64,
    /// Bytes received on every inbound RTP stream.
    pub bytes_received: f64,
    /// Bytes received on inbound *video* streams: the proof that remote video frames arrive.
    pub video_bytes_received: f64,
    /// Packets lost, as the receiving side counts them.
    pub packets_lost: f64,
    /// Packets received on every inbound RTP stream (with `packets_lost`, the share lost).
    pub packets_received: f64,
    /// Bytes the transport sent and received: media, data channels and their overhead, everything
    /// the connection carries (the inspector's bitrate each way, which a data-only chat has too).
    pub transport_bytes_sent: f64,
    pub transport_bytes_received: f64,
    /// Round-trip time of the selected candidate pair.
    pub rtt_ms: Option<f64>,
    /// Frames per second of received video, or of sent video when nothing is received.
    pub fps: Option<f64>,
    /// Width and height of received video, or of sent video when nothing is received.
    pub resolution: Option<(u32, u32)>,
    /// The selected candidate pair, once ICE has chosen one.
    pub pair: Option<SelectedPair>,
    /// The DTLS state of the transport.
    pub dtls_state: Option<DtlsState>,
}

/// A snapshot plus the rates since the previous one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatsSample {
    pub snapshot: StatsSnapshot,
    /// Sending bitrate in kbit/s since the previous sample.
    pub outbound_kbps: Option<f64>,
    /// Receiving bitrate in kbit/s since the previous sample.
    pub inbound_kbps: Option<f64>,
    /// Everything the transport sent, in kbit/s since the previous sample.
    pub transport_out_kbps: Option<f64>,
    /// Everything the transport received, in kbit/s since the previous sample.
    pub transport_in_kbps: Option<f64>,
    /// The share of RTP packets lost since the previous sample, in percent; `None` without RTP
    /// (data channels retransmit, so nothing is lost at this layer) or without a previous sample.
    pub loss_percent: Option<f64>,
}

impl StatsSample {
    /// The sample for `current`, with rates relative to `previous` when there is one.
    pub fn between(previous: Option<&StatsSnapshot>, current: StatsSnapshot) -> Self {
        let rate = |before: f64, after: f64, prev: &StatsSnapshot| {
            let seconds = (current.timestamp_ms - prev.timestamp_ms) / 1000.0;
            (seconds > 0.0 && after >= before).then(|| (after - before) * 8.0 / 1000.0 / seconds)
        };
        let outbound_kbps = previous.and_then(|p| rate(p.bytes_sent, current.bytes_sent, p));
        let inbound_kbps = previous.and_then(|p| rate(p.bytes_received, current.bytes_received, p));
        let transport_out_kbps =
            previous.and_then(|p| rate(p.transport_bytes_sent, current.transport_bytes_sent, p));
        let transport_in_kbps = previous.and_then(|p| {
            rate(
                p.transport_bytes_received,
                current.transport_bytes_received,
                p,
            )
        });
        let loss_percent = previous.and_then(|p| {
            let lost = current.packets_lost - p.packets_lost;
            let received = current.packets_received - p.packets_received;
            let total = lost.max(0.0) + received.max(0.0);
            (total > 0.0).then(|| lost.max(0.0) / total * 100.0)
        });
        StatsSample {
            snapshot: current,
            outbound_kbps,
            inbound_kbps,
            transport_out_kbps,
            transport_in_kbps,
            loss_percent,
        }
    }
}

/// Parses a report given as the JSON text of an array of stats objects.
pub fn parse_report(json: &str) -> Result<StatsSnapshot, String> {
    let raw: Vec<RawStat> = serde_json::from_str(json).map_err(|err| err.to_string())?;
    Ok(snapshot(&raw))
}

/// Folds the stats objects of one report into a snapshot.
pub fn snapshot(stats: &[RawStat]) -> StatsSnapshot {
    let by_id: BTreeMap<&str, &RawStat> = stats.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut snap = StatsSnapshot {
        timestamp_ms: stats.iter().filter_map(|s| s.timestamp).fold(0.0, f64::max),
        ..StatsSnapshot::default()
    };
    let mut inbound_video = None;
    let mut outbound_video = None;
    for stat in stats {
        match stat.stat_type.as_str() {
            "outbound-rtp" => {
                snap.bytes_sent += stat.bytes_sent.unwrap_or(0.0);
                if stat.kind.as_deref() == Some("video") {
                    outbound_video = Some(stat);
                }
            }
            "inbound-rtp" => {
                let bytes = stat.bytes_received.unwrap_or(0.0);
                snap.bytes_received += bytes;
                snap.packets_lost += stat.packets_lost.unwrap_or(0.0).max(0.0);
                snap.packets_received += stat.packets_received.unwrap_or(0.0).max(0.0);
                if stat.kind.as_deref() == Some("video") {
                    snap.video_bytes_received += bytes;
                    inbound_video = Some(stat);
                }
            }
            "transport" => {
                snap.transport_bytes_sent += stat.bytes_sent.unwrap_or(0.0);
                snap.transport_bytes_received += stat.bytes_received.unwrap_or(0.0);
                if let Some(state) = stat.dtls_state.as_deref().and_then(DtlsState::parse) {
                    snap.dtls_state = Some(state);
                }
            }
            _ => {}
        }
    }
    if let Some(video) = inbound_video.or(outbound_video) {
        snap.fps = video.frames_per_second;
        if let (Some(w), Some(h)) = (video.frame_width, video.frame_height) {
            snap.resolution = Some((w as u32, h as u32));
        }
    }
    if let Some(pair) = selected_pair(stats, &by_id) {
        snap.rtt_ms = pair.current_round_trip_time.map(|s| s * 1000.0);
        let end = |id: &Option<String>| {
            let c = id.as_deref().and_then(|id| by_id.get(id))?;
            let address = match (&c.address, c.port) {
                (Some(a), Some(p)) => format!("{a}:{p}"),
                (Some(a), None) => a.clone(),
                _ => String::from("(hidden)"),
            };
            Some(CandidateInfo {
                kind: c.candidate_type.as_deref().and_then(CandidateType::parse),
                address,
                protocol: c.protocol.clone().unwrap_or_default(),
                relay_protocol: c.relay_protocol.as_deref().and_then(RelayTransport::parse),
            })
        };
        if let (Some(local), Some(remote)) = (
            end(&pair.local_candidate_id),
            end(&pair.remote_candidate_id),
        ) {
            snap.pair = Some(SelectedPair { local, remote });
        }
    }
    snap
}

/// The transport's `selectedCandidatePairId` when the browser gives one (Chromium), else the nominated,
/// succeeded pair (Firefox).
fn selected_pair<'a>(
    stats: &'a [RawStat],
    by_id: &BTreeMap<&str, &'a RawStat>,
) -> Option<&'a RawStat> {
    stats
        .iter()
        .filter(|s| s.stat_type == "transport")
        .find_map(|t| t.selected_candidate_pair_id.as_deref())
        .and_then(|id| by_id.get(id).copied())
        .or_else(|| {
            stats.iter().find(|s| {
                s.stat_type == "candidate-pair"
                    && s.nominated == Some(true)
                    && s.state.as_deref() == Some("succeeded")
            })
        })
}

/// The last `capacity` values of one measurement, oldest first, for a live chart. A missing value is kept
/// as a gap so the time axis stays true.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    capacity: usize,
    values: VecDeque<Option<f64>>,
}

impl Series {
    pub fn new(capacity: usize) -> Self {
        Series {
            capacity: capacity.max(1),
            values: VecDeque::with_capacity(capacity),
        }
    }

    /// Appends a value, forgetting the oldest when full.
    pub fn push(&mut self, value: Option<f64>) {
        if self.values.len() == self.capacity {
            self.values.pop_front();
        }
        self.values.push_back(value.filter(|v| v.is_finite()));
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn values(&self) -> impl Iterator<Item = Option<f64>> + '_ {
        self.values.iter().copied()
    }

    /// The newest value, if it is not a gap.
    pub fn latest(&self) -> Option<f64> {
        self.values.back().copied().flatten()
    }

    /// The largest value held, for scaling the chart.
    pub fn max(&self) -> Option<f64> {
        self.values.iter().flatten().copied().reduce(f64::max)
    }

    /// The value at the top of a chart of this series: a tenth above the largest value, or above `limit`
    /// when that is larger (a cap drawn on the chart stays inside it).
    pub fn top(&self, limit: Option<f64>) -> f64 {
        let highest = self.max().unwrap_or(0.0).max(limit.unwrap_or(0.0));
        highest.max(1e-9) * 1.1
    }

    /// The points of an SVG polyline `width` × `height` high scaled to `top` ([`Series::top`]),
    /// right-aligned so the newest value is at the right edge; gaps split the line into several polylines.
    pub fn polylines(&self, width: f64, height: f64, top: f64) -> Vec<String> {
        let step = width / (self.capacity.saturating_sub(1).max(1)) as f64;
        let offset = self.capacity - self.values.len();
        let mut lines = Vec::new();
        let mut current = String::new();
        for (i, value) in self.values.iter().enumerate() {
            match value {
                Some(v) => {
                    let x = (offset + i) as f64 * step;
                    let y = height - (v / top) * height;
                    if !current.is_empty() {
                        current.push(' ');
                    }
                    current.push_str(&format!("{x:.1},{y:.1}"));
                }
                None => {
                    if !current.is_empty() {
                        lines.push(std::mem::take(&mut current));
                    }
                }
            }
        }
        if !current.is_empty() {
            lines.push(current);
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trimmed Chromium report of a video call over loopback.
    const REPORT: &str = r#"[
      {"id":"T01","type":"transport","timestamp":2000,"dtlsState":"connected","selectedCandidatePairId":"CP1",
       "bytesSent":320000,"bytesReceived":260000},
      {"id":"CP1","type":"candidate-pair","timestamp":2000,"localCandidateId":"IL1","remoteCandidateId":"IR1",
       "state":"succeeded","nominated":true,"currentRoundTripTime":0.004},
      {"id":"CP2","type":"candidate-pair","timestamp":2000,"localCandidateId":"IL2","remoteCandidateId":"IR1",
       "state":"failed","nominated":false,"currentRoundTripTime":0.5},
      {"id":"IL1","type":"local-candidate","address":"127.0.0.1","port":50000,"protocol":"udp","candidateType":"host"},
      {"id":"IL2","type":"local-candidate","address":"203.0.113.5","port":50001,"protocol":"udp","candidateType":"srflx"},
      {"id":"IR1","type":"remote-candidate","address":"127.0.0.1","port":50002,"protocol":"udp","candidateType":"host"},
      {"id":"OT1","type":"outbound-rtp","timestamp":2000,"kind":"video","bytesSent":250000,"framesPerSecond":30,"frameWidth":640,"frameHeight":480},
      {"id":"OT2","type":"outbound-rtp","timestamp":2000,"kind":"audio","bytesSent":50000},
      {"id":"IT1","type":"inbound-rtp","timestamp":2000,"kind":"video","bytesReceived":200000,"packetsLost":3,"packetsReceived":297,
       "framesPerSecond":29,"frameWidth":320,"frameHeight":240},
      {"id":"IT2","type":"inbound-rtp","timestamp":2000,"kind":"audio","bytesReceived":40000,"packetsLost":1,"packetsReceived":99},
      {"id":"CO1","type":"codec","mimeType":"video/VP8"}
    ]"#;

    #[test]
    fn report_yields_totals_rtt_video_and_the_selected_pair() {
        let snap = parse_report(REPORT).unwrap();
        assert_eq!(snap.timestamp_ms, 2000.0);
        assert_eq!(snap.bytes_sent, 300_000.0);
        assert_eq!(snap.bytes_received, 240_000.0);
        assert_eq!(snap.video_bytes_received, 200_000.0);
        assert_eq!(snap.packets_lost, 4.0);
        assert_eq!(snap.packets_received, 396.0);
        assert_eq!(snap.transport_bytes_sent, 320_000.0);
        assert_eq!(snap.transport_bytes_received, 260_000.0);
        assert_eq!(
            snap.rtt_ms,
            Some(4.0),
            "the selected pair's RTT, not the failed pair's"
        );
        assert_eq!(snap.fps, Some(29.0), "received video wins over sent video");
        assert_eq!(snap.resolution, Some((320, 240)));
        assert_eq!(snap.dtls_state, Some(DtlsState::Connected));
        let pair = snap.pair.unwrap();
        assert_eq!(pair.local.kind, Some(CandidateType::Host));
        assert_eq!(pair.local.address, "127.0.0.1:50000");
        assert_eq!(pair.remote.kind, Some(CandidateType::Host));
        assert_eq!(pair.remote.protocol, "udp");
    }

    #[test]
    fn nominated_pair_is_used_when_no_transport_names_one() {
        let report = REPORT.replace(r#""selectedCandidatePairId":"CP1""#, r#""x":1"#);
        let snap = parse_report(&report).unwrap();
        assert_eq!(snap.rtt_ms, Some(4.0));
        assert!(snap.pair.is_some());
    }

    #[test]
    fn relay_candidate_types_are_recognised() {
        let report = REPORT.replace(r#""candidateType":"host"}"#, r#""candidateType":"relay"}"#);
        let pair = parse_report(&report).unwrap().pair.unwrap();
        assert_eq!(pair.local.kind, Some(CandidateType::Relay));
        assert_eq!(pair.local.relay_protocol, None, "the report did not say");
    }

    #[test]
    fn a_local_relay_candidate_says_how_it_reaches_the_turn_server() {
        let report = REPORT.replace(
            r#""protocol":"udp","candidateType":"host"},
      {"id":"IL2""#,
            r#""protocol":"udp","candidateType":"relay","relayProtocol":"tcp"},
      {"id":"IL2""#,
        );
        let pair = parse_report(&report).unwrap().pair.unwrap();
        assert_eq!(pair.local.kind, Some(CandidateType::Relay));
        assert_eq!(pair.local.relay_protocol, Some(RelayTransport::Tcp));
        assert_eq!(pair.remote.relay_protocol, None);
    }

    #[test]
    fn bitrate_is_bytes_per_second_times_eight() {
        let before = StatsSnapshot {
            timestamp_ms: 1000.0,
            bytes_sent: 100_000.0,
            bytes_received: 40_000.0,
            ..Default::default()
        };
        let after = parse_report(REPORT).unwrap();
        let sample = StatsSample::between(Some(&before), after);
        assert_eq!(sample.outbound_kbps, Some(1600.0));
        assert_eq!(sample.inbound_kbps, Some(1600.0));
        assert_eq!(
            StatsSample::between(None, StatsSnapshot::default()).inbound_kbps,
            None
        );
    }

    #[test]
    fn transport_rates_and_loss_come_from_the_differences() {
        let before = StatsSnapshot {
            timestamp_ms: 1000.0,
            transport_bytes_sent: 195_000.0,
            transport_bytes_received: 260_000.0,
            packets_lost: 2.0,
            packets_received: 298.0,
            ..Default::default()
        };
        let sample = StatsSample::between(Some(&before), parse_report(REPORT).unwrap());
        assert_eq!(sample.transport_out_kbps, Some(1000.0));
        assert_eq!(sample.transport_in_kbps, Some(0.0));
        // 2 more lost, 98 more received: 2 %.
        assert_eq!(sample.loss_percent, Some(2.0));
        let no_rtp = StatsSnapshot {
            timestamp_ms: 2000.0,
            ..Default::default()
        };
        let sample = StatsSample::between(Some(&StatsSnapshot::default()), no_rtp);
        assert_eq!(sample.loss_percent, None, "no packets, no share");
        assert_eq!(sample.transport_out_kbps, Some(0.0));
    }

    #[test]
    fn the_serialized_fields_are_exactly_the_ones_read() {
        let raw = serde_json::to_value(RawStat::default()).unwrap();
        let mut read: Vec<&str> = raw
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut listed = RAW_STAT_FIELDS.to_vec();
        read.sort_unstable();
        listed.sort_unstable();
        assert_eq!(read, listed);
    }

    #[test]
    fn an_empty_or_sparse_report_is_not_an_error() {
        let snap = parse_report("[]").unwrap();
        assert_eq!(snap, StatsSnapshot::default());
        let snap = parse_report(r#"[{"id":"x","type":"inbound-rtp","kind":"video"}]"#).unwrap();
        assert_eq!(snap.resolution, None);
        assert!(parse_report("{").is_err());
    }

    #[test]
    fn series_keeps_the_newest_values_and_gaps() {
        let mut s = Series::new(3);
        for v in [Some(1.0), None, Some(3.0), Some(4.0)] {
            s.push(v);
        }
        assert_eq!(
            s.values().collect::<Vec<_>>(),
            vec![None, Some(3.0), Some(4.0)]
        );
        assert_eq!(s.latest(), Some(4.0));
        assert_eq!(s.max(), Some(4.0));
        let lines = s.polylines(100.0, 10.0, s.top(None));
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("50.0,"), "{lines:?}");
        assert!(
            lines[0].contains("100.0,"),
            "newest at the right edge: {lines:?}"
        );
    }

    #[test]
    fn the_top_leaves_room_above_the_largest_value_or_the_limit() {
        let mut s = Series::new(4);
        assert!(s.top(None) > 0.0, "an empty chart still has a scale");
        s.push(Some(100.0));
        // (limit, top)
        for (limit, top) in [(None, 110.0), (Some(50.0), 110.0), (Some(200.0), 220.0)] {
            assert!((s.top(limit) - top).abs() < 1e-9, "{limit:?}");
        }
        // At the top, a value of 100 is a tenth of the height below the edge.
        let line = &s.polylines(30.0, 11.0, 110.0)[0];
        assert_eq!(line, "30.0,1.0");
    }
}
