//! Room membership as plain data: who is in which room, under which name, reachable through which handle.
//!
//! This module decides; it does not send. Every operation returns the handles the caller must notify, so the
//! rules (capacity, duplicate joins, routing only inside a room) are tested here without sockets. It knows
//! nothing of axum, WebSockets or time, and it never mints peer ids: the caller passes them in.
//!
//! A member is either *local* (its connection is on this relay, reachable through a handle) or *remote* (on
//! another relay node of a cluster, reachable through that node). Remote members are a mirror kept only for
//! rooms that have at least one local member; the cluster layer (`crate::cluster`) feeds it.
//!
//! A local member whose connection dropped may be kept as *away* for a grace period (see `crate::resume`):
//! it still counts as a member (listed, counted toward capacity, keeping its room open) but has no handle,
//! so nothing is delivered to it, and only [`Rooms::resume`] (a new connection taking its id back) or
//! [`Rooms::expire`] (the grace ended) changes it. The deadline is passed in; this module reads no clock.
//!
//! [`Registry`] shards the rooms over several mutexes by room name, so joins and signals in different rooms do
//! not wait for each other. A std `Mutex` is right here: every critical section is short and never awaits.
//! It also counts the rooms across shards, so a cap on rooms (`--max-rooms`) is exact.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use indexmap::IndexMap;
use peerlab_protocol::{Member, PeerId};
use rustc_hash::{FxBuildHasher, FxHasher};

/// Why a join was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinRefusal {
    /// The room already holds `max_peers` members.
    Full { max_peers: u32 },
    /// The room does not exist and the relay already holds `max_rooms` rooms.
    TooManyRooms { max_rooms: u32 },
    /// The peer id is already in the room (a resumed id that another connection holds meanwhile).
    IdTaken,
}

/// What a successful join tells the caller.
#[derive(Debug)]
pub struct Joined<H> {
    /// The members who were already there, oldest first: they go into the newcomer's `welcome`.
    pub members: Vec<Member>,
    /// Their handles: each gets `member_joined`.
    pub others: Vec<H>,
}

/// The id of one relay node in a cluster.
pub type NodeId = String;

/// Where a member's connection is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum At<H> {
    /// On this relay: deliver through the handle.
    Local(H),
    /// On another node of the cluster: send through that node.
    Remote(NodeId),
    /// On this relay, but its connection dropped: kept until `until` for a resume, unreachable meanwhile.
    Away { until: Instant },
}

/// What [`Rooms::resume`] found under the peer id of a resume token.
#[derive(Debug)]
pub enum Resumed<H> {
    /// The member was away; the new handle took its slot back. `renamed` says whether the name changed.
    Away { joined: Joined<H>, renamed: bool },
    /// The member was connected here; the new handle took its slot, and `old` (the connection it
    /// replaced) must be closed without announcing a leave.
    Replaced {
        joined: Joined<H>,
        old: H,
        renamed: bool,
    },
    /// No such member in the room: the id may be given out again only if nobody else can hold it.
    Absent,
    /// The id is held elsewhere (another node, or a join of it still waiting for the cluster): the new
    /// connection must get a fresh id.
    Elsewhere,
}

/// One member as the room keeps it.
#[derive(Debug)]
struct Slot<H> {
    name: String,
    at: At<H>,
    /// False while a cluster join waits for Redis to admit it: such a member is neither listed to others
    /// nor sent their events, so a refused join leaves no trace. It learns the room from its `welcome`.
    announced: bool,
}

impl<H: Clone> Slot<H> {
    fn local(&self) -> Option<H> {
        match &self.at {
            At::Local(h) if self.announced => Some(h.clone()),
            _ => None,
        }
    }

    /// Whether this node holds the member (connected or away), rather than mirroring another node's.
    fn held_here(&self) -> bool {
        matches!(self.at, At::Local(_) | At::Away { .. })
    }
}

/// The members of one room, in join order (so `welcome` lists them oldest first).
#[derive(Debug)]
struct Room<H> {
    /// Hashed with Fx, not SipHash: the keys are ids the relay made (random), so no client can choose keys
    /// that collide, and a room's size is capped. Room names, which clients choose, keep std's keyed hash.
    members: IndexMap<PeerId, Slot<H>, FxBuildHasher>,
    /// How many members this node holds (connected or away); the room is dropped (with its remote
    /// mirror) when this reaches zero.
    local: usize,
}

impl<H: Clone> Room<H> {
    fn local_handles(&self) -> Vec<H> {
        self.members.values().filter_map(Slot::local).collect()
    }

    fn member_list(&self) -> Vec<Member> {
        self.members
            .iter()
            .filter(|(_, s)| s.announced)
            .map(|(id, s)| Member {
                id: id.clone(),
                name: s.name.clone(),
            })
            .collect()
    }
}

/// What this node has of one room, for a reconciliation with the cluster (`crate::reconcile`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Census {
    pub room: String,
    /// Every id this node holds in the room: connected, away, or reserved while the cluster decides.
    pub held: BTreeSet<PeerId>,
    /// The members this node holds and announced: the cluster's record must have them.
    pub announced: Vec<Member>,
    /// The members mirrored from other nodes, with their node.
    pub mirrored: Vec<(PeerId, NodeId)>,
}

/// All rooms of one shard.
#[derive(Debug)]
pub struct Rooms<H> {
    rooms: HashMap<String, Room<H>>,
}

impl<H> Default for Rooms<H> {
    fn default() -> Self {
        Rooms {
            rooms: HashMap::new(),
        }
    }
}

