//! Abuse limits as plain data: a per-connection message rate limit (by frames and bytes), a per-connection
//! budget for room changes (joins and renames, which every other member of the room hears of), a count of
//! open connections per client address, and the relay-wide connection cap.
//!
//! The limiters take the current time as an argument and the counters are maps or atomics, so all of them
//! are tested here without sockets or sleeping. None of them sends anything; [`crate::session`] and
//! [`crate::accept`] carry out what they decide.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How many bytes of a message cost one token beyond the token every message costs: a client that sends
/// large messages runs out sooner than one that sends small ones, so the limit bounds bytes as well as
/// frames. SDP offers (a few KB) cost 2; a 64 KiB message costs 17.
pub const BYTES_PER_TOKEN: usize = 4096;

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

/// A token bucket: `burst` tokens, refilled at `per_sec`.
#[derive(Clone, Debug)]
struct Bucket {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    /// When `tokens` was last brought up to date.
    updated: Instant,
}

impl Bucket {
    fn new(per_sec: f64, burst: f64, now: Instant) -> Self {
        Bucket {
            per_sec,
            burst,
            tokens: burst,
            updated: now,
        }
    }

    /// Refills for the time since the last call and returns how many tokens that was.
    fn refill(&mut self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.updated = now;
        let refill = elapsed * self.per_sec;
        self.tokens = (self.tokens + refill).min(self.burst);
        refill
    }

    /// Takes `cost` tokens if there are that many.
    fn take(&mut self, cost: f64) -> bool {
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }
}

/// A token bucket (`burst` tokens, refilled at `per_sec`), plus a second bucket of strikes that fills by the
/// cost of every dropped message and drains at the same rate. A client sending at up to twice the rate only
/// loses messages; one sending faster collects strikes faster than they drain and is closed once they
/// exceed `burst`. At ten times the rate that takes `burst / (8 × rate)` seconds.
///
/// Every frame a client sends is charged, control frames included: a pong that cost nothing let a client
/// keep a core busy with empty pongs. A message costs one token plus one per [`BYTES_PER_TOKEN`] bytes.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    /// Off (every message allowed) when the rate is 0.
    bucket: Option<Bucket>,
    /// Dropped cost not yet forgiven.
    strikes: f64,
    /// Whether the previous message was refused, so only the first of a run gets an error.
    refusing: bool,
}

impl RateLimiter {
    /// A full bucket at `now`; `per_sec` 0 turns the limiter off.
    pub fn new(per_sec: u32, burst: u32, now: Instant) -> Self {
        RateLimiter {
            bucket: (per_sec > 0).then(|| Bucket::new(per_sec as f64, burst.max(1) as f64, now)),
            strikes: 0.0,
            refusing: false,
        }
    }

    /// Decides about one small message arriving at `now`.
    pub fn check(&mut self, now: Instant) -> Verdict {
        self.charge(now, 0)
    }

    /// Decides about one message of `bytes` bytes arriving at `now`. Its cost is capped at half the burst,
    /// so a message the size limit allows can always pass a rested bucket.
    pub fn charge(&mut self, now: Instant, bytes: usize) -> Verdict {
        let Some(bucket) = &mut self.bucket else {
            return Verdict::Allow;
        };
        let cost = (1.0 + (bytes / BYTES_PER_TOKEN) as f64).min((bucket.burst / 2.0).max(1.0));
        let refill = bucket.refill(now);
        self.strikes = (self.strikes - refill).max(0.0);
        if bucket.take(cost) {
            self.refusing = false;
            return Verdict::Allow;
        }
        self.strikes += cost;
        if self.strikes > bucket.burst {
            return Verdict::Close;
        }
        if std::mem::replace(&mut self.refusing, true) {
            Verdict::Drop
        } else {
            Verdict::Refuse
        }
    }
}

/// How many room changes a connection may make at once (see [`ChangeLimiter`]).
pub const ROOM_CHANGE_BURST: u32 = 10;

/// Room changes a connection regains per second.
pub const ROOM_CHANGES_PER_SEC: u32 = 1;

