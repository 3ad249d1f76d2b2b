//! The cluster's periodic reconciliation, as a decision: given what Redis records of a room, which nodes
//! are alive, and what this node has of the room, which repairs to make.
//!
//! Events between nodes can be lost (a write queue dropped while Redis was away, a node killed between
//! its hash write and its publication) and Redis itself can lose everything (a restart without
//! persistence, a `FLUSHALL`) without any node's subscription dropping. So each node periodically
//! compares (`crate::cluster` reads Redis and carries the repairs out):
//! - **Entries without a live owner** in a room's hash (their node's liveness key is gone), and entries
//!   under this node's id for members it does not hold, are released (compare-and-delete by node).
//! - **Local members the hash lost** are written back (only where the hash has no entry for the id).
//! - **Mirrored members the hash no longer has** are announced as left, and **members of live nodes the
//!   mirror lacks** are mirrored and announced, but only when two checks in a row agree: a join or a leave
//!   in flight between this node's read of Redis and its look at its own rooms shows the same difference
//!   once, and a node that lost its entries to a flush writes them back within one period.
//!
//! Members of dead nodes in the mirror are the heartbeat's (`crate::cluster`), which retires them within
//! a few heartbeats; this decision leaves them alone. It is plain data in, plain data out, table-tested.

use std::collections::BTreeSet;

use peerlab_protocol::{Member, PeerId};

use crate::rooms::{Census, NodeId};

/// Differences seen in one check that a repair waits for a second check to confirm: `(room, id)`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Doubts {
    /// Mirrored members that the room's hash did not have.
    pub missing: BTreeSet<(String, PeerId)>,
    /// Members of live nodes in the room's hash that the mirror did not have.
    pub unknown: BTreeSet<(String, PeerId)>,
}

/// The repairs of one room.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Repair {
    /// Members this node holds that the hash lost: written back.
    pub restore: Vec<Member>,
    /// Hash entries to remove, each with the node the entry names (removed only while it still does).
    pub release: Vec<(PeerId, NodeId)>,
    /// Members of other nodes to mirror and announce.
    pub appeared: Vec<(Member, NodeId)>,
    /// Mirrored members to remove and announce as left, with the node they were mirrored on.
    pub vanished: Vec<(PeerId, NodeId)>,
}

impl Repair {
    /// Whether nothing is to be done.
    pub fn is_empty(&self) -> bool {
        self.restore.is_empty()
            && self.release.is_empty()
            && self.appeared.is_empty()
            && self.vanished.is_empty()
    }
}

