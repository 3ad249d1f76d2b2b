//! The mesh's bandwidth plan: in a full mesh every sender uploads one copy of its video per peer, so the
//! per-peer video bitrate is capped at a total uplink budget divided by the number of peers, kept between
//! a floor (below it video is not worth sending) and a ceiling (above it a one-to-one call gains little).
//! Pure; the call applies the cap with `RTCRtpSender.setParameters` (`encodings[0].maxBitrate`).

/// The whole uplink this app lets one person's video use, in bits per second.
pub const UPLINK_BUDGET_BPS: u32 = 2_500_000;
/// The lowest cap: a small picture at a low frame rate still fits.
pub const FLOOR_BPS: u32 = 150_000;
/// The highest cap, for a call with one other person.
pub const CEILING_BPS: u32 = 1_500_000;

/// The cap on each outgoing video for a call with `peers` other people. With nobody else there is
/// nothing to send, and the ceiling is returned.
pub fn video_cap_bps(peers: usize) -> u32 {
    let share = UPLINK_BUDGET_BPS / (peers.max(1) as u32);
    share.clamp(FLOOR_BPS, CEILING_BPS)
}

/// The cap as a person reads it: "625 kbit/s per peer", "1.5 Mbit/s per peer".
pub fn format_cap(bps: u32) -> String {
    if bps >= 1_000_000 {
        let mbps = f64::from(bps) / 1_000_000.0;
        format!("{} Mbit/s per peer", trim(mbps))
    } else {
        format!("{} kbit/s per peer", bps / 1_000)
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_divides_the_budget_between_peers_within_floor_and_ceiling() {
        let expected = [
            (0, 1_500_000),
            (1, 1_500_000),
            (2, 1_250_000),
            (3, 833_333),
            (4, 625_000),
            (5, 500_000),
            (7, 357_142),
            (20, 150_000),
        ];
        for (peers, cap) in expected {
            assert_eq!(video_cap_bps(peers), cap, "{peers} peers");
        }
    }

    #[test]
    fn cap_never_grows_as_peers_join() {
        for peers in 1..64 {
            assert!(video_cap_bps(peers + 1) <= video_cap_bps(peers));
            assert!((FLOOR_BPS..=CEILING_BPS).contains(&video_cap_bps(peers)));
        }
    }

    #[test]
    fn cap_reads_in_kbit_or_mbit() {
        assert_eq!(format_cap(625_000), "625 kbit/s per peer");
        assert_eq!(format_cap(1_500_000), "1.5 Mbit/s per peer");
        assert_eq!(format_cap(1_250_000), "1.25 Mbit/s per peer");
        assert_eq!(format_cap(2_000_000), "2 Mbit/s per peer");
    }
}