impl<H: Clone> Room<H> {
    /// The members other than `id` (for a resumed member's `welcome`) and the handles of the others.
    fn others_of(&self, id: &PeerId) -> Joined<H> {
        Joined {
            members: self
                .members
                .iter()
                .filter(|(other, s)| s.announced && *other != id)
                .map(|(id, s)| Member {
                    id: id.clone(),
                    name: s.name.clone(),
                })
                .collect(),
            others: self
                .members
                .iter()
                .filter(|(other, _)| *other != id)
                .filter_map(|(_, s)| s.local())
                .collect(),
        }
    }
}

impl<H: Clone + PartialEq> Rooms<H> {
    /// Removes the local member `id` from `room` if `handle` still holds it, and returns the local handles
    /// of those who remain (to be told `member_left`). Returns `None` when `handle` no longer holds `id`
    /// (a newer connection took it over) or `id` is not there, so a replaced connection cannot remove the
    /// member that replaced it.
    pub fn release(&mut self, room: &str, id: &PeerId, handle: &H) -> Option<Vec<H>> {
        let holds = self
            .rooms
            .get(room)?
            .members
            .get(id)
            .is_some_and(|s| matches!(&s.at, At::Local(h) if h == handle));
        if !holds {
            return None;
        }
        self.leave(room, id)
    }

    /// Renames the local member `id` if `handle` still holds it; like [`Rooms::rename`] otherwise.
    pub fn rename_held(
        &mut self,
        room: &str,
        id: &PeerId,
        handle: &H,
        name: String,
    ) -> Option<Vec<H>> {
        let slot = self.rooms.get(room)?.members.get(id)?;
        if !matches!(&slot.at, At::Local(h) if h == handle) {
            return None;
        }
        self.rename(room, id, name)
    }

    /// Marks the local member `id` as away until `until`, if `handle` still holds it. Nobody is told: the
    /// member is still in the room for everyone else. Returns whether it is now away.
    pub fn set_away(&mut self, room: &str, id: &PeerId, handle: &H, until: Instant) -> bool {
        let Some(slot) = self.rooms.get_mut(room).and_then(|r| r.members.get_mut(id)) else {
            return false;
        };
        if !matches!(&slot.at, At::Local(h) if h == handle) || !slot.announced {
            return false;
        }
        slot.at = At::Away { until };
        true
    }

    /// Whether `room` has a member other than `id` that is connected here or on another node: a room
    /// whose only members are away would stay open for nobody but them.
    pub fn has_live_other(&self, room: &str, id: &PeerId) -> bool {
        self.rooms.get(room).is_some_and(|r| {
            r.members
                .iter()
                .any(|(other, s)| other != id && !matches!(s.at, At::Away { .. }))
        })
    }

    /// Removes the away member `id` if it is still away with deadline `until` (a member that came back,
    /// or went away again later, is left alone). Returns the local handles to tell `member_left`.
    pub fn expire(&mut self, room: &str, id: &PeerId, until: Instant) -> Option<Vec<H>> {
        let slot = self.rooms.get(room)?.members.get(id)?;
        if !matches!(slot.at, At::Away { until: u } if u == until) {
            return None;
        }
        self.leave(room, id)
    }

    /// Gives the member `id` of `room` to `handle` under `name`: an away member comes back, a connected
    /// one is taken over (see [`Resumed`]). The member keeps its place in the room's order. When `name`
    /// differs from the old one, the caller tells the others (`Joined::others`) `member_renamed`.
    pub fn resume(&mut self, room: &str, id: &PeerId, name: &str, handle: H) -> Resumed<H> {
        let Some(entry) = self.rooms.get_mut(room) else {
            return Resumed::Absent;
        };
        let Some(slot) = entry.members.get_mut(id) else {
            return Resumed::Absent;
        };
        if !slot.announced {
            return Resumed::Elsewhere;
        }
        let old = match std::mem::replace(&mut slot.at, At::Local(handle)) {
            At::Away { .. } => None,
            At::Local(old) => Some(old),
            remote @ At::Remote(_) => {
                slot.at = remote;
                return Resumed::Elsewhere;
            }
        };
        let renamed = slot.name != name;
        if renamed {
            name.clone_into(&mut slot.name);
        }
        let joined = entry.others_of(id);
        match old {
            None => Resumed::Away { joined, renamed },
            Some(old) => Resumed::Replaced {
                joined,
                old,
                renamed,
            },
        }
    }
}

impl<H: Clone> Rooms<H> {
    /// Adds `id` to `room` unless the room is full. An empty room comes into being on its first join.
    pub fn join(
        &mut self,
        room: &str,
        id: PeerId,
        name: String,
        handle: H,
        max_peers: u32,
    ) -> Result<Joined<H>, JoinRefusal> {
        self.insert(room, id, name, handle, max_peers, true)
    }

    /// Adds `id` to `room` unannounced (see `Slot::announced`): it holds its place and will hear of the room
    /// through [`Rooms::confirm`], or leave without anyone having heard of it.
    pub fn reserve(
        &mut self,
        room: &str,
        id: PeerId,
        name: String,
        handle: H,
        max_peers: u32,
    ) -> Result<(), JoinRefusal> {
        self.insert(room, id, name, handle, max_peers, false)
            .map(|_| ())
    }

