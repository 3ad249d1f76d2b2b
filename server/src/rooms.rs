//! Room membership as plain data: who is in which room, under which name, reachable through which handle.
//!
//! This module decides; it does not send. Every operation returns the handles the caller must notify, so the
//! rules (capacity, duplicate joins, routing only inside a room) are tested here without sockets. It knows
//! nothing of axum, WebSockets or time, and it never mints peer ids: the caller passes them in.
//!
//! [`Registry`] shards the rooms over several mutexes by room name, so joins and signals in different rooms do
//! not wait for each other. A std `Mutex` is right here: every critical section is short and never awaits.

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use indexmap::IndexMap;
use peerlab_protocol::{Member, PeerId};

/// Why a join was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinRefusal {
    /// The room already holds `max_peers` members.
    Full { max_peers: u32 },
}

/// What a successful join tells the caller.
#[derive(Debug)]
pub struct Joined<H> {
    /// The members who were already there, oldest first: they go into the newcomer's `welcome`.
    pub members: Vec<Member>,
    /// Their handles: each gets `member_joined`.
    pub others: Vec<H>,
}

/// One member as the room keeps it.
#[derive(Debug)]
struct Slot<H> {
    name: String,
    handle: H,
}

/// The members of one room, in join order (so `welcome` lists them oldest first).
#[derive(Debug)]
struct Room<H> {
    members: IndexMap<PeerId, Slot<H>>,
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
        let entry = self.rooms.entry(room.to_owned()).or_insert_with(|| Room {
            members: IndexMap::new(),
        });
        if entry.members.len() >= max_peers as usize {
            return Err(JoinRefusal::Full { max_peers });
        }
        let members = entry
            .members
            .iter()
            .map(|(id, slot)| Member {
                id: id.clone(),
                name: slot.name.clone(),
            })
            .collect();
        let others = entry.members.values().map(|s| s.handle.clone()).collect();
        entry.members.insert(id, Slot { name, handle });
        Ok(Joined { members, others })
    }

    /// Removes `id` from `room` and returns the handles of those who remain (to be told `member_left`).
    /// Returns `None` if `id` was not there. The last member out removes the room.
    pub fn leave(&mut self, room: &str, id: &PeerId) -> Option<Vec<H>> {
        let Entry::Occupied(mut entry) = self.rooms.entry(room.to_owned()) else {
            return None;
        };
        entry.get_mut().members.shift_remove(id)?;
        if entry.get().members.is_empty() {
            entry.remove();
            return Some(Vec::new());
        }
        Some(
            entry
                .get()
                .members
                .values()
                .map(|s| s.handle.clone())
                .collect(),
        )
    }

    /// Renames `id` and returns every member's handle, the renamed one included.
    pub fn rename(&mut self, room: &str, id: &PeerId, name: String) -> Option<Vec<H>> {
        let room = self.rooms.get_mut(room)?;
        room.members.get_mut(id)?.name = name;
        Some(room.members.values().map(|s| s.handle.clone()).collect())
    }

    /// The handle of `to`, if `to` is a member of `room`.
    pub fn route(&self, room: &str, to: &PeerId) -> Option<H> {
        self.rooms
            .get(room)?
            .members
            .get(to)
            .map(|s| s.handle.clone())
    }

    /// The members of `room`, oldest first.
    pub fn members(&self, room: &str) -> Vec<Member> {
        self.rooms
            .get(room)
            .map(|r| {
                r.members
                    .iter()
                    .map(|(id, s)| Member {
                        id: id.clone(),
                        name: s.name.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many rooms have at least one member.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }
}

/// The rooms of the whole relay, sharded by room name.
pub struct Registry<H> {
    shards: Box<[Mutex<Rooms<H>>]>,
}

impl<H: Clone> Registry<H> {
    /// A registry with `shards` independent locks (at least one).
    pub fn new(shards: usize) -> Self {
        Registry {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Rooms::default()))
                .collect(),
        }
    }

    /// Runs `f` on the shard that holds `room`.
    pub fn with_room<R>(&self, room: &str, f: impl FnOnce(&mut Rooms<H>) -> R) -> R {
        let mut hasher = DefaultHasher::new();
        room.hash(&mut hasher);
        let shard = &self.shards[(hasher.finish() as usize) % self.shards.len()];
        // A panic while holding the lock cannot leave a shard half-changed in a way later calls would trip on
        // (each operation is one map update), so a poisoned lock is taken over rather than spreading the panic.
        let mut guard = shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// How many rooms have at least one member, over all shards.
    pub fn room_count(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).room_count())
            .sum()
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
        assert_eq!(rooms.route("one", &id("a")), Some('a'));
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
        assert_eq!(routed, Some(7));
        let crossed = registry.with_room("room-7", |r| r.route("room-7", &id("p8")));
        assert_eq!(crossed, None);
    }
}
