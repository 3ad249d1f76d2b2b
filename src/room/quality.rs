//! A peer connection's quality in one line, from two consecutive `getStats` snapshots: round-trip time,
//! the share of packets lost since the last poll, and the selected candidate types — e.g.
//! "RTT 4 ms · loss 0.0% · host→host". Pure.

use crate::rtc::stats::StatsSnapshot;

/// Loss above this share of packets since the last poll makes a connection "fair".
const FAIR_LOSS: f64 = 0.02;
/// Loss above this share makes it "poor".
const POOR_LOSS: f64 = 0.10;

/// How a tile rates its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grade {
    Good,
    Fair,
    Poor,
    Unknown,
}

impl Grade {
    pub fn token(self) -> &'static str {
        match self {
            Grade::Good => "good",
            Grade::Fair => "fair",
            Grade::Poor => "poor",
            Grade::Unknown => "unknown",
        }
    }
}

/// What a tile shows about its connection.
#[derive(Clone, Debug, PartialEq)]
pub struct Quality {
    pub rtt_ms: Option<f64>,
    /// Packets lost since the previous snapshot.
    pub lost: f64,
    /// `lost` as a share (0 to 1) of the packets expected since the previous snapshot (lost +
    /// received); `None` on the first poll or when no packet was expected.
    pub loss: Option<f64>,
    /// `host`, `srflx`, `prflx` or `relay` on each end of the selected pair.
    pub local_type: Option<&'static str>,
    pub remote_type: Option<&'static str>,
    pub grade: Grade,
}

impl Quality {
    /// The quality between `previous` (if any) and `current`.
    pub fn between(previous: Option<&StatsSnapshot>, current: &StatsSnapshot) -> Quality {
        let delta = |now: f64, then: f64| (now - then).max(0.0);
        let (lost, received) = previous
            .map(|p| {
                (
                    delta(current.packets_lost, p.packets_lost),
                    delta(current.packets_received, p.packets_received),
                )
            })
            .unwrap_or((0.0, 0.0));
        let expected = lost + received;
        let loss = (previous.is_some() && expected > 0.0).then(|| lost / expected);
        let (local_type, remote_type) = current
            .pair
            .as_ref()
            .map(|p| {
                (
                    p.local.kind.map(|k| k.as_str()),
                    p.remote.kind.map(|k| k.as_str()),
                )
            })
            .unwrap_or((None, None));
        let grade = match current.rtt_ms {
            None => Grade::Unknown,
            Some(rtt) if rtt > 400.0 || loss.is_some_and(|l| l > POOR_LOSS) => Grade::Poor,
            Some(rtt) if rtt > 150.0 || loss.is_some_and(|l| l > FAIR_LOSS) => Grade::Fair,
            Some(_) => Grade::Good,
        };
        Quality {
            rtt_ms: current.rtt_ms,
            lost,
            loss,
            local_type,
            remote_type,
            grade,
        }
    }

    /// The one line a tile shows.
    pub fn summary(&self) -> String {
        let rtt = self
            .rtt_ms
            .map(|ms| format!("RTT {} ms", ms.round() as u64))
            .unwrap_or_else(|| "RTT –".to_owned());
        let path = match (self.local_type, self.remote_type) {
            (Some(l), Some(r)) => format!("{l}→{r}"),
            _ => "path –".to_owned(),
        };
        let loss = self
            .loss
            .map(|l| format!("loss {:.1}%", l * 100.0))
            .unwrap_or_else(|| "loss –".to_owned());
        format!("{rtt} · {loss} · {path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtc::stats::{CandidateInfo, SelectedPair};
    use crate::rtc::CandidateType;

    fn snapshot(rtt: Option<f64>, lost: f64, received: f64) -> StatsSnapshot {
        StatsSnapshot {
            rtt_ms: rtt,
            packets_lost: lost,
            packets_received: received,
            pair: Some(SelectedPair {
                local: CandidateInfo {
                    kind: Some(CandidateType::Host),
                    address: "127.0.0.1:5000".into(),
                    protocol: "udp".into(),
                    relay_protocol: None,
                },
                remote: CandidateInfo {
                    kind: Some(CandidateType::Relay),
                    address: "127.0.0.1:6000".into(),
                    protocol: "udp".into(),
                    relay_protocol: None,
                },
            }),
            ..StatsSnapshot::default()
        }
    }

    #[test]
    fn summary_names_rtt_loss_share_since_last_poll_and_candidate_types() {
        // 2 lost and 198 received since the last poll: 1% of 200.
        let q = Quality::between(
            Some(&snapshot(Some(3.0), 10.0, 1000.0)),
            &snapshot(Some(3.6), 12.0, 1198.0),
        );
        assert_eq!(q.summary(), "RTT 4 ms · loss 1.0% · host→relay");
        assert_eq!(q.lost, 2.0);
        assert_eq!(q.grade, Grade::Good);
    }

    #[test]
    fn grade_follows_rtt_and_loss_share() {
        let before = snapshot(Some(1.0), 0.0, 0.0);
        let q =
            |rtt, lost, received| Quality::between(Some(&before), &snapshot(rtt, lost, received));
        assert_eq!(q(Some(200.0), 0.0, 100.0).grade, Grade::Fair);
        assert_eq!(q(Some(20.0), 3.0, 97.0).grade, Grade::Fair);
        assert_eq!(q(Some(20.0), 11.0, 89.0).grade, Grade::Poor);
        assert_eq!(q(Some(500.0), 0.0, 100.0).grade, Grade::Poor);
        assert_eq!(q(None, 0.0, 100.0).grade, Grade::Unknown);
        // Ten packets lost of a thousand is 1%: good, where a count alone would have looked bad.
        assert_eq!(q(Some(20.0), 10.0, 990.0).grade, Grade::Good);
    }

    #[test]
    fn first_poll_a_quiet_connection_and_one_without_a_pair_say_so() {
        let bare = snapshot(None, 7.0, 50.0);
        let first = Quality::between(
            None,
            &StatsSnapshot {
                pair: None,
                ..bare.clone()
            },
        );
        assert_eq!(first.summary(), "RTT – · loss – · path –");
        // Nothing arrived and nothing was lost since the last poll: no share to show.
        let quiet = Quality::between(Some(&bare), &bare);
        assert_eq!(quiet.loss, None);
    }

    #[test]
    fn counters_that_went_backwards_count_as_nothing() {
        // A renegotiation can replace the inbound streams, restarting their counters.
        let q = Quality::between(
            Some(&snapshot(Some(2.0), 50.0, 5000.0)),
            &snapshot(Some(2.0), 1.0, 99.0),
        );
        assert_eq!(q.lost, 0.0);
        assert_eq!(q.loss, None);
    }
}
