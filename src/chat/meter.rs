//! The throughput meter behind each transfer's rate, and the throttle that keeps progress updates (and
//! so re-renders) to a few per second however many chunks go by.
//!
//! Time is passed in (milliseconds from any fixed origin, e.g. `performance.now()`), so the meter is pure
//! and tested natively.

use std::collections::VecDeque;

/// How often a transfer's progress is published to the view, at most.
pub const PUBLISH_EVERY_MS: f64 = 100.0;

/// The rate is measured over this recent window, so it follows changes within a second or two.
pub const WINDOW_MS: f64 = 1_000.0;

/// Counts bytes over time.
#[derive(Clone, Debug, Default)]
pub struct Meter {
    /// (time, total bytes) samples within the window, oldest first.
    samples: VecDeque<(f64, u64)>,
    total: u64,
    /// When progress was last published; `None` before the first time.
    published_at: Option<f64>,
    /// When the byte count last grew; a stall is measured from here.
    progressed_at: Option<f64>,
}

impl Meter {
    pub fn new() -> Self {
        Meter::default()
    }

    /// Starts the clock (the transfer began at `now`, with no bytes yet).
    pub fn start(&mut self, now: f64) {
        self.samples.clear();
        self.samples.push_back((now, self.total));
        self.progressed_at = Some(now);
    }

    /// `bytes` more went by at `now`. Returns whether progress should be published now (the first
    /// time, and then at most every [`PUBLISH_EVERY_MS`]).
    pub fn add(&mut self, now: f64, bytes: u64) -> bool {
        self.total += bytes;
        if bytes > 0 {
            self.progressed_at = Some(now);
        }
        let due = self
            .published_at
            .is_none_or(|at| now - at >= PUBLISH_EVERY_MS);
        if due {
            self.sample(now);
            self.published_at = Some(now);
        }
        due
    }

    fn sample(&mut self, now: f64) {
        self.samples.push_back((now, self.total));
        while self.samples.len() > 2 && self.samples[1].0 <= now - WINDOW_MS {
            self.samples.pop_front();
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes per second over the recent window; `None` until some time has passed.
    pub fn rate(&self) -> Option<f64> {
        let (t0, b0) = *self.samples.front()?;
        let (t1, b1) = *self.samples.back()?;
        let dt = t1 - t0;
        (dt > 0.0).then(|| (b1 - b0) as f64 * 1000.0 / dt)
    }

    /// How long since the byte count last grew (or since the start).
    pub fn idle_ms(&self, now: f64) -> f64 {
        self.progressed_at.map_or(0.0, |at| now - at)
    }
}

/// A byte count as a person reads it: "512 B", "1.5 KiB", "3.0 MiB", "1.00 GiB".
pub fn format_bytes(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB {
        format!("{bytes} B")
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else if b < KIB * KIB * KIB {
        format!("{:.1} MiB", b / KIB / KIB)
    } else {
        format!("{:.2} GiB", b / KIB / KIB / KIB)
    }
}

/// A rate as a person reads it: "12.3 MiB/s", or "–" while unknown.
pub fn format_rate(rate: Option<f64>) -> String {
    match rate {
        Some(r) if r.is_finite() && r >= 0.0 => format!("{}/s", format_bytes(r as u64)),
        _ => "–".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishing_is_throttled() {
        let mut m = Meter::new();
        m.start(0.0);
        assert!(m.add(1.0, 10), "the first update is shown at once");
        let published = (2..200).filter(|t| m.add(*t as f64, 10)).count();
        assert_eq!(published, 1, "one more at 101 ms, none before");
        assert_eq!(m.total(), 1990);
    }

    #[test]
    fn the_rate_follows_the_recent_window() {
        let mut m = Meter::new();
        m.start(0.0);
        assert_eq!(m.rate(), None);
        // 1 MiB per 100 ms for two seconds: 10 MiB/s.
        for i in 1..=20 {
            m.add(i as f64 * 100.0, 1 << 20);
        }
        let rate = m.rate().unwrap();
        assert!((rate - 10.0 * 1048576.0).abs() < 1.0, "{rate}");
        // Then it slows to a tenth.
        for i in 21..=40 {
            m.add(i as f64 * 100.0, 1 << 17);
        }
        let rate = m.rate().unwrap();
        assert!((rate - 1.25 * 1048576.0).abs() < 1.0, "{rate}");
    }

    #[test]
    fn idle_time_counts_from_the_last_byte() {
        let mut m = Meter::new();
        m.start(1000.0);
        assert_eq!(m.idle_ms(1500.0), 500.0);
        m.add(2000.0, 5);
        m.add(3000.0, 0);
        assert_eq!(m.idle_ms(4000.0), 2000.0);
    }

    #[test]
    fn sizes_and_rates_read_naturally() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(format_bytes(1 << 30), "1.00 GiB");
        assert_eq!(format_rate(None), "–");
        assert_eq!(format_rate(Some(f64::NAN)), "–");
        assert_eq!(format_rate(Some(2048.0)), "2.0 KiB/s");
    }
}
