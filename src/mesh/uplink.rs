//! What a full mesh costs this side's uplink, from the live figures: in a mesh every member sends one copy
//! of its media to each of the others (members − 1 streams), where through an SFU it would send one
//! copy, which the server forwards to everyone. The room's inspector shows both next to each other.
//! Pure.

/// This side's uplink as it is and as an SFU would make it.
#[derive(Clone, Debug, PartialEq)]
pub struct Uplink {
    /// Streams sent now: one per connection (members − 1).
    pub streams: usize,
    /// How many of them had a reading.
    pub measured: usize,
    /// The sum of what every connection sends, kbit/s.
    pub mesh_kbps: f64,
    /// What one stream to an SFU would take: the largest of the copies sent now (the SFU forwards the
    /// same stream to everyone, so it has to be the best one any receiver gets), kbit/s.
    pub sfu_kbps: f64,
}

impl Uplink {
    /// The uplink from the media bitrate each connection sends (`None`: no reading yet); `None` with no
    /// connection or no reading at all.
    pub fn of(per_connection_kbps: &[Option<f64>]) -> Option<Uplink> {
        let readings: Vec<f64> = per_connection_kbps
            .iter()
            .flatten()
            .copied()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .collect();
        let sfu_kbps = readings.iter().copied().reduce(f64::max)?;
        Some(Uplink {
            streams: per_connection_kbps.len(),
            measured: readings.len(),
            mesh_kbps: readings.iter().sum(),
            sfu_kbps,
        })
    }

    /// The comparison in one sentence.
    pub fn words(&self) -> String {
        let copies = match self.streams {
            1 => "1 copy".to_owned(),
            n => format!("{n} copies"),
        };
        let partial = if self.measured < self.streams {
            format!(" ({} of them measured so far)", self.measured)
        } else {
            String::new()
        };
        let saving = if self.mesh_kbps > 0.0 {
            format!(
                ", {:.0} % less",
                (1.0 - self.sfu_kbps / self.mesh_kbps) * 100.0
            )
        } else {
            String::new()
        };
        format!(
            "In this mesh you send {copies} of your media{partial}: {:.0} kbit/s in all. Through an SFU you \
             would send one, about {:.0} kbit/s{saving}, and the server would send it on to everyone.",
            self.mesh_kbps, self.sfu_kbps
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readings, then streams, measured, mesh kbit/s and SFU kbit/s.
    type Row<'a> = (&'a [Option<f64>], usize, usize, f64, f64);

    #[test]
    fn the_mesh_sends_every_copy_and_an_sfu_one() {
        let table: [Row; 4] = [
            (&[Some(600.0)], 1, 1, 600.0, 600.0),
            (
                &[Some(600.0), Some(550.0), Some(650.0)],
                3,
                3,
                1800.0,
                650.0,
            ),
            (&[Some(600.0), None], 2, 1, 600.0, 600.0),
            (
                &[Some(f64::NAN), Some(300.0), Some(-1.0)],
                3,
                1,
                300.0,
                300.0,
            ),
        ];
        for (readings, streams, measured, mesh, sfu) in table {
            let uplink = Uplink::of(readings).unwrap();
            assert_eq!(
                (
                    uplink.streams,
                    uplink.measured,
                    uplink.mesh_kbps,
                    uplink.sfu_kbps
                ),
                (streams, measured, mesh, sfu),
                "{readings:?}"
            );
        }
    }

    #[test]
    fn nothing_to_compare_without_a_reading() {
        assert_eq!(Uplink::of(&[]), None);
        assert_eq!(Uplink::of(&[None, None]), None);
    }

    #[test]
    fn the_sentence_gives_both_figures_and_the_saving() {
        let words = Uplink::of(&[Some(600.0), Some(600.0), Some(600.0)])
            .unwrap()
            .words();
        assert!(words.contains("3 copies"), "{words}");
        assert!(words.contains("1800 kbit/s in all"), "{words}");
        assert!(words.contains("about 600 kbit/s, 67 % less"), "{words}");
        let partial = Uplink::of(&[Some(500.0), None]).unwrap().words();
        assert!(partial.contains("(1 of them measured so far)"), "{partial}");
    }
}