    /// Announces a reserved member: returns the members it joins (for its `welcome`) and the local handles to
    /// tell `member_joined`, both as they are now.
    pub fn confirm(&mut self, room: &str, id: &PeerId) -> Option<Joined<H>> {
        let entry = self.rooms.get_mut(room)?;
        let members = entry.member_list();
        let others = entry.local_handles();
        entry.members.get_mut(id)?.announced = true;
        Some(Joined { members, others })
    }

    /// Announces a reserved member like [`Rooms::confirm`] if the room's announced members (mirrored and
    /// away ones included) leave it a place under `max_peers`; otherwise removes it without a trace. For a
    /// cluster join that Redis did not admit in time: this node's view then decides, under the same cap as
    /// a single relay. Reservations still waiting are not counted; whichever is confirmed first gets the
    /// place.
    pub fn confirm_within(
        &mut self,
        room: &str,
        id: &PeerId,
        max_peers: u32,
    ) -> Result<Joined<H>, JoinRefusal> {
        let announced = self
            .rooms
            .get(room)
            .map_or(0, |r| r.members.values().filter(|s| s.announced).count());
        if announced >= max_peers as usize {
            self.leave(room, id);
            return Err(JoinRefusal::Full { max_peers });
        }
        self.confirm(room, id)
            .ok_or(JoinRefusal::Full { max_peers })
    }

    fn insert(
        &mut self,
        room: &str,
        id: PeerId,
        name: String,
        handle: H,
        max_peers: u32,
        announced: bool,
    ) -> Result<Joined<H>, JoinRefusal> {
        if let Some(existing) = self.rooms.get(room) {
            if existing.members.contains_key(&id) {
                return Err(JoinRefusal::IdTaken);
            }
            if existing.members.len() >= max_peers as usize {
                return Err(JoinRefusal::Full { max_peers });
            }
        }
        let entry = self.rooms.entry(room.to_owned()).or_insert_with(|| Room {
            members: IndexMap::default(),
            local: 0,
        });
        let members = entry.member_list();
        let others = entry.local_handles();
        entry.members.insert(
            id,
            Slot {
                name,
                at: At::Local(handle),
                announced,
            },
        );
        entry.local += 1;
        Ok(Joined { members, others })
    }

    /// Removes member `id` (local or remote) from `room` and returns the local handles of those who remain
    /// (to be told `member_left`). Returns `None` if `id` was not there. When the last local member is gone
    /// the room is dropped, remote mirror included.
    pub fn leave(&mut self, room: &str, id: &PeerId) -> Option<Vec<H>> {
        let Entry::Occupied(mut entry) = self.rooms.entry(room.to_owned()) else {
            return None;
        };
        let slot = entry.get_mut().members.shift_remove(id)?;
        if slot.held_here() {
            entry.get_mut().local -= 1;
        }
        if entry.get().local == 0 {
            entry.remove();
            return Some(Vec::new());
        }
        Some(entry.get().local_handles())
    }

    /// Mirrors a member that joined `room` on another node. Only rooms with local members keep a mirror, so
    /// this returns `None` (nobody to tell) when the room has no local member or already knows `member`.
    /// A member already known is changed only by the node that holds it (a repeated announcement may
    /// carry its current name), so another node's word cannot rename a member or move where its signals
    /// go.
    pub fn add_remote(&mut self, room: &str, member: Member, node: NodeId) -> Option<Vec<H>> {
        let room = self.rooms.get_mut(room)?;
        if let Some(slot) = room.members.get_mut(&member.id) {
            if matches!(&slot.at, At::Remote(n) if *n == node) {
                slot.name = member.name;
            }
            return None;
        }
        room.members.insert(
            member.id,
            Slot {
                name: member.name,
                at: At::Remote(node),
                announced: true,
            },
        );
        Some(room.local_handles())
    }

    /// Removes the member `id` mirrored as on `node`, and returns the local handles to tell; `None` (and
    /// nothing changes) when `id` is not a member of `room` on that node, so a node can make only its
    /// own members leave.
    pub fn leave_remote(&mut self, room: &str, id: &PeerId, node: &str) -> Option<Vec<H>> {
        let slot = self.rooms.get(room)?.members.get(id)?;
        if !matches!(&slot.at, At::Remote(n) if n == node) {
            return None;
        }
        self.leave(room, id)
    }

    /// Renames the member `id` mirrored as on `node`, like [`Rooms::leave_remote`].
    pub fn rename_remote(
        &mut self,
        room: &str,
        id: &PeerId,
        node: &str,
        name: String,
    ) -> Option<Vec<H>> {
        let slot = self.rooms.get(room)?.members.get(id)?;
        if !matches!(&slot.at, At::Remote(n) if n == node) {
            return None;
        }
        self.rename(room, id, name)
    }

    /// Renames `id` and returns every local member's handle, the renamed one included if it is local.
    pub fn rename(&mut self, room: &str, id: &PeerId, name: String) -> Option<Vec<H>> {
        let room = self.rooms.get_mut(room)?;
        room.members.get_mut(id)?.name = name;
        Some(room.local_handles())
    }

    /// Where `to` is, if `to` is a member of `room`.
    pub fn route(&self, room: &str, to: &PeerId) -> Option<At<H>> {
        self.rooms.get(room)?.members.get(to).map(|s| s.at.clone())
    }

    /// The members of `room`, oldest first.
    pub fn members(&self, room: &str) -> Vec<Member> {
        self.rooms
            .get(room)
            .map(Room::member_list)
            .unwrap_or_default()
    }

