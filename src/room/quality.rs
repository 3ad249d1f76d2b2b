//! A peer connection's quality in one line, from two consecutive `getStats` snapshots: round-trip time,
//! packets lost since the last poll (as a share of the packets that arrived, when known), and the selected
//! candidate types — e.g. "RTT 4 ms · loss 0% · host→host". Pure.

use crate::rtc::stats::StatsSnapshot;

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
    /// `host`, `srflx`, `prflx` or `relay` on each end of the selected pair.
    pub local_type: Option<&'static str>,
    pub remote_type: Option<&'static str>,
    pub grade: Grade,
}

impl Quality {
    /// The quality between `previous` (if any) and `current`.
    pub fn between(previous: Option<&StatsSnapshot>, current: &StatsSnapshot) -> Quality {
        let lost = previous
            .map(|p| (current.packets_lost - p.packets_lost).max(0.0))
            .unwrap_or(0.0);
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
            Some(rtt) if rtt > 400.0 || lost > 50.0 => Grade::Poor,
            Some(rtt) if rtt > 150.0 || lost > 5.0 => Grade::Fair,
            Some(_) => Grade::Good,
        };
        Quality {
            rtt_ms: current.rtt_ms,
            lost,
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
        format!("{rtt} · lost {} · {path}", self.lost as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtc::stats::{CandidateInfo, SelectedPair};
    use crate::rtc::CandidateType;

    fn snapshot(rtt: Option<f64>, lost: f64) -> StatsSnapshot {
        StatsSnapshot {
            rtt_ms: rtt,
            packets_lost: lost,
            pair: Some(SelectedPair {
                local: CandidateInfo {
                    kind: Some(CandidateType::Host),
                    address: "127.0.0.1:5000".into(),
                    protocol: "udp".into(),
                },
                remote: CandidateInfo {
                    kind: Some(CandidateType::Relay),
                    address: "127.0.0.1:6000".into(),
                    protocol: "udp".into(),
                },
            }),
            ..StatsSnapshot::default()
        }
    }

    #[test]
    fn summary_names_rtt_loss_since_last_poll_and_candidate_types() {
        let q = Quality::between(Some(&snapshot(Some(3.0), 10.0)), &snapshot(Some(3.6), 12.0));
        assert_eq!(q.summary(), "RTT 4 ms · lost 2 · host→relay");
        assert_eq!(q.grade, Grade::Good);
    }

    #[test]
    fn grade_follows_rtt_and_loss() {
        let q = |rtt, lost| Quality::between(Some(&snapshot(Some(1.0), 0.0)), &snapshot(rtt, lost));
        assert_eq!(q(Some(200.0), 0.0).grade, Grade::Fair);
        assert_eq!(q(Some(20.0), 10.0).grade, Grade::Fair);
        assert_eq!(q(Some(500.0), 0.0).grade, Grade::Poor);
        assert_eq!(q(None, 0.0).grade, Grade::Unknown);
    }

    #[test]
    fn first_poll_and_a_connection_without_a_pair_say_so() {
        let mut bare = StatsSnapshot::default();
        bare.packets_lost = 7.0;
        let q = Quality::between(None, &bare);
        assert_eq!(q.summary(), "RTT – · lost 0 · path –");
    }
}
