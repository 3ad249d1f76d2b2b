//! How often to repeat a reading that makes the page's main thread wait. Pure.
//!
//! Some browser calls the call view makes are synchronous round trips to the browser's WebRTC threads
//! (`RTCRtpReceiver.getSynchronizationSources` for the speaking lights). Those threads are busiest
//! exactly when a page can least afford to wait: while connections are being set up and every core is
//! encoding and decoding video. Measured at N = 6 before this module, the speaking lights' readings
//! alone held one page's main thread for 0.7 s of eight, and every relay message and browser event of
//! that page waited behind them. A [`Pace`] keeps such a reading to a bounded share of the main thread:
//! a reading that took long waits proportionally longer before the next, and a quick one comes back at
//! the nominal rate.

/// A nominal interval, the share of the main thread the reading may take, and the longest interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace {
    /// The interval while readings are quick, in milliseconds.
    pub every_ms: u32,
    /// The largest share of wall time (0 to 1) the readings may take.
    pub max_share: f64,
    /// The interval never grows past this, in milliseconds, so a light is never stale for longer.
    pub max_ms: u32,
}

/// The remote speaking lights: five readings a second while they are cheap, at most 5 % of the main
/// thread, and at least one every three seconds.
pub const SPEAKING_LIGHTS: Pace = Pace {
    every_ms: 200,
    max_share: 0.05,
    max_ms: 3_000,
};

impl Pace {
    /// The wait before the next reading, given that the last one took `spent_ms`. A negative or
    /// non-finite duration (a clock that stepped) counts as a quick reading.
    pub fn next_delay_ms(&self, spent_ms: f64) -> u32 {
        let spent = if spent_ms.is_finite() && spent_ms > 0.0 {
            spent_ms
        } else {
            0.0
        };
        let needed = spent / self.max_share;
        needed
            .clamp(f64::from(self.every_ms), f64::from(self.max_ms))
            .ceil() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_readings_keep_the_nominal_rate() {
        assert_eq!(SPEAKING_LIGHTS.next_delay_ms(0.0), 200);
        assert_eq!(SPEAKING_LIGHTS.next_delay_ms(2.0), 200);
        assert_eq!(SPEAKING_LIGHTS.next_delay_ms(10.0), 200);
    }

    #[test]
    fn a_slow_reading_waits_until_it_is_the_allowed_share_of_the_time() {
        // 40 ms at most 5 % of the time: the next one no sooner than 800 ms later.
        assert_eq!(SPEAKING_LIGHTS.next_delay_ms(40.0), 800);
        let delay = SPEAKING_LIGHTS.next_delay_ms(73.0);
        assert!(73.0 / f64::from(delay) <= SPEAKING_LIGHTS.max_share);
    }

    #[test]
    fn the_interval_is_bounded_so_a_light_is_never_stale_for_long() {
        assert_eq!(SPEAKING_LIGHTS.next_delay_ms(1_000.0), 3_000);
        assert_eq!(SPEAKING_LIGHTS.next_delay_ms(f64::MAX), 3_000);
    }

    #[test]
    fn a_clock_that_stepped_back_or_broke_counts_as_quick() {
        assert_eq!(SPEAKING_LIGHTS.next_delay_ms(-5.0), 200);
        assert_eq!(SPEAKING_LIGHTS.next_delay_ms(f64::NAN), 200);
        assert_eq!(SPEAKING_LIGHTS.next_delay_ms(f64::INFINITY), 200);
    }
}
