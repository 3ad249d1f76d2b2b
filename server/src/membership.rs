//! The one place a member enters or leaves a room, and changes its name: the room update
//! ([`crate::rooms`]), the notices to the others in the room, the word to the other cluster nodes, the
//! counters and the log line, always together.
//!
//! Four paths change membership: a connection's own session (join, resume, rename, leave, going away),
//! the end of an away member's grace (`crate::resume`), events from other cluster nodes and the
//! retirement of a dead node (`crate::cluster`). Each calls one function here, so a member that leaves is
//! announced, published, counted and logged the same way whichever path removed it.
//!
//! This module decides nothing about rooms (that is `crate::rooms`) and owns no connection: it reaches
//! connections through [`Recipient`] and the cluster through [`Bus`], two traits that the connection layer
//! and the cluster implement. It never waits: every delivery is a push into a bounded queue, every
//! publication a push into the cluster's write queue. So it is tested here with recording fakes, and it
//! imports no transport code.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use peerlab_protocol::{encode_server, LeaveReason, Member, PeerId, ServerMessage};
use tungstenite::Utf8Bytes;

use crate::rooms::{JoinRefusal, NodeId, Registry, Resumed};
use crate::Counters;

/// What membership needs of a connection: a way to queue a frame for its client without waiting.
pub trait Recipient: Clone + PartialEq {
    /// How far behind a client may fall before a delivery evicts it (the transport's queue limits).
    type Limits;
    /// Queues `frame` for the client, within `limits`. Returns whether this push found the client too far
    /// behind and so evicted the connection.
    fn deliver(&self, frame: Utf8Bytes, limits: &Self::Limits) -> bool;
    /// Queues the signal `payload` (JSON text) from `from`, like [`Recipient::deliver`].
    fn deliver_signal(&self, from: &PeerId, payload: &str, limits: &Self::Limits) -> bool;
    /// Tells the connection that a newer one took its peer id over: it closes without a leave.
    fn replace(&self);
}

/// What membership tells the other nodes of a cluster. Implemented by `crate::cluster::Cluster`; every
/// call queues a write and returns at once.
pub trait Bus: Sync {
    /// A member of this node joined `room` (after the cluster admitted it).
    fn joined(&self, room: &str, member: &Member);
    /// A member of this node left `room`: removed from the cluster's record and announced.
    fn left(&self, room: &str, id: &PeerId, reason: LeaveReason);
    /// A member of this node changed its name.
    fn renamed(&self, room: &str, id: &PeerId, name: &str);
    /// A member of the dead node `node` is removed from the cluster's record of `room`, if that node still
    /// holds it there.
    fn released(&self, room: &str, id: &PeerId, node: &str);
}

/// What the cluster said about a join.
#[derive(Debug)]
pub enum Admission {
    /// Admitted; these are the other members on any node, oldest first, with the node each is on.
    Admitted(Vec<(Member, NodeId)>),
    /// The room is full cluster-wide.
    Full,
    /// A resumed id is held by another live node; the joiner must take a fresh id.
    Held,
    /// Redis did not answer: serve the room from local state.
    Unavailable,
}

/// Why an entry into a room did not happen.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The room is full, here or cluster-wide: `room_full` for the client.
    Full { max_peers: u32 },
    /// The relay holds `--max-rooms` rooms and this one is new: `too_many_rooms` for the client.
    TooManyRooms { max_rooms: u32 },
    /// The requested id is held already (only a resumed id can be): a fresh id follows.
    Taken,
}

impl From<JoinRefusal> for Refusal {
    fn from(refusal: JoinRefusal) -> Self {
        match refusal {
            JoinRefusal::Full { max_peers } => Refusal::Full { max_peers },
            JoinRefusal::TooManyRooms { max_rooms } => Refusal::TooManyRooms { max_rooms },
            JoinRefusal::IdTaken => Refusal::Taken,
        }
    }
}

/// What [`Members::reclaim`] found under a resume token's id.
#[derive(Debug, PartialEq, Eq)]
pub enum Reclaimed {
    /// The id was here (away or connected) and is now the new connection's; these are the others in the
    /// room, for its `welcome`.
    Done(Vec<Member>),
    /// The id is in the room nowhere this relay knows of.
    Absent,
    /// Another node holds the id, or a join of it still waits for the cluster: a fresh id follows.
    Elsewhere,
}

