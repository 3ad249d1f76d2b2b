//! Reconnect with resume: the key resume tokens are signed with, and the deadlines of away members.
//!
//! When a joined connection drops without a close from the client (`crate::socket` decides which endings
//! count), its member stays in the room as *away* (`crate::rooms::At::Away`) for `--resume-grace-ms`. A new
//! connection that presents the member's resume token within that time takes the slot back and nobody
//! hears anything; otherwise this module's one sweeper task removes the member when the grace ends and
//! tells the others `member_left`.
//!
//! The deadlines of all away members of the relay sit in one queue ordered by time, and one task sleeps
//! until the earliest. An entry is only a hint: the sweeper removes a member only if it is still away with
//! exactly that deadline, so a member that came back (or went away again later) is left alone and its stale
//! entry costs nothing. The task starts with the first away member, so a relay where nobody drops runs none.
//!
//! The token functions themselves are pure and live in `crate::credentials`; this module holds the key and
//! the start time they are checked against. It does not decide who may resume; `crate::socket` does.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::transport::Utf8Bytes;
use peerlab_protocol::{encode_server, LeaveReason, PeerId, ServerMessage};
use tokio::sync::Notify;

use crate::credentials::{
    mint_resume_token, resume_survives_restart, verify_resume_token, ResumeClaim,
};
use crate::{AppState, Config};

/// The current Unix time in milliseconds: resume tokens are stamped in milliseconds so a relay restarted
/// within the same second still tells its predecessor's tokens from its own.
pub(crate) fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One away member's end of grace.
struct Deadline {
    until: Instant,
    room: String,
    id: PeerId,
    /// What the others are told if the member does not come back: `timeout` after a keep-alive timeout,
    /// `left` after a dropped connection.
    reason: LeaveReason,
}

// Deadlines are ordered by time only; the queue needs nothing more.
impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        self.until == other.until
    }
}
impl Eq for Deadline {}
impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.until.cmp(&other.until)
    }
}

/// The relay's resume state.
pub struct Resume {
    /// The HMAC key of resume tokens: `--resume-secret`, or shared through Redis in a cluster, or random.
    /// Set once before the relay serves; never logged, never sent.
    key: OnceLock<Box<[u8]>>,
    /// When this relay process started (Unix seconds): tokens issued before it come from an earlier process.
    started: u64,
    /// `--resume-grace-ms`.
    grace: Duration,
    /// The away members' deadlines, earliest first.
    queue: Mutex<BinaryHeap<Reverse<Deadline>>>,
    /// Wakes the sweeper when an earlier deadline arrives.
    wake: Notify,
    /// Starts the sweeper with the first away member.
    sweeper: Once,
}

impl Resume {
    /// The resume state for `config`. Without `--resume-secret`, a single relay makes a random key now;
    /// a cluster node leaves it unset until [`Resume::set_shared_key`] (the key all nodes share).
    pub fn new(config: &Config) -> Resume {
        let key = OnceLock::new();
        if let Some(secret) = &config.resume_secret {
            let _ = key.set(secret.as_bytes().into());
        } else if config.redis_url.is_none() {
            let _ = key.set(random_key());
        }
        Resume {
            key,
            started: unix_now_ms(),
            grace: config.resume_grace(),
            queue: Mutex::new(BinaryHeap::new()),
            wake: Notify::new(),
            sweeper: Once::new(),
        }
    }

    /// Whether the key is still to be agreed with the cluster.
    pub fn needs_shared_key(&self) -> bool {
        self.key.get().is_none()
    }

    /// Sets the key every node of the cluster uses (only if none is set yet).
    pub fn set_shared_key(&self, key: &[u8]) {
        let _ = self.key.set(key.into());
    }

    fn key(&self) -> &[u8] {
        // Only a cluster node whose Redis failed at start gets here without a key; a random one then
        // still lets its own members resume.
        self.key.get_or_init(random_key)
    }

    /// How long a dropped member stays away; zero means it is announced at once.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// The resume token for `id` in `room`, issued now.
    pub fn mint(&self, room: &str, id: &PeerId) -> String {
        mint_resume_token(self.key(), room, id, unix_now_ms())
    }

    /// What a resume token for `room` claims, if it is genuine.
    pub fn verify(&self, room: &str, token: &str) -> Option<ResumeClaim> {
        verify_resume_token(self.key(), room, token)
            .map_err(|err| tracing::debug!(room, %err, "resume token refused; a fresh id follows"))
            .ok()
    }

    /// Whether a genuine token whose id is in the room nowhere may bring that id back (a relay restart).
    pub fn survives_restart(&self, claim: &ResumeClaim) -> bool {
        resume_survives_restart(claim, self.started, unix_now_ms())
    }

    /// How many deadlines are queued (stale ones included): for tests and `/metrics`.
    pub fn queued(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BinaryHeap<Reverse<Deadline>>> {
        // Each critical section is one push or pop; a panic cannot leave the heap inconsistent.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn random_key() -> Box<[u8]> {
    rand::random::<[u8; 32]>().into()
}

/// Queues the end of grace of member `id` of `room`, which `crate::rooms` has just marked away until
/// `until`, and starts the sweeper if it is not running.
pub(crate) fn schedule(
    state: &Arc<AppState>,
    room: String,
    id: PeerId,
    until: Instant,
    reason: LeaveReason,
) {
    let resume = &state.resume;
    resume.lock().push(Reverse(Deadline {
        until,
        room,
        id,
        reason,
    }));
    resume.wake.notify_one();
    resume.sweeper.call_once(|| {
        state.background.spawn(sweeper(state.clone()));
    });
}

/// Sleeps until the earliest deadline and expires whoever is still away by then. On shutdown it expires
/// every away member at once, so other cluster nodes hear of them before this node goes.
async fn sweeper(state: Arc<AppState>) {
    let resume = &state.resume;
    loop {
        let next = resume.lock().peek().map(|Reverse(d)| d.until);
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {}
            () = resume.wake.notified() => continue,
            () = state.shutdown.cancelled() => {
                let all = std::mem::take(&mut *resume.lock());
                for Reverse(deadline) in all {
                    expire(&state, deadline);
                }
                return;
            }
        }
        let now = Instant::now();
        loop {
            let due = {
                let mut queue = resume.lock();
                match queue.peek() {
                    Some(Reverse(d)) if d.until <= now => queue.pop().map(|Reverse(d)| d),
                    _ => None,
                }
            };
            let Some(deadline) = due else { break };
            expire(&state, deadline);
        }
    }
}

/// Removes the member of `deadline` if it is still away with that deadline, and tells the others.
fn expire(state: &AppState, deadline: Deadline) {
    let Deadline {
        until,
        room,
        id,
        reason,
    } = deadline;
    let left = Utf8Bytes::from(encode_server(&ServerMessage::MemberLeft {
        id: id.clone(),
        reason,
    }));
    let expired = state.rooms.with_room(&room, |rooms| {
        let others = rooms.expire(&room, &id, until)?;
        for other in &others {
            other.deliver(left.clone(), state);
        }
        Some(())
    });
    if expired.is_none() {
        return;
    }
    state.counters.away_expired.fetch_add(1, Ordering::Relaxed);
    if let Some(cluster) = state.cluster.get() {
        cluster.left(&room, &id, reason);
    }
    tracing::info!(%room, peer = %id, ?reason, "away member did not come back; left");
}