    /// Every room with local members, and those local members (away ones included): what a cluster node
    /// re-registers after losing its connection to the cluster.
    pub fn local_members(&self) -> Vec<(String, Vec<Member>)> {
        self.rooms
            .iter()
            .map(|(name, room)| {
                let locals = room
                    .members
                    .iter()
                    .filter(|(_, s)| s.held_here() && s.announced)
                    .map(|(id, s)| Member {
                        id: id.clone(),
                        name: s.name.clone(),
                    })
                    .collect();
                (name.clone(), locals)
            })
            .collect()
    }

    /// What this shard has of each room, for a reconciliation with the cluster.
    pub fn census(&self) -> Vec<Census> {
        self.rooms
            .iter()
            .map(|(name, room)| {
                let mut census = Census {
                    room: name.clone(),
                    ..Census::default()
                };
                for (id, slot) in &room.members {
                    match &slot.at {
                        At::Remote(node) => census.mirrored.push((id.clone(), node.clone())),
                        At::Local(_) | At::Away { .. } => {
                            census.held.insert(id.clone());
                            if slot.announced {
                                census.announced.push(Member {
                                    id: id.clone(),
                                    name: slot.name.clone(),
                                });
                            }
                        }
                    }
                }
                census
            })
            .collect()
    }

    /// The nodes that hold at least one mirrored remote member.
    pub fn remote_nodes(&self) -> BTreeSet<NodeId> {
        self.rooms
            .values()
            .flat_map(|r| r.members.values())
            .filter_map(|s| match &s.at {
                At::Remote(node) => Some(node.clone()),
                At::Local(_) | At::Away { .. } => None,
            })
            .collect()
    }

    /// Removes every mirrored member of `node` (a node that died) and returns, per removed member, its room,
    /// its id and the local handles to tell.
    pub fn remove_node(&mut self, node: &str) -> Vec<(String, PeerId, Vec<H>)> {
        let mut removed = Vec::new();
        for (name, room) in self.rooms.iter_mut() {
            let gone: Vec<PeerId> = room
                .members
                .iter()
                .filter(|(_, s)| matches!(&s.at, At::Remote(n) if n == node))
                .map(|(id, _)| id.clone())
                .collect();
            for id in gone {
                room.members.shift_remove(&id);
                removed.push((name.clone(), id, room.local_handles()));
            }
        }
        removed
    }

    /// Makes the remote mirror of `room` equal to `remote` (the cluster's view, local members excluded).
    /// Returns the members that appeared, the ids that vanished, and the local handles to tell.
    pub fn reconcile(
        &mut self,
        room: &str,
        remote: Vec<(Member, NodeId)>,
    ) -> Option<(Vec<Member>, Vec<PeerId>, Vec<H>)> {
        let room = self.rooms.get_mut(room)?;
        let wanted: BTreeSet<&PeerId> = remote.iter().map(|(m, _)| &m.id).collect();
        let vanished: Vec<PeerId> = room
            .members
            .iter()
            .filter(|(id, s)| matches!(s.at, At::Remote(_)) && !wanted.contains(id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &vanished {
            room.members.shift_remove(id);
        }
        let mut appeared = Vec::new();
        for (member, node) in remote {
            if !room.members.contains_key(&member.id) {
                room.members.insert(
                    member.id.clone(),
                    Slot {
                        name: member.name.clone(),
                        at: At::Remote(node),
                        announced: true,
                    },
                );
                appeared.push(member);
            }
        }
        Some((appeared, vanished, room.local_handles()))
    }

    /// How many rooms have at least one member.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Whether `room` exists (has at least one local member).
    pub fn contains(&self, room: &str) -> bool {
        self.rooms.contains_key(room)
    }
}

/// The rooms of the whole relay, sharded by room name.
pub struct Registry<H> {
    shards: Box<[Mutex<Rooms<H>>]>,
    /// Rooms over all shards. Changed only while the shard whose room appears or vanishes is locked, so a
    /// join that reserves a place for a new room cannot race another past the cap.
    rooms: AtomicUsize,
}

impl<H: Clone> Registry<H> {
    /// A registry with `shards` independent locks (at least one).
    pub fn new(shards: usize) -> Self {
        Registry {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Rooms::default()))
                .collect(),
            rooms: AtomicUsize::new(0),
        }
    }

    fn lock(&self, room: &str) -> std::sync::MutexGuard<'_, Rooms<H>> {
        // Which lock a room's name falls under decides nothing but contention, so a fast hash does.
        let mut hasher = FxHasher::default();
        room.hash(&mut hasher);
        let shard = &self.shards[(hasher.finish() as usize) % self.shards.len()];
        // A panic while holding the lock cannot leave a shard half-changed in a way later calls would trip on
        // (each operation is one map update), so a poisoned lock is taken over rather than spreading the panic.
        shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the shard that holds `room`.
    pub fn with_room<R>(&self, room: &str, f: impl FnOnce(&mut Rooms<H>) -> R) -> R {
        let mut guard = self.lock(room);
        let before = guard.room_count();
        let result = f(&mut guard);
        let after = guard.room_count();
        if after > before {
            self.rooms.fetch_add(after - before, Ordering::Relaxed);
        } else if before > after {
            self.rooms.fetch_sub(before - after, Ordering::Relaxed);
        }
        result
    }

    /// Joins like [`Rooms::join`], unless `room` does not exist yet and the relay already holds
    /// `max_rooms` rooms.
    pub fn join(
        &self,
        room: &str,
        id: PeerId,
        name: String,
        handle: H,
        max_peers: u32,
        max_rooms: u32,
    ) -> Result<Joined<H>, JoinRefusal> {
        self.insert(room, id, name, handle, max_peers, max_rooms, true)
    }