/// The relay's membership as one place: the registry, the counters, the queue limits that deliveries
/// respect, and the cluster, if any. Cheap to make (references only); made per operation.
pub struct Members<'a, H: Recipient> {
    /// Who is in which room.
    pub rooms: &'a Registry<H>,
    /// Counts joins, leaves, resumes and evictions for `/metrics`.
    pub counters: &'a crate::Counters,
    /// `--max-queue-bytes`, `--max-queue-delay-ms`, `--queue-capacity`: a notice that finds a member this
    /// far behind evicts it.
    pub limits: H::Limits,
    /// The other nodes, when the relay runs in a cluster.
    pub bus: Option<&'a dyn Bus>,
}

impl<'a, H: Recipient> Members<'a, H> {
    /// Membership over `rooms`, counted in `counters`.
    pub fn new(
        rooms: &'a Registry<H>,
        counters: &'a Counters,
        limits: H::Limits,
        bus: Option<&'a dyn Bus>,
    ) -> Self {
        Members {
            rooms,
            counters,
            limits,
            bus,
        }
    }

    /// Delivers `message` to every handle in `to`, serialized once.
    fn notify(&self, to: &[H], message: &ServerMessage) {
        if to.is_empty() {
            return;
        }
        let frame = Utf8Bytes::from(encode_server(message));
        for handle in to {
            if handle.deliver(frame.clone(), &self.limits) {
                self.counters.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Enters `member` into `room` at once (no cluster to ask), held by `handle`, under `max_peers`, and
    /// announces it. Returns the members already there, for its `welcome`.
    pub fn join(
        &self,
        room: &str,
        member: &Member,
        handle: H,
        max_peers: u32,
        max_rooms: u32,
        resumed: bool,
    ) -> Result<Vec<Member>, Refusal> {
        let joined = self.rooms.join(
            room,
            member.id.clone(),
            member.name.clone(),
            handle,
            max_peers,
            max_rooms,
        )?;
        self.entered(room, member, &joined.others, joined.members.len(), resumed);
        Ok(joined.members)
    }

    /// Holds a place in `room` for `member` while the cluster decides ([`Members::admitted`]): nobody
    /// hears of it yet, but events of other nodes about the room reach it from now on.
    pub fn reserve(
        &self,
        room: &str,
        member: &Member,
        handle: H,
        max_rooms: u32,
    ) -> Result<(), Refusal> {
        // The cluster decides capacity; the local mirror of remote members may lag behind it.
        self.rooms.reserve(
            room,
            member.id.clone(),
            member.name.clone(),
            handle,
            u32::MAX,
            max_rooms,
        )?;
        Ok(())
    }

    /// Settles a reservation with the cluster's answer: announces the member (and mirrors the remote
    /// members Redis named) or removes it without a trace. Without an answer from Redis, this node's view
    /// decides, under `max_peers`. Returns the members already there, for its `welcome`.
    pub fn admitted(
        &self,
        room: &str,
        member: &Member,
        admission: Admission,
        max_peers: u32,
        resumed: bool,
    ) -> Result<Vec<Member>, Refusal> {
        let id = &member.id;
        let confirmed = self.rooms.with_room(room, |rooms| {
            match admission {
                Admission::Full => {
                    rooms.leave(room, id);
                    return Err(Refusal::Full { max_peers });
                }
                Admission::Held => {
                    rooms.leave(room, id);
                    return Err(Refusal::Taken);
                }
                Admission::Admitted(remote) => {
                    for (other, node) in remote {
                        if let Some(locals) = rooms.add_remote(room, other.clone(), node) {
                            self.notify(&locals, &ServerMessage::MemberJoined { member: other });
                        }
                    }
                }
                Admission::Unavailable => {
                    return rooms
                        .confirm_within(room, id, max_peers)
                        .map_err(Refusal::from);
                }
            }
            rooms.confirm(room, id).ok_or(Refusal::Full { max_peers })
        })?;
        self.entered(
            room,
            member,
            &confirmed.others,
            confirmed.members.len(),
            resumed,
        );
        Ok(confirmed.members)
    }

    /// Tells the room and the cluster that `member` entered, counts and logs it.
    fn entered(&self, room: &str, member: &Member, others: &[H], before: usize, resumed: bool) {
        self.notify(
            others,
            &ServerMessage::MemberJoined {
                member: member.clone(),
            },
        );
        if let Some(bus) = self.bus {
            bus.joined(room, member);
        }
        tracing::info!(room = %room, peer = %member.id, members = before + 1, resumed, "joined");
        if resumed {
            self.counters
                .resumed_restart
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Gives `handle` the id `id` of `room` if this relay holds it: an away member comes back, a live one
    /// is taken over (its connection told through [`Recipient::replace`]). Nobody hears of it except, when
    /// `name` changed, as `member_renamed`.
    pub fn reclaim(&self, room: &str, id: &PeerId, name: &str, handle: H) -> Reclaimed {
        let found = self.rooms.with_room(room, |rooms| {
            let found = rooms.resume(room, id, name, handle);
            if let Resumed::Away {
                joined,
                renamed: true,
            }
            | Resumed::Replaced {
                joined,
                renamed: true,
                ..
            } = &found
            {
                self.notify(
                    &joined.others,
                    &ServerMessage::MemberRenamed {
                        id: id.clone(),
                        name: name.to_owned(),
                    },
                );
            }
            found
        });
        let (joined, renamed, how) = match found {
            Resumed::Away { joined, renamed } => {
                self.counters.resumed_away.fetch_add(1, Ordering::Relaxed);
                (joined, renamed, "away")
            }
            Resumed::Replaced {
                joined,
                old,
                renamed,
            } => {
                old.replace();
                self.counters
                    .resumed_replaced
                    .fetch_add(1, Ordering::Relaxed);
                (joined, renamed, "replaced a live connection")
            }
            Resumed::Absent => return Reclaimed::Absent,
            Resumed::Elsewhere => return Reclaimed::Elsewhere,
        };
        if renamed {
            if let Some(bus) = self.bus {
                bus.renamed(room, id, name);
            }
        }
        tracing::info!(%room, peer = %id, how, "resumed");
        Reclaimed::Done(joined.members)
    }

    /// Renames the member `id` of `room` if `handle` still holds it, and tells the room and the cluster.
    /// Returns whether it did (a replaced connection no longer speaks for its id).
    pub fn rename(&self, room: &str, id: &PeerId, handle: &H, name: &str) -> bool {
        let held = self.rooms.with_room(room, |rooms| {
            let members = rooms.rename_held(room, id, handle, name.to_owned())?;
            self.notify(
                &members,
                &ServerMessage::MemberRenamed {
                    id: id.clone(),
                    name: name.to_owned(),
                },
            );
            Some(())
        });
        if held.is_some() {
            if let Some(bus) = self.bus {
                bus.renamed(room, id, name);
            }
        }
        held.is_some()
    }

    /// Removes the member `id` (named `name`) of `room` if `handle` still holds it, telling the room and
    /// the cluster `reason`. Returns whether it did (a replaced connection leaves nothing: the member is the
    /// newer connection's).
    pub fn leave(
        &self,
        room: &str,
        id: &PeerId,
        name: &str,
        handle: &H,
        reason: LeaveReason,
    ) -> bool {
        let held = self.rooms.with_room(room, |rooms| {
            let others = rooms.release(room, id, handle)?;
            self.notify(
                &others,
                &ServerMessage::MemberLeft {
                    id: id.clone(),
                    reason,
                },
            );
            Some(())
        });
        if held.is_some() {
            if let Some(bus) = self.bus {
                bus.left(room, id, reason);
            }
            tracing::info!(%room, peer = %id, %name, ?reason, "left");
        }
        held.is_some()
    }

    /// Keeps the member `id` of `room` as away for `grace` from `now`, telling nobody; `reason` is what the
    /// others hear if it does not come back (`crate::resume` ends the grace through [`Members::expire`]).
    /// Returns the end of the grace when it is away; otherwise it has left as by [`Members::leave`].
    ///
    /// An away member alone in its room keeps the room open for nobody but itself, so connection churn
    /// (join a new room, drop, repeat) could fill `max_rooms` with such rooms for the length of the grace.
    /// While the relay holds half its cap or more (this room counted), a member with nobody connected in
    /// its room therefore leaves at once: such rooms stay under half the cap, and the member loses nothing
    /// (it rejoins with a fresh id and finds the room as empty as it left it).
    #[allow(clippy::too_many_arguments)]
    pub fn go_away(
        &self,
        room: &str,
        id: &PeerId,
        name: &str,
        handle: &H,
        reason: LeaveReason,
        (now, grace): (Instant, Duration),
        max_rooms: u32,
    ) -> Option<Instant> {
        let crowded = self.rooms.room_count() * 2 >= max_rooms as usize;
        if crowded
            && !self
                .rooms
                .with_room(room, |rooms| rooms.has_live_other(room, id))
        {
            self.leave(room, id, name, handle, reason);
            return None;
        }
        let until = now + grace;
        let away = self
            .rooms
            .with_room(room, |rooms| rooms.set_away(room, id, handle, until));
        if away {
            self.counters.went_away.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%room, peer = %id, ?reason, grace_ms = grace.as_millis() as u64, "away");
        }
        away.then_some(until)
    }

    /// Removes the away member `id` of `room` if it is still away with deadline `until`, and tells the
    /// room and the cluster `reason`. Returns whether it did.
    pub fn expire(&self, room: &str, id: &PeerId, until: Instant, reason: LeaveReason) -> bool {
        let expired = self.rooms.with_room(room, |rooms| {
            let others = rooms.expire(room, id, until)?;
            self.notify(
                &others,
                &ServerMessage::MemberLeft {
                    id: id.clone(),
                    reason,
                },
            );
            Some(())
        });
        if expired.is_none() {
            return false;
        }
        self.counters.away_expired.fetch_add(1, Ordering::Relaxed);
        if let Some(bus) = self.bus {
            bus.left(room, id, reason);
        }
        tracing::info!(%room, peer = %id, ?reason, "away member did not come back; left");
        true
    }

    /// Mirrors `member`, which joined `room` on `node`, and tells the local members there.
    pub fn remote_joined(&self, room: &str, member: Member, node: NodeId) {
        self.rooms.with_room(room, |rooms| {
            if let Some(locals) = rooms.add_remote(room, member.clone(), node) {
                self.notify(&locals, &ServerMessage::MemberJoined { member });
            }
        });
    }

    /// Removes the member `id` of `room` if `node` holds it, and tells the local members `reason`.
    pub fn remote_left(&self, room: &str, id: &PeerId, node: &str, reason: LeaveReason) {
        self.rooms.with_room(room, |rooms| {
            if let Some(locals) = rooms.leave_remote(room, id, node) {
                self.notify(
                    &locals,
                    &ServerMessage::MemberLeft {
                        id: id.clone(),
                        reason,
                    },
                );
            }
        });
    }

    /// Renames the member `id` of `room` if `node` holds it, and tells the local members.
    pub fn remote_renamed(&self, room: &str, id: &PeerId, node: &str, name: String) {
        self.rooms.with_room(room, |rooms| {
            if let Some(locals) = rooms.rename_remote(room, id, node, name.clone()) {
                self.notify(
                    &locals,
                    &ServerMessage::MemberRenamed {
                        id: id.clone(),
                        name,
                    },
                );
            }
        });
    }

    /// Removes every mirrored member of the dead node `node`: each is announced as left (`timeout`) and
    /// released from the cluster's record. Returns how many there were.
    pub fn node_gone(&self, node: &str) -> usize {
        let removed: Vec<_> = self
            .rooms
            .each_shard(|r| r.remove_node(node))
            .into_iter()
            .flatten()
            .collect();
        tracing::warn!(
            node,
            members = removed.len(),
            "node stopped answering; its members left"
        );
        for (room, id, locals) in &removed {
            if let Some(bus) = self.bus {
                bus.released(room, id, node);
            }
            self.notify(
                locals,
                &ServerMessage::MemberLeft {
                    id: id.clone(),
                    reason: LeaveReason::Timeout,
                },
            );
        }
        removed.len()
    }

    /// Makes the mirror of `room` equal to `remote` (the cluster's view of the members on other nodes),
    /// telling the local members who appeared and who vanished (`timeout`).
    pub fn mirror(&self, room: &str, remote: Vec<(Member, NodeId)>) {
        self.rooms.with_room(room, |rooms| {
            if let Some((appeared, vanished, locals)) = rooms.reconcile(room, remote) {
                for member in appeared {
                    self.notify(&locals, &ServerMessage::MemberJoined { member });
                }
                for id in vanished {
                    self.notify(
                        &locals,
                        &ServerMessage::MemberLeft {
                            id,
                            reason: LeaveReason::Timeout,
                        },
                    );
                }
            }
        });
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! Recording fakes of a connection and of the cluster, shared by this module's tests and the session's.

    use std::sync::{Arc, Mutex};

    use peerlab_protocol::{decode_server, LeaveReason, Member, PeerId, ServerMessage};
    use tungstenite::Utf8Bytes;

    use super::{Bus, Recipient};

    /// A connection that records what it is sent: each line `"<who> <= <message>"` in a shared log.
    #[derive(Clone)]
    pub struct Probe {
        pub who: &'static str,
        pub log: Arc<Mutex<Vec<String>>>,
        /// How many frames its queue holds before a delivery evicts it; usize::MAX for "never".
        pub room_for: usize,
        pub held: Arc<Mutex<usize>>,
    }

    impl PartialEq for Probe {
        fn eq(&self, other: &Self) -> bool {
            Arc::ptr_eq(&self.held, &other.held)
        }
    }

    impl std::fmt::Debug for Probe {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.who)
        }
    }

    impl Probe {
        pub fn new(who: &'static str, log: &Arc<Mutex<Vec<String>>>) -> Probe {
            Probe {
                who,
                log: log.clone(),
                room_for: usize::MAX,
                held: Arc::default(),
            }
        }

        fn record(&self, line: String) {
            self.log.lock().unwrap().push(line);
        }
    }

    impl Recipient for Probe {
        type Limits = usize;

        fn deliver(&self, frame: Utf8Bytes, _capacity: &usize) -> bool {
            let mut held = self.held.lock().unwrap();
            if *held >= self.room_for {
                self.record(format!("{} evicted", self.who));
                return true;
            }
            *held += 1;
            let message = decode_server(frame.as_str()).expect("the relay sends valid messages");
            self.record(format!("{} <= {}", self.who, show(&message)));
            false
        }

        fn deliver_signal(&self, from: &PeerId, payload: &str, _capacity: &usize) -> bool {
            self.record(format!("{} <= signal from {from} {payload}", self.who));
            false
        }

        fn replace(&self) {
            self.record(format!("{} replaced", self.who));
        }
    }

    /// A cluster that records what it is told, as `"bus: ..."` lines in the same log.
    pub struct Recorder(pub Arc<Mutex<Vec<String>>>);

    impl Bus for Recorder {
        fn joined(&self, room: &str, member: &Member) {
            self.0
                .lock()
                .unwrap()
                .push(format!("bus: joined {room} {} {}", member.id, member.name));
        }
        fn left(&self, room: &str, id: &PeerId, reason: LeaveReason) {
            self.0
                .lock()
                .unwrap()
                .push(format!("bus: left {room} {id} {reason:?}"));
        }
        fn renamed(&self, room: &str, id: &PeerId, name: &str) {
            self.0
                .lock()
                .unwrap()
                .push(format!("bus: renamed {room} {id} {name}"));
        }
        fn released(&self, room: &str, id: &PeerId, node: &str) {
            self.0
                .lock()
                .unwrap()
                .push(format!("bus: released {room} {id} of {node}"));
        }
    }

    /// A server message in one short line, for transcripts.
    pub fn show(message: &ServerMessage) -> String {
        let names = |members: &[Member]| {
            members
                .iter()
                .map(|m| format!("{}:{}", m.id, m.name))
                .collect::<Vec<_>>()
                .join(",")
        };
        match message {
            ServerMessage::Welcome {
                peer_id,
                room,
                name,
                members,
                resumed,
                ..
            } => format!(
                "welcome {peer_id}:{name} in {room} [{}]{}",
                names(members),
                if *resumed { " resumed" } else { "" }
            ),
            ServerMessage::MemberJoined { member } => {
                format!("joined {}:{}", member.id, member.name)
            }
            ServerMessage::MemberLeft { id, reason } => format!("left {id} {reason:?}"),
            ServerMessage::MemberRenamed { id, name } => format!("renamed {id}:{name}"),
            ServerMessage::Signal { from, payload } => {
                format!("signal from {from} {}", payload.as_json())
            }
            ServerMessage::Left { room } => format!("you left {room}"),
            ServerMessage::Pong { nonce } => format!("pong {nonce}"),
            ServerMessage::IceServers { ice_servers } => {
                format!("ice_servers x{}", ice_servers.len())
            }
            ServerMessage::Error { code, .. } => format!("error {code}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::fake::{Probe, Recorder};
    use super::*;

    fn member(id: &str, name: &str) -> Member {
        Member {
            id: PeerId::from(id),
            name: name.into(),
        }
    }

    struct World {
        rooms: Registry<Probe>,
        counters: Counters,
        log: Arc<Mutex<Vec<String>>>,
        bus: Recorder,
    }

    impl World {
        fn new() -> World {
            let log = Arc::new(Mutex::new(Vec::new()));
            World {
                rooms: Registry::new(4),
                counters: Counters::default(),
                bus: Recorder(log.clone()),
                log,
            }
        }

        fn members(&self, clustered: bool) -> Members<'_, Probe> {
            let bus = clustered.then_some(&self.bus as &dyn Bus);
            Members::new(&self.rooms, &self.counters, 8, bus)
        }

        fn probe(&self, who: &'static str) -> Probe {
            Probe::new(who, &self.log)
        }

        /// The log since the last call.
        fn said(&self) -> Vec<String> {
            std::mem::take(&mut *self.log.lock().unwrap())
        }
    }

    fn check(world: &World, expected: &[&str]) {
        assert_eq!(world.said(), expected);
    }

    #[test]
    fn a_leave_is_announced_published_and_counted_once_by_whichever_path_removes_the_member() {
        let w = World::new();
        let m = w.members(true);
        let (a, b) = (w.probe("a"), w.probe("b"));
        m.join("r", &member("a", "A"), a.clone(), 8, 8, false)
            .unwrap();
        m.join("r", &member("b", "B"), b.clone(), 8, 8, false)
            .unwrap();
        check(
            &w,
            &["bus: joined r a A", "a <= joined b:B", "bus: joined r b B"],
        );
        // Only the handle that holds the member can remove it.
        assert!(!m.leave("r", &PeerId::from("b"), "B", &a, LeaveReason::Left));
        check(&w, &[]);
        assert!(m.leave("r", &PeerId::from("b"), "B", &b, LeaveReason::Evicted));
        check(&w, &["a <= left b Evicted", "bus: left r b Evicted"]);
        assert!(!m.leave("r", &PeerId::from("b"), "B", &b, LeaveReason::Left));
        check(&w, &[]);

        // Through the end of a grace: the same notice and publication, and the count.
        let grace = (Instant::now(), Duration::from_secs(5));
        let c = w.probe("c");
        m.join("r", &member("c", "C"), c.clone(), 8, 8, false)
            .unwrap();
        w.said();
        let until = m
            .go_away(
                "r",
                &PeerId::from("c"),
                "C",
                &c,
                LeaveReason::Timeout,
                grace,
                8,
            )
            .expect("away");
        check(&w, &[]);
        assert!(!m.expire(
            "r",
            &PeerId::from("c"),
            Instant::now(),
            LeaveReason::Timeout
        ));
        assert!(m.expire("r", &PeerId::from("c"), until, LeaveReason::Timeout));
        check(&w, &["a <= left c Timeout", "bus: left r c Timeout"]);
        assert_eq!(w.counters.went_away.load(Ordering::Relaxed), 1);
        assert_eq!(w.counters.away_expired.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn members_of_other_nodes_change_only_by_their_node_and_are_never_published_back() {
        let w = World::new();
        let m = w.members(true);
        let a = w.probe("a");
        m.join("r", &member("a", "A"), a.clone(), 8, 8, false)
            .unwrap();
        w.said();
        // (step, expected lines)
        m.remote_joined("r", member("x", "X"), "n2".into());
        check(&w, &["a <= joined x:X"]);
        m.remote_joined("r", member("x", "X"), "n2".into());
        check(&w, &[]);
        m.remote_renamed("r", &PeerId::from("x"), "n3", "Forged".into());
        m.remote_left("r", &PeerId::from("x"), "n3", LeaveReason::Left);
        m.remote_left("r", &PeerId::from("a"), "n2", LeaveReason::Left);
        check(&w, &[]);
        m.remote_renamed("r", &PeerId::from("x"), "n2", "Xena".into());
        check(&w, &["a <= renamed x:Xena"]);
        m.remote_left("r", &PeerId::from("x"), "n2", LeaveReason::Left);
        check(&w, &["a <= left x Left"]);
        m.remote_joined("r", member("y", "Y"), "n2".into());
        m.remote_joined("r", member("z", "Z"), "n3".into());
        w.said();
        assert_eq!(m.node_gone("n2"), 1);
        check(&w, &["bus: released r y of n2", "a <= left y Timeout"]);
        m.mirror("r", vec![(member("w", "W"), "n4".into())]);
        check(&w, &["a <= joined w:W", "a <= left z Timeout"]);
    }

    #[test]
    fn a_cluster_answer_settles_a_reservation() {
        // (admission, expected result, expected lines)
        type Case = (Admission, Result<Vec<Member>, Refusal>, Vec<&'static str>);
        let cases: Vec<Case> = vec![
            (
                Admission::Admitted(vec![(member("x", "X"), "n2".into())]),
                Ok(vec![member("a", "A"), member("x", "X")]),
                vec!["a <= joined x:X", "a <= joined c:C", "bus: joined r c C"],
            ),
            (Admission::Full, Err(Refusal::Full { max_peers: 8 }), vec![]),
            (Admission::Held, Err(Refusal::Taken), vec![]),
            (
                Admission::Unavailable,
                Ok(vec![member("a", "A")]),
                vec!["a <= joined c:C", "bus: joined r c C"],
            ),
        ];
        for (i, (admission, result, lines)) in cases.into_iter().enumerate() {
            let w = World::new();
            let m = w.members(true);
            m.join("r", &member("a", "A"), w.probe("a"), 8, 8, false)
                .unwrap();
            m.reserve("r", &member("c", "C"), w.probe("c"), 8).unwrap();
            w.said();
            assert_eq!(
                m.admitted("r", &member("c", "C"), admission, 8, false),
                result,
                "case {i}"
            );
            assert_eq!(w.said(), lines, "case {i}");
            let listed = w.rooms.with_room("r", |r| r.members("r")).len();
            let expected = result.as_ref().map_or(1, |members| members.len() + 1);
            assert_eq!(listed, expected, "case {i}");
        }
    }

    #[test]
    fn a_reclaimed_id_replaces_a_live_connection_and_announces_only_a_new_name() {
        let w = World::new();
        let m = w.members(true);
        let (a, b) = (w.probe("a"), w.probe("b"));
        m.join("r", &member("a", "A"), a, 8, 8, false).unwrap();
        m.join("r", &member("b", "B"), b.clone(), 8, 8, false)
            .unwrap();
        w.said();
        assert_eq!(
            m.reclaim("r", &PeerId::from("b"), "B", w.probe("b2")),
            Reclaimed::Done(vec![member("a", "A")])
        );
        check(&w, &["b replaced"]);
        assert_eq!(
            m.reclaim("r", &PeerId::from("b"), "Bea", w.probe("b3")),
            Reclaimed::Done(vec![member("a", "A")])
        );
        check(
            &w,
            &["a <= renamed b:Bea", "b2 replaced", "bus: renamed r b Bea"],
        );
        assert_eq!(
            m.reclaim("r", &PeerId::from("zz"), "Z", w.probe("z")),
            Reclaimed::Absent
        );
        assert_eq!(w.counters.resumed_replaced.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_full_queue_evicts_and_is_counted() {
        let w = World::new();
        let m = w.members(false);
        let mut a = w.probe("a");
        a.room_for = 1;
        m.join("r", &member("a", "A"), a, 8, 8, false).unwrap();
        m.join("r", &member("b", "B"), w.probe("b"), 8, 8, false)
            .unwrap();
        m.join("r", &member("c", "C"), w.probe("c"), 8, 8, false)
            .unwrap();
        check(&w, &["a <= joined b:B", "a evicted", "b <= joined c:C"]);
        assert_eq!(w.counters.evictions.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_away_member_alone_in_a_crowded_relay_leaves_at_once() {
        let w = World::new();
        let m = w.members(false);
        let grace = (Instant::now(), Duration::from_secs(5));
        let (a, b) = (w.probe("a"), w.probe("b"));
        m.join("r", &member("a", "A"), a.clone(), 8, 8, false)
            .unwrap();
        m.join("s", &member("b", "B"), b.clone(), 8, 8, false)
            .unwrap();
        // Two rooms of a cap of four: crowded, and `a` is alone.
        assert_eq!(
            m.go_away(
                "r",
                &PeerId::from("a"),
                "A",
                &a,
                LeaveReason::Left,
                grace,
                4
            ),
            None
        );
        assert_eq!(w.rooms.room_count(), 1);
        // One room of a cap of four: not crowded.
        assert!(m
            .go_away(
                "s",
                &PeerId::from("b"),
                "B",
                &b,
                LeaveReason::Left,
                grace,
                4
            )
            .is_some());
        assert_eq!(w.rooms.room_count(), 1);
    }
}
