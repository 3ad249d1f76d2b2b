//! Abuse limits as plain data: a per-connection message rate limit, and a count of open connections per
//! client address.
//!
//! The rate limiter takes the current time as an argument and the address counter is a map behind one lock,
//! so both are tested here without sockets or sleeping. Neither sends anything; [`crate::socket`] and
//! [`crate::upgrade`] carry out what they decide.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the rate limiter says about one incoming message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit: handle it.
    Allow,
    /// Over the limit, the first of a run: drop it and tell the client once (`rate_limited`).
    Refuse,
    /// Over the limit again: drop it silently, so a flood is not answered with a flood of errors.
    Drop,
    /// The client kept sending at well over twice the rate: close the connection.
    Close,
}

/// A token bucket (`burst` tokens, refilled at `per_sec`), plus a second bucket of strikes that fills by one
/// per dropped message and drains at the same rate. A client sending at up to twice the rate only loses
/// messages; one sending faster collects strikes faster than they drain and is closed once they exceed
/// `burst`. At ten times the rate that takes `burst / (8 × rate)` seconds.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    /// Messages allowed per second, sustained; 0 turns the limiter off.
    per_sec: f64,
    /// How many messages may arrive at once (a join's flurry of ICE candidates).
    burst: f64,
    /// Tokens left; one per message.
    tokens: f64,
    /// Dropped messages not yet forgiven.
    strikes: f64,
    /// When `tokens` and `strikes` were last brought up to date.
    updated: Instant,
    /// Whether the previous message was refused, so only the first of a run gets an error.
    refusing: bool,
}

impl RateLimiter {
    /// A full bucket at `now`.
    pub fn new(per_sec: u32, burst: u32, now: Instant) -> Self {
        RateLimiter {
            per_sec: per_sec as f64,
            burst: burst.max(1) as f64,
            tokens: burst.max(1) as f64,
            strikes: 0.0,
            updated: now,
            refusing: false,
        }
    }

    /// Decides about one message arriving at `now`.
    pub fn check(&mut self, now: Instant) -> Verdict {
        if self.per_sec == 0.0 {
            return Verdict::Allow;
        }
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.updated = now;
        let refill = elapsed * self.per_sec;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.strikes = (self.strikes - refill).max(0.0);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refusing = false;
            return Verdict::Allow;
        }
        self.strikes += 1.0;
        if self.strikes > self.burst {
            return Verdict::Close;
        }
        if std::mem::replace(&mut self.refusing, true) {
            Verdict::Drop
        } else {
            Verdict::Refuse
        }
    }
}

/// Open connections per client address, with a cap. A slot is held by an [`IpSlot`] and given back when it
/// drops, so a connection that ends in any way frees its slot.
#[derive(Debug, Default)]
pub struct IpLimiter {
    /// Open connections per address; an address with none has no entry, so the map stays as small as the
    /// set of connected addresses.
    open: Mutex<HashMap<IpAddr, u32>>,
}

/// One connection's place in the [`IpLimiter`].
#[derive(Debug)]
pub struct IpSlot {
    limiter: Arc<IpLimiter>,
    ip: IpAddr,
}

impl IpLimiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, u32>> {
        // Each critical section is one map update; a panic cannot leave it half done.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a slot for `ip` unless it already holds `max` (0 means no cap).
    pub fn acquire(self: &Arc<Self>, ip: IpAddr, max: u32) -> Option<IpSlot> {
        let mut open = self.lock();
        let count = open.entry(ip).or_insert(0);
        if max != 0 && *count >= max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            limiter: self.clone(),
            ip,
        })
    }

    /// How many connections `ip` holds.
    pub fn open(&self, ip: IpAddr) -> u32 {
        self.lock().get(&ip).copied().unwrap_or(0)
    }

    /// How many addresses hold at least one connection.
    pub fn addresses(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.limiter.lock();
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_within_the_limit_passes_and_the_bucket_refills() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(10, 50, t0);
        for _ in 0..50 {
            assert_eq!(limiter.check(t0), Verdict::Allow);
        }
        assert_eq!(limiter.check(t0), Verdict::Refuse);
        assert_eq!(
            limiter.check(t0),
            Verdict::Drop,
            "only the first of a run is answered"
        );
        // 100 ms at 10/s is one token.
        assert_eq!(limiter.check(t0 + ms(100)), Verdict::Allow);
        assert_eq!(limiter.check(t0 + ms(100)), Verdict::Refuse);
    }

    #[test]
    fn twice_the_rate_loses_messages_but_is_never_closed() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(10, 20, t0);
        let mut allowed = 0;
        // 20 messages a second for a minute.
        for i in 1..=1_200 {
            match limiter.check(t0 + ms(50 * i)) {
                Verdict::Allow => allowed += 1,
                Verdict::Refuse | Verdict::Drop => {}
                Verdict::Close => panic!("closed at message {i}"),
            }
        }
        assert!((590..=630).contains(&allowed), "{allowed} allowed");
    }

    #[test]
    fn ten_times_the_rate_is_closed_after_burst_over_eight_times_the_rate() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(10, 20, t0);
        // 100 messages a second: the bucket empties in 0.2 s, then strikes grow by 8 per 0.1 s.
        let closed_at = (1..=10_000u64)
            .find(|i| limiter.check(t0 + ms(10 * i)) == Verdict::Close)
            .expect("closed");
        let seconds = closed_at as f64 / 100.0;
        assert!((0.3..0.7).contains(&seconds), "closed after {seconds} s");
    }

    #[test]
    fn a_zero_rate_turns_the_limiter_off() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(0, 1, t0);
        assert!((0..10_000).all(|_| limiter.check(t0) == Verdict::Allow));
    }

    #[test]
    fn address_slots_are_capped_and_given_back_on_drop() {
        let limiter = Arc::new(IpLimiter::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = limiter.acquire(a, 2).unwrap();
        let _second = limiter.acquire(a, 2).unwrap();
        assert!(limiter.acquire(a, 2).is_none(), "third from one address");
        let _other = limiter
            .acquire(b, 2)
            .expect("other addresses are unaffected");
        drop(first);
        assert_eq!(limiter.open(a), 1);
        let _again = limiter.acquire(a, 2).expect("a freed slot is reusable");
        drop(_other);
        assert_eq!(
            limiter.addresses(),
            1,
            "an address with no connection has no entry"
        );
        assert!(
            (0..100).all(|_| limiter.acquire(b, 0).is_some()),
            "0 means no cap"
        );
    }
}