/// Decides the repairs of one room. `own` is this node, `alive` the nodes whose liveness key exists,
/// `stored` the room's hash as read from Redis, `local` what this node has of the room, looked at *after*
/// the hash was read (so a member whose entry is in the hash was reserved here before, and is in
/// `local.held` unless it has left since). `before` are the previous check's doubts; this check's go to
/// `after`.
pub fn plan(
    own: &str,
    alive: &BTreeSet<NodeId>,
    stored: &[(Member, NodeId)],
    local: &Census,
    before: &Doubts,
    after: &mut Doubts,
) -> Repair {
    let room = &local.room;
    let mut repair = Repair::default();
    let mirrored: BTreeSet<&PeerId> = local.mirrored.iter().map(|(id, _)| id).collect();
    for (member, node) in stored {
        if node == own {
            if !local.held.contains(&member.id) {
                repair.release.push((member.id.clone(), node.clone()));
            }
        } else if !alive.contains(node) {
            repair.release.push((member.id.clone(), node.clone()));
        } else if !local.held.contains(&member.id) && !mirrored.contains(&member.id) {
            let key = (room.clone(), member.id.clone());
            if before.unknown.contains(&key) {
                repair.appeared.push((member.clone(), node.clone()));
            } else {
                after.unknown.insert(key);
            }
        }
    }
    let in_hash: BTreeSet<&PeerId> = stored.iter().map(|(m, _)| &m.id).collect();
    for member in &local.announced {
        if !in_hash.contains(&member.id) {
            repair.restore.push(member.clone());
        }
    }
    for (id, node) in &local.mirrored {
        if in_hash.contains(id) || !alive.contains(node) {
            continue;
        }
        let key = (room.clone(), id.clone());
        if before.missing.contains(&key) {
            repair.vanished.push((id.clone(), node.clone()));
        } else {
            after.missing.insert(key);
        }
    }
    repair
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> PeerId {
        PeerId::from(s)
    }

    fn member(i: &str) -> Member {
        Member {
            id: id(i),
            name: i.to_uppercase(),
        }
    }

    /// A room as this node has it: held ids (`*` after an id: announced too) and mirrored `id@node`.
    fn census(held: &[&str], mirrored: &[&str]) -> Census {
        let mut census = Census {
            room: "r".into(),
            ..Census::default()
        };
        for h in held {
            let bare = h.trim_end_matches('*');
            census.held.insert(id(bare));
            if h.ends_with('*') {
                census.announced.push(member(bare));
            }
        }
        for m in mirrored {
            let (i, node) = m.split_once('@').unwrap();
            census.mirrored.push((id(i), node.into()));
        }
        census
    }

    /// A room's hash: `id@node`.
    fn stored(entries: &[&str]) -> Vec<(Member, NodeId)> {
        entries
            .iter()
            .map(|e| {
                let (i, node) = e.split_once('@').unwrap();
                (member(i), node.to_string())
            })
            .collect()
    }

    /// The repair as short lines: `restore a`, `release x@n3`, `appear y@n2`, `vanish z@n2`.
    fn lines(repair: &Repair) -> Vec<String> {
        let mut lines = Vec::new();
        lines.extend(repair.restore.iter().map(|m| format!("restore {}", m.id)));
        lines.extend(
            repair
                .release
                .iter()
                .map(|(i, n)| format!("release {i}@{n}")),
        );
        lines.extend(
            repair
                .appeared
                .iter()
                .map(|(m, n)| format!("appear {}@{n}", m.id)),
        );
        lines.extend(
            repair
                .vanished
                .iter()
                .map(|(i, n)| format!("vanish {i}@{n}")),
        );
        lines
    }

    /// Runs two checks of the same state and compares the repairs of each.
    fn check(stored_: &[&str], local: Census, first: &[&str], second: &[&str]) {
        let alive: BTreeSet<NodeId> = ["n1", "n2"].into_iter().map(String::from).collect();
        let hash = stored(stored_);
        let mut doubts = Doubts::default();
        let mut next = Doubts::default();
        let repair = plan("n1", &alive, &hash, &local, &doubts, &mut next);
        assert_eq!(lines(&repair), first, "first check of {stored_:?}");
        doubts = next;
        let mut next = Doubts::default();
        let repair = plan("n1", &alive, &hash, &local, &doubts, &mut next);
        assert_eq!(lines(&repair), second, "second check of {stored_:?}");
    }

    #[test]
    fn a_room_that_agrees_with_redis_needs_nothing() {
        check(
            &["a@n1", "b@n1", "x@n2"],
            census(&["a*", "b*"], &["x@n2"]),
            &[],
            &[],
        );
    }

    #[test]
    fn entries_of_dead_nodes_are_released_at_once_wherever_they_are() {
        // n3 is dead: its entry goes, in a room this node holds nobody of too.
        check(
            &["z@n3"],
            census(&[], &[]),
            &["release z@n3"],
            &["release z@n3"],
        );
        check(
            &["a@n1", "z@n3"],
            census(&["a*"], &[]),
            &["release z@n3"],
            &["release z@n3"],
        );
    }

    #[test]
    fn entries_of_this_node_for_members_it_does_not_hold_are_released() {
        check(
            &["g@n1"],
            census(&[], &[]),
            &["release g@n1"],
            &["release g@n1"],
        );
        // A reserved member (held, not announced yet) keeps its entry, and is not written back either.
        check(&["c@n1"], census(&["c"], &[]), &[], &[]);
    }

    #[test]
    fn local_members_redis_lost_are_written_back() {
        // After a flush: nothing stored. The announced members are restored; a reservation is not.
        check(
            &[],
            census(&["a*", "b*", "c"], &[]),
            &["restore a", "restore b"],
            &["restore a", "restore b"],
        );
        // An id whose entry names another node (it resumed there) is left to that node.
        check(&["a@n2"], census(&["a*"], &[]), &[], &[]);
    }

    #[test]
    fn mirror_differences_are_repaired_when_two_checks_agree() {
        // A member of a live node the mirror lacks (its `joined` was lost).
        check(
            &["y@n2"],
            census(&["a*"], &[]),
            &["restore a"],
            &["restore a", "appear y@n2"],
        );
        // A mirrored member Redis no longer has (its `left` was lost).
        check(&["a@n1"], census(&["a*"], &["x@n2"]), &[], &["vanish x@n2"]);
        // A mirrored member of a dead node is the heartbeat's to retire.
        check(&["a@n1"], census(&["a*"], &["z@n3"]), &[], &[]);
    }

    #[test]
    fn a_difference_seen_once_is_forgotten_when_the_next_check_agrees() {
        let alive: BTreeSet<NodeId> = ["n1", "n2"].into_iter().map(String::from).collect();
        let local = census(&["a*"], &["x@n2"]);
        let mut doubts = Doubts::default();
        // First check: x is missing from the hash (its node writes it back after a flush).
        let mut next = Doubts::default();
        plan("n1", &alive, &stored(&["a@n1"]), &local, &doubts, &mut next);
        assert_eq!(next.missing.len(), 1);
        doubts = next;
        // Second check: x is back; nothing vanishes, and no doubt remains.
        let mut next = Doubts::default();
        let repair = plan(
            "n1",
            &alive,
            &stored(&["a@n1", "x@n2"]),
            &local,
            &doubts,
            &mut next,
        );
        assert!(repair.is_empty(), "{repair:?}");
        assert_eq!(next, Doubts::default());
    }
}
