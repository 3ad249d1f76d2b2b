//! When to reconnect to the relay, and how long to wait first: exponential backoff with jitter.
//!
//! Pure: the randomness is passed in (a number in `[0, 1)`), so every delay is tested natively. The hook
//! (`super::hook`) asks [`should_reconnect`] after a close and waits [`Backoff::next_delay`] before the next
//! attempt; a welcome resets the backoff.

use peerlab_protocol::close_code::{JOIN_TIMEOUT, REPLACED};

/// The first retry waits about this long.
pub const BASE_DELAY_MS: u32 = 500;
/// No retry waits longer than this, however long the relay has been away.
pub const MAX_DELAY_MS: u32 = 15_000;

/// Exponential backoff with "equal jitter": attempt `n` waits between half and all of
/// `min(MAX, BASE · 2ⁿ⁻¹)`. The jitter spreads the reconnects of many clients after a relay restart, so
/// they do not all arrive in the same millisecond; the half that is not random keeps the wait growing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    base_ms: u32,
    max_ms: u32,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(BASE_DELAY_MS, MAX_DELAY_MS)
    }
}

impl Backoff {
    pub fn new(base_ms: u32, max_ms: u32) -> Self {
        Backoff {
            base_ms: base_ms.max(1),
            max_ms: max_ms.max(base_ms.max(1)),
            attempt: 0,
        }
    }

    /// How many attempts have been scheduled since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The wait before the next attempt; `random` is uniform in `[0, 1)` (values outside are clamped).
    pub fn next_delay(&mut self, random: f64) -> u32 {
        self.attempt = self.attempt.saturating_add(1);
        let doublings = (self.attempt - 1).min(31);
        let ceiling = u64::from(self.base_ms)
            .saturating_mul(1u64 << doublings)
            .min(u64::from(self.max_ms));
        let half = ceiling / 2;
        let random = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let jitter = ((ceiling - half) as f64 * random) as u64;
        u32::try_from(half + jitter).unwrap_or(self.max_ms)
    }

    /// The connection is back: the next loss starts from the shortest wait again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Whether a connection that closed with `code` should be re-established by itself. `refused` is true when
/// the relay turned the join down (a full room, a bad token): trying again would only be refused again.
pub fn should_reconnect(code: u16, refused: bool) -> bool {
    if refused {
        return false;
    }
    // 4004: another connection took this peer id over (the same user in a newer socket); reconnecting would
    // take it back and start a tug of war. 4003: the relay waited for a join that this client never sent,
    // which means this client is broken, not the network.
    !matches!(code, REPLACED | JOIN_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerlab_protocol::close_code::{KEEPALIVE_TIMEOUT, SLOW_CONSUMER};

    #[test]
    fn delays_double_up_to_the_cap() {
        let mut b = Backoff::default();
        let top: Vec<u32> = (0..8).map(|_| b.next_delay(0.999_999)).collect();
        assert_eq!(top, vec![499, 999, 1999, 3999, 7999, 14999, 14999, 14999]);
        assert_eq!(b.attempt(), 8);
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_ceiling() {
        let mut low = Backoff::default();
        let mut high = Backoff::default();
        for _ in 0..10 {
            let (l, h) = (low.next_delay(0.0), high.next_delay(0.999));
            assert!(l <= h);
            assert!(h <= MAX_DELAY_MS);
            assert!(l >= h / 2 - 1, "{l} vs {h}");
        }
    }

    #[test]
    fn reset_starts_over_and_bad_randomness_is_clamped() {
        let mut b = Backoff::default();
        b.next_delay(0.5);
        b.next_delay(0.5);
        b.reset();
        assert_eq!(b.attempt(), 0);
        assert_eq!(b.next_delay(f64::NAN), BASE_DELAY_MS / 2);
        assert_eq!(b.next_delay(7.0), 1000);
        assert_eq!(b.next_delay(-3.0), 1000);
    }

    #[test]
    fn many_attempts_never_overflow() {
        let mut b = Backoff::new(u32::MAX, u32::MAX);
        let delays: Vec<u32> = (0..100).map(|_| b.next_delay(0.999_999)).collect();
        assert!(delays.windows(2).all(|w| w[0] <= w[1]), "never shrinks");
        assert_eq!(b.attempt(), 100);
    }

    #[test]
    fn refused_joins_and_replaced_sessions_do_not_reconnect() {
        assert!(should_reconnect(1006, false), "an abnormal drop reconnects");
        assert!(
            should_reconnect(1001, false),
            "a relay going away reconnects"
        );
        assert!(should_reconnect(KEEPALIVE_TIMEOUT, false));
        assert!(should_reconnect(SLOW_CONSUMER, false));
        assert!(
            !should_reconnect(1006, true),
            "a refused join is not retried"
        );
        assert!(!should_reconnect(REPLACED, false));
        assert!(!should_reconnect(JOIN_TIMEOUT, false));
    }
}