/// What a join costs in room changes: its `member_joined`, and the `member_left` every join ends with.
pub const JOIN_COST: u32 = 2;

/// What a rename costs in room changes: its `member_renamed`.
pub const RENAME_COST: u32 = 1;

/// The budget of one connection for the changes every other member of its room hears of: joins (with the
/// leave that follows each) and renames.
///
/// Why a budget of its own: those notices go to every member through its queue (a signal to one member
/// can go straight into its socket, a notice cannot), so a burst of renames within the message rate limit
/// (900 in one write) filled the other members' queues and had them evicted as slow consumers. With at most
/// [`ROOM_CHANGE_BURST`] changes at once per member, the notices that the other members of a room of
/// `max_peers` can put in one queue at once are at most `(max_peers − 1) × ROOM_CHANGE_BURST`: 70 for the
/// default 8 members, well under the default queue of 256. People rename themselves and switch rooms a
/// few times a minute at most, so the budget costs them nothing. Over it a change is refused
/// (`rate_limited`, once per run) and the connection stays up; the message rate limit deals with floods.
#[derive(Clone, Debug)]
pub struct ChangeLimiter {
    bucket: Bucket,
    refusing: bool,
}

impl ChangeLimiter {
    /// A full budget at `now`.
    pub fn new(now: Instant) -> Self {
        ChangeLimiter {
            bucket: Bucket::new(ROOM_CHANGES_PER_SEC as f64, ROOM_CHANGE_BURST as f64, now),
            refusing: false,
        }
    }

    /// Decides about one change costing `cost` at `now`: [`Verdict::Allow`], or [`Verdict::Refuse`] for
    /// the first refused change of a run and [`Verdict::Drop`] for the rest. Never [`Verdict::Close`].
    pub fn check(&mut self, now: Instant, cost: u32) -> Verdict {
        self.bucket.refill(now);
        if self.bucket.take(cost as f64) {
            self.refusing = false;
            Verdict::Allow
        } else if std::mem::replace(&mut self.refusing, true) {
            Verdict::Drop
        } else {
            Verdict::Refuse
        }
    }
}

/// The address a per-address cap counts a client under: an IPv4 address as it is (an IPv4-mapped IPv6
/// address as its IPv4 address), an IPv6 address by its /64 prefix, because one subscriber usually holds
/// a whole /64 and could otherwise open the cap's worth of connections from each of 2^64 addresses.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// Open connections per client address (IPv6 by /64, see [`address_key`]), with a cap. A slot is held by an
/// [`IpSlot`] and given back when it drops, so a connection that ends in any way frees its slot.
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

    /// Takes a slot for `ip` unless its address (see [`address_key`]) already holds `max` (0 means no cap).
    pub fn acquire(self: &Arc<Self>, ip: IpAddr, max: u32) -> Option<IpSlot> {
        let ip = address_key(ip);
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
        self.lock().get(&address_key(ip)).copied().unwrap_or(0)
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

/// The relay's cap on open TCP connections (`--max-connections`), counted from accept until the
/// connection closes (a WebSocket's slot lives as long as the WebSocket), so that silent or slow clients
/// cannot take every file descriptor the process has and lock everyone else out.
#[derive(Debug)]
pub struct ConnectionGate {
    /// Open connections.
    open: AtomicUsize,
    /// The cap.
    max: usize,
}

/// One connection's place under the [`ConnectionGate`]; given back on drop.
#[derive(Debug)]
pub struct GateSlot {
    gate: Arc<ConnectionGate>,
}

impl ConnectionGate {
    /// A gate that lets at most `max` connections in at once.
    pub fn new(max: usize) -> Arc<ConnectionGate> {
        Arc::new(ConnectionGate {
            open: AtomicUsize::new(0),
            max,
        })
    }

    /// Takes a place unless `max` connections are open.
    pub fn enter(self: &Arc<Self>) -> Option<GateSlot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| GateSlot { gate: self.clone() })
    }

    /// How many connections hold a place.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }
}