    /// Reserves like [`Rooms::reserve`], with the same room cap as [`Registry::join`].
    pub fn reserve(
        &self,
        room: &str,
        id: PeerId,
        name: String,
        handle: H,
        max_peers: u32,
        max_rooms: u32,
    ) -> Result<(), JoinRefusal> {
        self.insert(room, id, name, handle, max_peers, max_rooms, false)
            .map(|_| ())
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &self,
        room: &str,
        id: PeerId,
        name: String,
        handle: H,
        max_peers: u32,
        max_rooms: u32,
        announced: bool,
    ) -> Result<Joined<H>, JoinRefusal> {
        let mut guard = self.lock(room);
        let opens = !guard.contains(room);
        if opens
            && self
                .rooms
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < max_rooms as usize).then_some(n + 1)
                })
                .is_err()
        {
            return Err(JoinRefusal::TooManyRooms { max_rooms });
        }
        let joined = guard.insert(room, id, name, handle, max_peers, announced);
        if opens && joined.is_err() {
            self.rooms.fetch_sub(1, Ordering::Relaxed);
        }
        joined
    }

    /// Runs `f` on every shard in turn (never two locks at once).
    pub fn each_shard<R>(&self, mut f: impl FnMut(&mut Rooms<H>) -> R) -> Vec<R> {
        self.shards
            .iter()
            .map(|s| f(&mut s.lock().unwrap_or_else(|p| p.into_inner())))
            .collect()
    }

    /// How many rooms have at least one local member, over all shards.
    pub fn room_count(&self) -> usize {
        self.rooms.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> PeerId {
        PeerId::from(s)
    }

    #[test]
    fn newcomer_learns_existing_members_oldest_first_and_they_learn_of_it() {
        let mut rooms = Rooms::default();
        let a = rooms.join("r", id("a"), "Ada".into(), 'a', 8).unwrap();
        assert!(a.members.is_empty() && a.others.is_empty());
        rooms.join("r", id("b"), "Bob".into(), 'b', 8).unwrap();
        let c = rooms.join("r", id("c"), "Cy".into(), 'c', 8).unwrap();
        assert_eq!(
            c.members,
            vec![
                Member {
                    id: id("a"),
                    name: "Ada".into()
                },
                Member {
                    id: id("b"),
                    name: "Bob".into()
                }
            ]
        );
        assert_eq!(c.others, vec!['a', 'b']);
    }

    #[test]
    fn full_room_refuses_and_frees_a_place_on_leave() {
        let mut rooms = Rooms::default();
        rooms.join("r", id("a"), "A".into(), 'a', 2).unwrap();
        rooms.join("r", id("b"), "B".into(), 'b', 2).unwrap();
        assert_eq!(
            rooms.join("r", id("c"), "C".into(), 'c', 2).unwrap_err(),
            JoinRefusal::Full { max_peers: 2 }
        );
        assert_eq!(rooms.leave("r", &id("a")), Some(vec!['b']));
        assert!(rooms.join("r", id("c"), "C".into(), 'c', 2).is_ok());
    }

    #[test]
    fn rooms_are_isolated_for_routing() {
        let mut rooms = Rooms::default();
        rooms.join("one", id("a"), "A".into(), 'a', 8).unwrap();
        rooms.join("two", id("b"), "B".into(), 'b', 8).unwrap();
        assert_eq!(rooms.route("one", &id("a")), Some(At::Local('a')));
        assert_eq!(rooms.route("one", &id("b")), None);
        assert_eq!(rooms.route("three", &id("a")), None);
    }

    #[test]
    fn last_member_out_removes_the_room_and_unknown_leaves_change_nothing() {
        let mut rooms = Rooms::default();
        rooms.join("r", id("a"), "A".into(), 'a', 8).unwrap();
        assert_eq!(rooms.leave("r", &id("zz")), None);
        assert_eq!(rooms.leave("nope", &id("a")), None);
        assert_eq!(rooms.room_count(), 1);
        assert_eq!(rooms.leave("r", &id("a")), Some(vec![]));
        assert_eq!(rooms.room_count(), 0);
        assert_eq!(rooms.leave("r", &id("a")), None);
    }

    #[test]
    fn rename_reaches_everyone_including_the_renamed() {
        let mut rooms = Rooms::default();
        rooms.join("r", id("a"), "A".into(), 'a', 8).unwrap();
        rooms.join("r", id("b"), "B".into(), 'b', 8).unwrap();
        assert_eq!(
            rooms.rename("r", &id("b"), "Bea".into()),
            Some(vec!['a', 'b'])
        );
        assert_eq!(rooms.members("r")[1].name, "Bea");
        assert_eq!(rooms.rename("r", &id("x"), "X".into()), None);
    }

    #[test]
    fn a_reservation_past_the_cap_leaves_no_trace_when_this_node_decides() {
        let mut rooms = Rooms::default();
        rooms.join("r", id("a"), "A".into(), 'a', 8).unwrap();
        rooms.add_remote(
            "r",
            Member {
                id: id("b"),
                name: "B".into(),
            },
            "n2".into(),
        );
        // In a cluster a reservation is made with no local cap; Redis then did not answer.
        rooms
            .reserve("r", id("c"), "C".into(), 'c', u32::MAX)
            .unwrap();
        rooms
            .reserve("r", id("d"), "D".into(), 'd', u32::MAX)
            .unwrap();
        let joined = rooms.confirm_within("r", &id("c"), 3).unwrap();
        assert_eq!(joined.others, vec!['a']);
        assert_eq!(
            rooms.confirm_within("r", &id("d"), 3).unwrap_err(),
            JoinRefusal::Full { max_peers: 3 }
        );
        assert_eq!(
            rooms.route("r", &id("d")),
            None,
            "no trace of the refused one"
        );
        assert_eq!(rooms.members("r").len(), 3);
    }

    #[test]
    fn only_the_node_that_holds_a_member_can_make_it_leave_or_rename_it() {
        let mut rooms = Rooms::default();
        rooms.join("r", id("a"), "A".into(), 'a', 8).unwrap();
        rooms.add_remote(
            "r",
            Member {
                id: id("b"),
                name: "B".into(),
            },
            "n2".into(),
        );
        // (who, claimed node): a local member, a member of another node, an unknown member.
        for (who, node) in [("a", "n2"), ("a", "n3"), ("b", "n3"), ("zz", "n2")] {
            assert_eq!(
                rooms.leave_remote("r", &id(who), node),
                None,
                "{who} by {node}"
            );
            assert_eq!(
                rooms.rename_remote("r", &id(who), node, "X".into()),
                None,
                "{who} by {node}"
            );
        }
        // A forged `joined` does not rename or move a local member.
        assert_eq!(
            rooms.add_remote(
                "r",
                Member {
                    id: id("a"),
                    name: "Forged".into()
                },
                "n3".into()
            ),
            None
        );
        assert_eq!(rooms.route("r", &id("a")), Some(At::Local('a')));
        assert_eq!(rooms.members("r")[0].name, "A");
        assert_eq!(
            rooms.rename_remote("r", &id("b"), "n2", "Bea".into()),
            Some(vec!['a'])
        );
        assert_eq!(rooms.leave_remote("r", &id("b"), "n2"), Some(vec!['a']));
        assert_eq!(rooms.members("r").len(), 1);
    }

    #[test]
    fn a_member_is_alone_when_nobody_else_is_connected_here_or_elsewhere() {
        let mut rooms = Rooms::default();
        let later = Instant::now() + std::time::Duration::from_secs(20);
        rooms.join("r", id("a"), "A".into(), 'a', 8).unwrap();
        assert!(!rooms.has_live_other("r", &id("a")));
        rooms.join("r", id("b"), "B".into(), 'b', 8).unwrap();
        assert!(rooms.has_live_other("r", &id("a")));
        assert!(rooms.set_away("r", &id("b"), &'b', later));
        assert!(
            !rooms.has_live_other("r", &id("a")),
            "an away member is nobody"
        );
        rooms.add_remote(
            "r",
            Member {
                id: id("c"),
                name: "C".into(),
            },
            "n2".into(),
        );
        assert!(
            rooms.has_live_other("r", &id("a")),
            "a member on another node is"
        );
    }

    #[test]
    fn registry_keeps_rooms_apart_across_shards() {
        let registry = Registry::new(4);
        for i in 0..20 {
            let room = format!("room-{i}");
            registry
                .with_room(&room, |r| {
                    r.join(&room, id(&format!("p{i}")), "N".into(), i, 8)
                })
                .unwrap();
        }
        assert_eq!(registry.room_count(), 20);
        let routed = registry.with_room("room-7", |r| r.route("room-7", &id("p7")));
        assert_eq!(routed, Some(At::Local(7)));
        let crossed = registry.with_room("room-7", |r| r.route("room-7", &id("p8")));
        assert_eq!(crossed, None);
    }

    #[test]
    fn registry_caps_rooms_but_not_joins_into_existing_ones() {
        let registry = Registry::new(4);
        for i in 0..3 {
            let room = format!("room-{i}");
            registry
                .join(&room, id(&format!("p{i}")), "N".into(), i, 8, 3)
                .unwrap();
        }
        assert_eq!(
            registry
                .join("room-3", id("x"), "X".into(), 9, 8, 3)
                .unwrap_err(),
            JoinRefusal::TooManyRooms { max_rooms: 3 }
        );
        registry
            .join("room-1", id("y"), "Y".into(), 10, 8, 3)
            .expect("an existing room still takes members");
        registry.with_room("room-0", |r| r.leave("room-0", &id("p0")));
        assert_eq!(registry.room_count(), 2);
        registry
            .join("room-3", id("x"), "X".into(), 9, 8, 3)
            .expect("a closed room frees a place");
        assert_eq!(
            registry.room_count(),
            registry
                .each_shard(|r| r.room_count())
                .into_iter()
                .sum::<usize>()
        );
    }

    fn member(i: &str, name: &str) -> Member {
        Member {
            id: id(i),
            name: name.into(),
        }
    }

    #[test]
    fn remote_members_are_mirrored_only_where_there_are_local_members() {
        let mut rooms = Rooms::default();
        assert_eq!(rooms.add_remote("r", member("x", "X"), "n2".into()), None);
        rooms.join("r", id("a"), "A".into(), 'a', 8).unwrap();
        assert_eq!(
            rooms.add_remote("r", member("x", "X"), "n2".into()),
            Some(vec!['a'])
        );
        // A second announcement of the same member changes nothing and tells nobody.
        assert_eq!(rooms.add_remote("r", member("x", "X"), "n2".into()), None);
        assert_eq!(rooms.route("r", &id("x")), Some(At::Remote("n2".into())));
        let c = rooms.join("r", id("c"), "C".into(), 'c', 8).unwrap();
        assert_eq!(c.members, vec![member("a", "A"), member("x", "X")]);
        assert_eq!(c.others, vec!['a'], "remote members get no local delivery");
        assert_eq!(
            rooms.remote_nodes().into_iter().collect::<Vec<_>>(),
            vec!["n2".to_string()]
        );
    }

    #[test]
    fn remote_members_count_towards_capacity() {
        let mut rooms = Rooms::default();
        rooms.join("r", id("a"), "A".into(), 'a', 2).unwrap();
        rooms.add_remote("r", member("x", "X"), "n2".into());
        assert_eq!(
            rooms.join("r", id("b"), "B".into(), 'b', 2).unwrap_err(),
            JoinRefusal::Full { max_peers: 2 }
        );
    }

    #[test]
    fn last_local_member_out_drops_the_remote_mirror() {
        let mut rooms = Rooms::default();
        rooms.join("r", id("a"), "A".into(), 'a', 8).unwrap();
        rooms.add_remote("r", member("x", "X"), "n2".into());
        assert_eq!(rooms.leave("r", &id("x")), Some(vec!['a']));
        rooms.add_remote("r", member("x", "X"), "n2".into());
        assert_eq!(rooms.leave("r", &id("a")), Some(vec![]));
        assert_eq!(rooms.room_count(), 0);
        assert_eq!(rooms.route("r", &id("x")), None);
    }

    #[test]
    fn a_dead_node_takes_exactly_its_members_away() {
        let mut rooms = Rooms::default();
        rooms.join("r", id("a"), "A".into(), 'a', 8).unwrap();
        rooms.join("s", id("b"), "B".into(), 'b', 8).unwrap();
        rooms.add_remote("r", member("x", "X"), "n2".into());
        rooms.add_remote("s", member("y", "Y"), "n2".into());
        rooms.add_remote("s", member("z", "Z"), "n3".into());
        let mut removed = rooms.remove_node("n2");
        removed.sort_by(|l, r| l.1.cmp(&r.1));
        assert_eq!(
            removed,
            vec![
                ("r".to_string(), id("x"), vec!['a']),
                ("s".to_string(), id("y"), vec!['b'])
            ]
        );
        assert_eq!(rooms.members("s"), vec![member("b", "B"), member("z", "Z")]);
    }

    #[test]
    fn reconcile_reports_who_appeared_and_who_vanished() {
        let mut rooms = Rooms::default();
        rooms.join("r", id("a"), "A".into(), 'a', 8).unwrap();
        rooms.add_remote("r", member("x", "X"), "n2".into());
        let (appeared, vanished, locals) = rooms
            .reconcile("r", vec![(member("y", "Y"), "n3".into())])
            .unwrap();
        assert_eq!(appeared, vec![member("y", "Y")]);
        assert_eq!(vanished, vec![id("x")]);
        assert_eq!(locals, vec!['a']);
        assert_eq!(rooms.members("r"), vec![member("a", "A"), member("y", "Y")]);
        assert_eq!(
            rooms.local_members(),
            vec![("r".to_string(), vec![member("a", "A")])]
        );
    }

    #[test]
    fn an_away_member_stays_listed_and_counted_but_gets_nothing_until_it_expires() {
        let mut rooms = Rooms::default();
        let t0 = Instant::now();
        let until = t0 + std::time::Duration::from_secs(20);
        rooms.join("r", id("a"), "A".into(), 'a', 2).unwrap();
        rooms.join("r", id("b"), "B".into(), 'b', 2).unwrap();
        assert!(
            !rooms.set_away("r", &id("b"), &'x', until),
            "only its own handle"
        );
        assert!(rooms.set_away("r", &id("b"), &'b', until));
        assert_eq!(rooms.route("r", &id("b")), Some(At::Away { until }));
        assert_eq!(rooms.members("r"), vec![member("a", "A"), member("b", "B")]);
        assert_eq!(
            rooms.join("r", id("c"), "C".into(), 'c', 2).unwrap_err(),
            JoinRefusal::Full { max_peers: 2 },
            "an away member keeps its place"
        );
        assert_eq!(rooms.rename("r", &id("a"), "Ada".into()), Some(vec!['a']));
        // A stale deadline (the member came back and left again since) expires nothing.
        assert_eq!(rooms.expire("r", &id("b"), t0), None);
        assert_eq!(rooms.expire("r", &id("b"), until), Some(vec!['a']));
        assert_eq!(rooms.route("r", &id("b")), None);
        assert_eq!(rooms.expire("r", &id("b"), until), None);
    }

    #[test]
    fn a_room_of_only_away_members_stays_until_the_last_expires() {
        let mut rooms = Rooms::default();
        let until = Instant::now();
        rooms.join("r", id("a"), "A".into(), 'a', 8).unwrap();
        rooms.add_remote("r", member("x", "X"), "n2".into());
        assert!(rooms.set_away("r", &id("a"), &'a', until));
        assert_eq!(rooms.room_count(), 1);
        assert_eq!(rooms.route("r", &id("x")), Some(At::Remote("n2".into())));
        assert_eq!(
            rooms.local_members(),
            vec![("r".to_string(), vec![member("a", "A")])],
            "away members are re-registered after a Redis outage"
        );
        assert_eq!(rooms.expire("r", &id("a"), until), Some(vec![]));
        assert_eq!(rooms.room_count(), 0, "the mirror went with the room");
    }

    #[test]
    fn resume_takes_back_an_away_slot_or_takes_over_a_live_one_in_place() {
        let mut rooms = Rooms::default();
        let until = Instant::now();
        rooms.join("r", id("a"), "A".into(), 'a', 8).unwrap();
        rooms.join("r", id("b"), "B".into(), 'b', 8).unwrap();
        rooms.join("r", id("c"), "C".into(), 'c', 8).unwrap();
        rooms.set_away("r", &id("b"), &'b', until);
        match rooms.resume("r", &id("b"), "B", 'B') {
            Resumed::Away { joined, renamed } => {
                assert_eq!(joined.members, vec![member("a", "A"), member("c", "C")]);
                assert_eq!(joined.others, vec!['a', 'c']);
                assert!(!renamed);
            }
            other => panic!("expected away, got {other:?}"),
        }
        assert_eq!(rooms.route("r", &id("b")), Some(At::Local('B')));
        // The stale deadline of the away time no longer expires it.
        assert_eq!(rooms.expire("r", &id("b"), until), None);
        // A live member is taken over; the old handle can no longer leave, rename or go away.
        match rooms.resume("r", &id("b"), "Bea", 'β') {
            Resumed::Replaced {
                old,
                renamed,
                joined,
            } => {
                assert_eq!(old, 'B');
                assert!(renamed);
                assert_eq!(joined.others, vec!['a', 'c']);
            }
            other => panic!("expected a takeover, got {other:?}"),
        }
        assert_eq!(rooms.release("r", &id("b"), &'B'), None);
        assert_eq!(rooms.rename_held("r", &id("b"), &'B', "Old".into()), None);
        assert!(!rooms.set_away("r", &id("b"), &'B', until));
        assert_eq!(
            rooms.members("r"),
            vec![member("a", "A"), member("b", "Bea"), member("c", "C")],
            "same place, new name"
        );
        assert_eq!(rooms.release("r", &id("b"), &'β'), Some(vec!['a', 'c']));
        // Absent ids, ids mirrored from other nodes and reserved ones are not resumed here.
        assert!(matches!(
            rooms.resume("r", &id("b"), "B", 'b'),
            Resumed::Absent
        ));
        assert!(matches!(
            rooms.resume("nope", &id("a"), "A", 'a'),
            Resumed::Absent
        ));
        rooms.add_remote("r", member("x", "X"), "n2".into());
        assert!(matches!(
            rooms.resume("r", &id("x"), "X", 'x'),
            Resumed::Elsewhere
        ));
        assert_eq!(rooms.route("r", &id("x")), Some(At::Remote("n2".into())));
        rooms.reserve("r", id("d"), "D".into(), 'd', 8).unwrap();
        assert!(matches!(
            rooms.resume("r", &id("d"), "D", 'e'),
            Resumed::Elsewhere
        ));
    }

    #[test]
    fn a_census_tells_held_announced_and_mirrored_members_apart() {
        let mut rooms = Rooms::default();
        let until = Instant::now();
        rooms.join("r", id("a"), "A".into(), 'a', 8).unwrap();
        rooms.join("r", id("b"), "B".into(), 'b', 8).unwrap();
        rooms.set_away("r", &id("b"), &'b', until);
        rooms.reserve("r", id("c"), "C".into(), 'c', 8).unwrap();
        rooms.add_remote("r", member("x", "X"), "n2".into());
        assert_eq!(
            rooms.census(),
            vec![Census {
                room: "r".into(),
                held: [id("a"), id("b"), id("c")].into_iter().collect(),
                announced: vec![member("a", "A"), member("b", "B")],
                mirrored: vec![(id("x"), "n2".into())],
            }]
        );
    }

    #[test]
    fn an_id_already_in_the_room_cannot_join_twice() {
        let mut rooms = Rooms::default();
        rooms.join("r", id("a"), "A".into(), 'a', 8).unwrap();
        assert_eq!(
            rooms.join("r", id("a"), "A2".into(), 'z', 8).unwrap_err(),
            JoinRefusal::IdTaken
        );
        assert_eq!(rooms.route("r", &id("a")), Some(At::Local('a')));
        assert_eq!(rooms.leave("r", &id("a")), Some(vec![]));
        assert_eq!(rooms.room_count(), 0, "the local count stayed exact");
    }

    #[test]
    fn a_reserved_member_is_invisible_until_confirmed_and_leaves_no_trace_if_refused() {
        let mut rooms = Rooms::default();
        rooms.join("r", id("a"), "A".into(), 'a', 8).unwrap();
        rooms.reserve("r", id("c"), "C".into(), 'c', 8).unwrap();
        // Events reach only announced members, and nobody lists the reserved one.
        assert_eq!(
            rooms.add_remote("r", member("x", "X"), "n2".into()),
            Some(vec!['a'])
        );
        assert_eq!(rooms.members("r"), vec![member("a", "A"), member("x", "X")]);
        let b = rooms.join("r", id("b"), "B".into(), 'b', 8).unwrap();
        assert_eq!(b.members, vec![member("a", "A"), member("x", "X")]);
        assert_eq!(b.others, vec!['a']);
        // Confirmed: it learns everyone as they are now, and those present learn of it.
        let c = rooms.confirm("r", &id("c")).unwrap();
        assert_eq!(
            c.members,
            vec![member("a", "A"), member("x", "X"), member("b", "B")]
        );
        assert_eq!(c.others, vec!['a', 'b']);
        // A refused reservation leaves silently.
        rooms.reserve("r", id("d"), "D".into(), 'd', 8).unwrap();
        assert_eq!(rooms.leave("r", &id("d")), Some(vec!['a', 'c', 'b']));
        assert!(rooms.members("r").iter().all(|m| m.id != id("d")));
    }
}
