//! When a call counts as *coming together*: while this client's connections are being set up, and for a
//! short while after. Meanwhile the call defers what can wait (speaking lights, stats, bitrate caps):
//! those make synchronous calls into the browser's WebRTC threads and use the main thread, and in a mesh
//! every member's connections form at once, so the moment this client is done, the others' connections to
//! each other usually are not. Measured at N = 6 on a two-core machine (docs/BENCHMARKS.md, mesh set-up).
//! Also [`FirstOffers`]: when the page's call view may be built after a welcome. Pure.

use std::collections::HashSet;

use peerlab_protocol::PeerId;

/// The longest a call counts as coming together: past this, a member whose connection never forms no
/// longer holds back the speaking lights, stats and caps of the others.
pub const MAX_FORMING_MS: f64 = 10_000.0;
/// How long the call still counts as coming together once nothing of this client's is being set up.
pub const SETTLE_MS: f64 = 3_000.0;

/// Folds "is anything being set up now" readings into "is the call coming together".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Forming {
    /// Since when the call has been coming together, while it is.
    since: Option<f64>,
    /// Since when nothing has been set up, while the call settles.
    quiet_since: Option<f64>,
}

impl Forming {
    /// Whether the call is coming together at `now_ms`, given whether a connection is being set up (or a
    /// member's media is awaited) at that moment.
    pub fn update(&mut self, busy: bool, now_ms: f64) -> bool {
        if busy {
            self.quiet_since = None;
            let since = *self.since.get_or_insert(now_ms);
            return now_ms - since < MAX_FORMING_MS;
        }
        let Some(since) = self.since else {
            return false;
        };
        let quiet = *self.quiet_since.get_or_insert(now_ms);
        if now_ms - quiet < SETTLE_MS && now_ms - since < MAX_FORMING_MS {
            return true;
        }
        *self = Forming::default();
        false
    }
}

/// How long the lobby may stay after the welcome while the first offers are made; see [`FirstOffers`].
pub const VIEW_WAIT_MS: u32 = 300;

/// The peers a welcome made whose first offer is not out yet: set, sent, and its candidates gathered (the
/// browser's end of candidates). The page's call view waits for them: showing it holds the main thread for
/// milliseconds of a crowded page's CPU (tens of wall time), and shown at the welcome it delayed every
/// `setLocalDescription`'s continuation, so every offer; shown right after the offers, it delayed their
/// `icecandidate` events, so ICE; shown once they are out, it runs while the others answer. Never longer
/// than [`VIEW_WAIT_MS`], so a slow browser (or a gathering that waits on a distant STUN or TURN server)
/// still gets its view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirstOffers {
    pending: HashSet<PeerId>,
}

impl FirstOffers {
    /// A welcome made `peers`: how long the view may wait for them, in milliseconds (0 when there are
    /// none: the view shows in the next task).
    pub fn start(&mut self, peers: impl IntoIterator<Item = PeerId>) -> u32 {
        self.pending = peers.into_iter().collect();
        if self.pending.is_empty() {
            0
        } else {
            VIEW_WAIT_MS
        }
    }

    /// `peer` has its first offer out (its candidates gathered), or is gone. True when it was the last one
    /// waited for: the view may show now.
    pub fn done(&mut self, peer: &PeerId) -> bool {
        self.pending.remove(peer) && self.pending.is_empty()
    }

    /// Nothing is waited for any more (the view showed, or the call ended or started again).
    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_waits_for_every_first_offer_and_shows_at_the_last() {
        let mut offers = FirstOffers::default();
        let wait = offers.start(["a", "b", "c"].map(PeerId::from));
        assert_eq!(wait, VIEW_WAIT_MS);
        assert!(!offers.done(&PeerId::from("b")));
        assert!(
            !offers.done(&PeerId::from("b")),
            "a second description of the same peer changes nothing"
        );
        assert!(
            !offers.done(&PeerId::from("x")),
            "a peer the welcome did not make is not waited for"
        );
        assert!(!offers.done(&PeerId::from("a")));
        // The last one may be a member that left before its offer was made.
        assert!(offers.done(&PeerId::from("c")));
        assert!(!offers.done(&PeerId::from("c")), "it opens once");
    }

    #[test]
    fn an_empty_room_shows_the_view_at_once_and_a_new_join_starts_afresh() {
        let mut offers = FirstOffers::default();
        assert_eq!(offers.start(Vec::new()), 0);
        assert!(!offers.done(&PeerId::from("a")));
        offers.start([PeerId::from("a")]);
        offers.clear();
        assert!(!offers.done(&PeerId::from("a")), "cleared: nothing waits");
        assert_eq!(offers.start([PeerId::from("b")]), VIEW_WAIT_MS);
        assert!(offers.done(&PeerId::from("b")));
    }

    #[test]
    fn a_call_where_nothing_is_set_up_is_not_forming() {
        let mut f = Forming::default();
        assert!(!f.update(false, 0.0));
        assert!(!f.update(false, 60_000.0));
    }

    #[test]
    fn it_forms_while_busy_and_settles_for_a_moment_after() {
        let mut f = Forming::default();
        assert!(f.update(true, 1_000.0));
        assert!(f.update(true, 2_000.0));
        // Done at 2.5 s: still settling until 5.5 s.
        assert!(f.update(false, 2_500.0));
        assert!(f.update(false, 5_499.0));
        assert!(!f.update(false, 5_500.0));
        assert!(!f.update(false, 9_000.0));
        // A newcomer later starts it again, settle included.
        assert!(f.update(true, 20_000.0));
        assert!(f.update(false, 21_000.0));
        assert!(!f.update(false, 24_000.0));
    }

    #[test]
    fn busy_again_while_settling_restarts_the_settling() {
        let mut f = Forming::default();
        assert!(f.update(true, 0.0));
        assert!(f.update(false, 1_000.0));
        assert!(f.update(true, 2_000.0));
        assert!(f.update(false, 3_000.0));
        assert!(f.update(false, 5_999.0));
        assert!(!f.update(false, 6_000.0));
    }

    #[test]
    fn it_is_bounded_whether_busy_or_settling() {
        let mut f = Forming::default();
        assert!(f.update(true, 0.0));
        assert!(
            !f.update(true, MAX_FORMING_MS),
            "a connection that never forms"
        );
        let mut f = Forming::default();
        assert!(f.update(true, 0.0));
        assert!(f.update(false, MAX_FORMING_MS - 1_000.0));
        assert!(
            !f.update(false, MAX_FORMING_MS),
            "the bound cuts the settling short"
        );
    }
}