impl Drop for GateSlot {
    fn drop(&mut self) {
        self.gate.open.fetch_sub(1, Ordering::AcqRel);
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

    #[test]
    fn every_message_costs_a_token_plus_one_per_4_kib() {
        let t0 = Instant::now();
        // (message bytes, how many such messages a full bucket of 100 takes)
        let cases = [
            (0, 100),
            (4_095, 100),
            (4_096, 50),
            (1_500, 100),
            (65_536, 5),
        ];
        for (bytes, allowed) in cases {
            let mut limiter = RateLimiter::new(10, 100, t0);
            let passed = (0..1_000)
                .take_while(|_| limiter.charge(t0, bytes) == Verdict::Allow)
                .count();
            assert_eq!(passed, allowed, "{bytes} bytes");
        }
    }

    #[test]
    fn a_message_over_half_the_burst_still_passes_a_rested_bucket() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(10, 20, t0);
        assert_eq!(limiter.charge(t0, 1 << 20), Verdict::Allow);
        assert_eq!(limiter.charge(t0, 1 << 20), Verdict::Allow);
        assert_eq!(limiter.charge(t0, 1 << 20), Verdict::Refuse);
    }

    #[test]
    fn a_flood_of_empty_frames_is_closed_like_any_flood() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(200, 1_000, t0);
        // Back-to-back empty frames, a million a second: the bucket and then the strikes run out.
        let closed_at = (1..=1_000_000u64)
            .find(|i| limiter.charge(t0 + Duration::from_micros(*i), 0) == Verdict::Close)
            .expect("closed");
        assert!(
            (2_000..2_100).contains(&closed_at),
            "closed at frame {closed_at}"
        );
    }

    #[test]
    fn room_changes_have_a_small_budget_that_refuses_once_per_run_and_never_closes() {
        let t0 = Instant::now();
        let mut changes = ChangeLimiter::new(t0);
        let verdicts: Vec<Verdict> = (0..900).map(|_| changes.check(t0, RENAME_COST)).collect();
        assert!(verdicts[..ROOM_CHANGE_BURST as usize]
            .iter()
            .all(|v| *v == Verdict::Allow));
        assert_eq!(verdicts[ROOM_CHANGE_BURST as usize], Verdict::Refuse);
        assert!(verdicts[ROOM_CHANGE_BURST as usize + 1..]
            .iter()
            .all(|v| *v == Verdict::Drop));
        // A join costs two; one second gives one back.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(
            changes.check(later, JOIN_COST),
            Verdict::Drop,
            "still the same run"
        );
        assert_eq!(changes.check(later, RENAME_COST), Verdict::Allow);
        assert_eq!(
            changes.check(later, RENAME_COST),
            Verdict::Refuse,
            "a new run is answered again"
        );
        let rested = t0 + Duration::from_secs(60);
        assert_eq!(changes.check(rested, JOIN_COST), Verdict::Allow);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix_and_ipv4_as_they_are() {
        let cases = [
            ("192.0.2.7", "192.0.2.7"),
            ("::ffff:192.0.2.7", "192.0.2.7"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"),
            ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::"),
            ("2001:db8:1:3::1", "2001:db8:1:3::"),
            ("::1", "::"),
        ];
        for (ip, key) in cases {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(address_key(ip), key.parse::<IpAddr>().unwrap(), "{ip}");
        }
        let limiter = Arc::new(IpLimiter::default());
        let _a = limiter.acquire("2001:db8::1".parse().unwrap(), 2).unwrap();
        let _b = limiter.acquire("2001:db8::2".parse().unwrap(), 2).unwrap();
        assert!(
            limiter
                .acquire("2001:db8::ffff".parse().unwrap(), 2)
                .is_none(),
            "a third address of the same /64"
        );
        assert!(limiter
            .acquire("2001:db8:0:1::1".parse().unwrap(), 2)
            .is_some());
    }

    #[test]
    fn the_connection_gate_caps_open_connections_and_frees_a_place_on_drop() {
        let gate = ConnectionGate::new(2);
        let a = gate.enter().unwrap();
        let _b = gate.enter().unwrap();
        assert!(gate.enter().is_none());
        drop(a);
        assert_eq!(gate.open(), 1);
        assert!(gate.enter().is_some());
    }
}
