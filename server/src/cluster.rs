//! Scale-out: several relay processes acting as one, through Redis.
//!
//! Each node keeps serving its own connections from its [`Registry`](crate::rooms::Registry); Redis carries
//! what crosses nodes:
//! - **Membership** of every room lives in a Redis hash `peerlab:room:<room>` (peer id → `node|seq|name`).
//!   A join is admitted by one Lua script that drops members of dead nodes, checks the room's capacity
//!   cluster-wide and adds the newcomer, atomically; it answers with the other members.
//! - **Events** (joined, left, renamed) go to the channel `peerlab:bus`. Every node subscribes and mirrors
//!   the remote members of the rooms where it has local members (see `rooms::At::Remote`).
//! - **Signals** to a member on another node go to that node's channel `peerlab:node:<id>` as JSON
//!   (`room`, `to`, `from`, the sending `node` and the opaque `payload`). The receiving node writes the
//!   frame itself, and only for a `from` it mirrors as a member of that room on that node: whatever can
//!   publish on Redis cannot make a client receive anything but a signal from a member of its room.
//! - **Liveness**: each node refreshes `peerlab:alive:<id>` (expiring after three heartbeats). Nodes check
//!   the nodes they mirror members of on every heartbeat; a node whose key expired has its members
//!   announced as left (reason `timeout`) and removed from the hashes.
//! - **Redis outage**: the node keeps serving its local members (joins fall back to the local capacity
//!   check). When the subscription comes back, it re-registers its local members and reconciles its mirror
//!   with the hashes, announcing whoever appeared or vanished meanwhile.
//!
//! - **Away members** (dropped connections within `--resume-grace-ms`, see `crate::resume`) stay in the
//!   room hash under their node and nothing is published, so other nodes keep mirroring them until the
//!   grace ends and the holding node publishes `left`. A resume on the holding node changes nothing in
//!   Redis. A resume that brings an id back after a restart is admitted with the script's resume flag,
//!   which refuses an id another live node still holds, so no id ever has two holders.
//! - **Reconciliation**: every `--cluster-reconcile-ms` each node compares every room hash, the nodes'
//!   liveness and its own rooms, and repairs the difference (`crate::reconcile` decides): entries of dead
//!   nodes are released even in rooms no live node mirrors, local members Redis lost to a restart or a
//!   flush are written back, and mirror differences that two checks agree on are announced.
//! - **Resume key**: without `--resume-secret`, the nodes agree on one random key under
//!   `peerlab:resume-key` (SET NX, then GET), so a token issued by one node verifies on another.
//!
//! - **Trust**: events from the bus are checked against what this node knows. Only the node that holds a
//!   member can make it leave or rename it here (a `left` naming another node's member is ignored), names
//!   and ids must be well formed, and the room hash is changed only by compare-and-set scripts that touch a
//!   member only while the hash says this node holds it.
//!
//! Everything a socket asks of the cluster is queued to one writer task, so no socket ever waits on Redis
//! except a join, which must know the room's members. The queue counts the bytes of forwarded signals
//! (dropped past a budget while Redis is slow: their peers retry) but never drops a membership write,
//! which would leave a ghost member holding a room slot.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use peerlab_protocol::{validate_name, validate_room, LeaveReason, Member, PeerId};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub use crate::membership::Admission;
use crate::membership::{Bus, Recipient};
use crate::reconcile::{plan, Doubts};
use crate::rooms::{Census, NodeId};
use crate::AppState;

const BUS: &str = "peerlab:bus";
const SEQ_KEY: &str = "peerlab:seq";
const RESUME_KEY: &str = "peerlab:resume-key";

fn room_key(room: &str) -> String {
    format!("peerlab:room:{room}")
}

fn alive_key(node: &str) -> String {
    format!("peerlab:alive:{node}")
}

fn node_channel(node: &str) -> String {
    format!("peerlab:node:{node}")
}

/// How long a socket's join waits for Redis before serving the room from local state only.
const REDIS_TIMEOUT: Duration = Duration::from_millis(1_000);

/// How many bytes of forwarded signals may wait for the writer task; past that, signals are dropped (a
/// signal lost while Redis is this slow is one its peers retry, by ICE restart at worst). Membership
/// writes are never dropped: they are few (joins and renames are budgeted per connection) and a lost one
/// leaves a ghost member in the room hash.
const FORWARD_BUDGET: usize = 16 * 1024 * 1024;

/// Removes a member from a room hash only while this node holds it, so a node that lost a member (a
/// resume elsewhere after a restart) cannot remove the new holder.
/// KEYS: room hash. ARGV: id, node.
const RELEASE_SCRIPT: &str = r#"
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value and string.sub(value, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"#;

/// Sets a member's value in a room hash only while this node holds it.
/// KEYS: room hash. ARGV: id, node, new value.
const RENAME_SCRIPT: &str = r#"
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value and string.sub(value, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then
  return redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return 0
"#;

/// Writes a member back into a room hash that lost it (a Redis restart or flush), only where the hash has
/// no entry for the id, so a newer holder elsewhere is never overwritten.
/// KEYS: room hash, sequence counter. ARGV: id, node, name. Returns 1 when it wrote.
const RESTORE_SCRIPT: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return 0
end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. seq .. '|' .. ARGV[3])
return 1
"#;

/// Admits a join: removes members of dead nodes, refuses when full, adds the newcomer.
/// KEYS: room hash, sequence counter. ARGV: id, node, name, max members, alive-key prefix, resume flag.
/// Returns the other members as a flat list [id, value, id, value, ...], or nil when full. With the resume
/// flag `1`, an id that another live node holds is not taken: the answer is then the one-element list
/// ['held'] (a flat list of members always has an even length).
const ADMIT_SCRIPT: &str = r#"
local members = redis.call('HGETALL', KEYS[1])
local live = {}
local count = 0
for i = 1, #members, 2 do
  local id, value = members[i], members[i + 1]
  local node = string.match(value, '^([^|]*)|')
  if id == ARGV[1] and ARGV[6] == '1' and node and node ~= ARGV[2]
     and redis.call('EXISTS', ARGV[5] .. node) == 1 then
    return {'held'}
  end
  if id ~= ARGV[1] and node and redis.call('EXISTS', ARGV[5] .. node) == 1 then
    count = count + 1
    live[#live + 1] = id
    live[#live + 1] = value
  elseif id ~= ARGV[1] then
    redis.call('HDEL', KEYS[1], id)
  end
end
if count >= tonumber(ARGV[4]) then
  return false
end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. seq .. '|' .. ARGV[3])
return live
"#;

/// An event between nodes, on `peerlab:bus`.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum BusEvent {
    Joined {
        node: NodeId,
        room: String,
        id: PeerId,
        name: String,
    },
    Left {
        node: NodeId,
        room: String,
        id: PeerId,
        reason: LeaveReason,
    },
    Renamed {
        node: NodeId,
        room: String,
        id: PeerId,
        name: String,
    },
}

/// A signal between nodes, on the receiving node's channel.
#[derive(Debug, Serialize, Deserialize)]
struct Forward<'a> {
    room: std::borrow::Cow<'a, str>,
    to: std::borrow::Cow<'a, str>,
    from: std::borrow::Cow<'a, str>,
    /// The node `from` is on: the receiver checks that it mirrors `from` there.
    node: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    payload: &'a serde_json::value::RawValue,
}

/// One write for the writer task.
#[derive(Debug, PartialEq)]
enum Write {
    /// A membership event on the bus; never dropped.
    Publish { channel: String, payload: String },
    /// A signal to another node; dropped past [`FORWARD_BUDGET`].
    Forward { channel: String, payload: String },
    /// A rename in a room hash, if this node holds the member ([`RENAME_SCRIPT`]); never dropped.
    Rename {
        key: String,
        field: String,
        node: String,
        value: String,
    },
    /// A removal from a room hash, if `node` holds the member ([`RELEASE_SCRIPT`]); never dropped.
    Release {
        key: String,
        field: String,
        node: String,
    },
}

/// The writes waiting for the writer task, in order. Plain data: [`WriteQueue`] puts it behind a lock.
#[derive(Debug, Default)]
struct Pending {
    writes: VecDeque<Write>,
    /// Bytes of the forwarded signals in `writes`.
    forward_bytes: usize,
}

impl Pending {
    /// Queues `write`, unless it is a signal that would take the forwarded bytes past `budget`. Returns
    /// whether it was queued.
    fn push(&mut self, write: Write, budget: usize) -> bool {
        if let Write::Forward { payload, .. } = &write {
            if self.forward_bytes + payload.len() > budget {
                return false;
            }
            self.forward_bytes += payload.len();
        }
        self.writes.push_back(write);
        true
    }

    /// Takes up to `max` writes, oldest first.
    fn take(&mut self, max: usize) -> Vec<Write> {
        let n = self.writes.len().min(max);
        let taken: Vec<Write> = self.writes.drain(..n).collect();
        for write in &taken {
            if let Write::Forward { payload, .. } = write {
                self.forward_bytes -= payload.len();
            }
        }
        if self.writes.is_empty() {
            self.writes = VecDeque::new();
        }
        taken
    }
}

/// The queue between the sockets and the writer task.
#[derive(Default)]
struct WriteQueue {
    pending: Mutex<Pending>,
    /// Wakes the writer when a write arrives.
    ready: Notify,
}

impl WriteQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // Each critical section is one push or one take; a panic cannot leave `Pending` half changed.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, write: Write) -> bool {
        let queued = self.lock().push(write, FORWARD_BUDGET);
        if queued {
            self.ready.notify_one();
        }
        queued
    }

    /// Waits for writes and takes up to `max`.
    async fn take(&self, max: usize) -> Vec<Write> {
        loop {
            let notified = self.ready.notified();
            let batch = self.lock().take(max);
            if !batch.is_empty() {
                return batch;
            }
            notified.await;
        }
    }
}

/// This node's link to the cluster.
pub struct Cluster {
    /// This node's id, unique per process start.
    node: NodeId,
    /// Commands (the admission script, reads); reconnects by itself.
    commands: ConnectionManager,
    /// Fire-and-forget writes, kept in order by one writer task.
    outbox: Arc<WriteQueue>,
    /// Whether the subscription is live; false while Redis is unreachable.
    up: AtomicBool,
    /// How often this node refreshes its liveness key and checks the others'.
    heartbeat: Duration,
    admit: redis::Script,
}

/// `url` as it may appear in a log or an error: any user name and password, and any query (where a
/// `redis+unix://` URL may carry one), replaced by `***`.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(a URL that does not parse)".to_owned();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, _)) => (rest, "?***"),
        None => (rest, ""),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    };
    format!("{scheme}://{host}{path}{query}")
}

/// A value in a room hash: `node|seq|name`.
fn parse_value(value: &str) -> Option<(NodeId, u64, String)> {
    let mut parts = value.splitn(3, '|');
    let node = parts.next()?.to_owned();
    let seq = parts.next()?.parse().ok()?;
    let name = parts.next()?.to_owned();
    Some((node, seq, name))
}

/// Turns the script's flat [id, value, ...] answer into members, oldest first.
fn members_from_flat(flat: Vec<String>) -> Vec<(Member, NodeId)> {
    let mut members: Vec<(u64, Member, NodeId)> = flat
        .chunks_exact(2)
        .filter_map(|pair| {
            let (node, seq, name) = parse_value(&pair[1])?;
            Some((
                seq,
                Member {
                    id: PeerId(pair[0].clone()),
                    name,
                },
                node,
            ))
        })
        .collect();
    members.sort_by_key(|(seq, _, _)| *seq);
    members.into_iter().map(|(_, m, n)| (m, n)).collect()
}

impl Cluster {
    /// Connects to Redis at `url` and starts this node's tasks (subscriber, writer, heartbeat). Fails when
    /// Redis cannot be reached at start, so a misconfigured URL is reported at once.
    pub async fn start(
        url: &str,
        state: &Arc<AppState>,
    ) -> Result<Arc<Cluster>, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let commands = client.get_connection_manager_with_config(config).await?;
        let outbox = Arc::new(WriteQueue::default());
        let cluster = Arc::new(Cluster {
            node: format!("{:016x}", rand::random::<u64>()),
            commands,
            outbox: outbox.clone(),
            up: AtomicBool::new(false),
            heartbeat: Duration::from_millis(state.config.cluster_heartbeat_ms),
            admit: redis::Script::new(ADMIT_SCRIPT),
        });
        cluster.beat().await?;
        tracing::info!(node = %cluster.node, "joined the cluster through Redis");
        let tasks = &state.background;
        tasks.spawn(writer(
            cluster.commands.clone(),
            outbox,
            state.shutdown.clone(),
        ));
        tasks.spawn(subscriber(client, cluster.clone(), state.clone()));
        tasks.spawn(heartbeat(cluster.clone(), state.clone()));
        tasks.spawn(reconciler(cluster.clone(), state.clone()));
        Ok(cluster)
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether Redis is currently reachable (the subscription is live).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    async fn beat(&self) -> Result<(), redis::RedisError> {
        let ttl = (self.heartbeat * 3).as_millis() as u64;
        let mut con = self.commands.clone();
        redis::cmd("SET")
            .arg(alive_key(&self.node))
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .query_async::<()>(&mut con)
            .await
    }

    /// Agrees with the other nodes on the resume-token key: the first node to ask stores a random one.
    pub async fn shared_resume_key(&self) -> Result<String, redis::RedisError> {
        let mut con = self.commands.clone();
        let mine = format!(
            "{:032x}{:032x}",
            rand::random::<u128>(),
            rand::random::<u128>()
        );
        redis::cmd("SET")
            .arg(RESUME_KEY)
            .arg(mine)
            .arg("NX")
            .query_async::<()>(&mut con)
            .await?;
        redis::cmd("GET")
            .arg(RESUME_KEY)
            .query_async::<String>(&mut con)
            .await
    }

    /// Asks Redis to admit `id` into `room` (at most `max_peers` members on all nodes). With `resume`, an
    /// id another live node holds is refused ([`Admission::Held`]) instead of taken over.
    pub async fn admit(
        &self,
        room: &str,
        id: &PeerId,
        name: &str,
        max_peers: u32,
        resume: bool,
    ) -> Admission {
        if !self.is_up() {
            return Admission::Unavailable;
        }
        let mut con = self.commands.clone();
        let mut invocation = self.admit.key(room_key(room));
        let call = invocation
            .key(SEQ_KEY)
            .arg(id.as_str())
            .arg(&self.node)
            .arg(name)
            .arg(max_peers)
            .arg("peerlab:alive:")
            .arg(if resume { "1" } else { "0" })
            .invoke_async::<Option<Vec<String>>>(&mut con);
        match tokio::time::timeout(REDIS_TIMEOUT, call).await {
            Ok(Ok(Some(flat))) if flat.len() % 2 == 1 => Admission::Held,
            Ok(Ok(Some(flat))) => Admission::Admitted(members_from_flat(flat)),
            Ok(Ok(None)) => Admission::Full,
            Ok(Err(err)) => {
                tracing::warn!(%err, room, "Redis refused a join; serving it locally");
                Admission::Unavailable
            }
            Err(_) => {
                tracing::warn!(
                    room,
                    "Redis did not answer a join in time; serving it locally"
                );
                Admission::Unavailable
            }
        }
    }

    fn write(&self, write: Write) {
        if !self.outbox.push(write) {
            tracing::warn!(
                "Redis is slow: {FORWARD_BUDGET} bytes of signals wait for it; a signal to another node was dropped"
            );
        }
    }

    fn publish(&self, event: &BusEvent) {
        if let Ok(payload) = serde_json::to_string(event) {
            self.write(Write::Publish {
                channel: BUS.to_owned(),
                payload,
            });
        }
    }

    /// Sends the signal `payload` (JSON text) from local member `from` to member `to` of `room` on `node`.
    pub fn forward(&self, node: &str, room: &str, to: &PeerId, from: &PeerId, payload: &str) {
        let Ok(payload_raw) = serde_json::value::RawValue::from_string(payload.to_owned()) else {
            return;
        };
        let forward = Forward {
            room: room.into(),
            to: to.as_str().into(),
            from: from.as_str().into(),
            node: self.node.as_str().into(),
            payload: &payload_raw,
        };
        if let Ok(payload) = serde_json::to_string(&forward) {
            self.write(Write::Forward {
                channel: node_channel(node),
                payload,
            });
        }
    }
}

/// What membership tells the other nodes: each call queues its writes for the writer task.
impl Bus for Cluster {
    /// Tells the other nodes that a local member joined (after a successful admission).
    fn joined(&self, room: &str, member: &Member) {
        self.publish(&BusEvent::Joined {
            node: self.node.clone(),
            room: room.to_owned(),
            id: member.id.clone(),
            name: member.name.clone(),
        });
    }

    /// Removes a local member from the room hash and tells the other nodes.
    fn left(&self, room: &str, id: &PeerId, reason: LeaveReason) {
        self.write(Write::Release {
            key: room_key(room),
            field: id.0.clone(),
            node: self.node.clone(),
        });
        self.publish(&BusEvent::Left {
            node: self.node.clone(),
            room: room.to_owned(),
            id: id.clone(),
            reason,
        });
    }

    /// Records a local member's new name and tells the other nodes.
    fn renamed(&self, room: &str, id: &PeerId, name: &str) {
        // The sequence number only orders members in `welcome`; a rename keeps the member's place only
        // approximately (it gets sequence 0 here), which affects the order others list it in, nothing else.
        self.write(Write::Rename {
            key: room_key(room),
            field: id.0.clone(),
            node: self.node.clone(),
            value: format!("{}|0|{name}", self.node),
        });
        self.publish(&BusEvent::Renamed {
            node: self.node.clone(),
            room: room.to_owned(),
            id: id.clone(),
            name: name.to_owned(),
        });
    }

    fn released(&self, room: &str, id: &PeerId, node: &str) {
        self.write(Write::Release {
            key: room_key(room),
            field: id.0.clone(),
            node: node.to_owned(),
        });
    }
}

/// Writes queued by sockets, in order, batched into pipelines. After shutdown it keeps draining (the
/// closing connections queue their `left` events) until the queue has been quiet for a moment.
async fn writer(
    mut con: ConnectionManager,
    queue: Arc<WriteQueue>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let batch = if shutdown.is_cancelled() {
            match tokio::time::timeout(Duration::from_millis(300), queue.take(256)).await {
                Ok(batch) => batch,
                Err(_) => return,
            }
        } else {
            tokio::select! {
                batch = queue.take(256) => batch,
                _ = shutdown.cancelled() => continue,
            }
        };
        let mut pipe = redis::pipe();
        for write in batch {
            match write {
                Write::Publish { channel, payload } | Write::Forward { channel, payload } => {
                    pipe.cmd("PUBLISH").arg(channel).arg(payload)
                }
                Write::Rename {
                    key,
                    field,
                    node,
                    value,
                } => pipe
                    .cmd("EVAL")
                    .arg(RENAME_SCRIPT)
                    .arg(1)
                    .arg(key)
                    .arg(field)
                    .arg(node)
                    .arg(value),
                Write::Release { key, field, node } => pipe
                    .cmd("EVAL")
                    .arg(RELEASE_SCRIPT)
                    .arg(1)
                    .arg(key)
                    .arg(field)
                    .arg(node),
            }
            .ignore();
        }
        if let Err(err) = pipe.query_async::<()>(&mut con).await {
            tracing::warn!(%err, "cluster writes failed; they are repaired on reconnection");
        }
    }
}

/// Keeps the subscription to the bus and this node's channel, reconnecting with backoff; after each
/// (re)connection, re-registers local members and reconciles the mirror.
async fn subscriber(client: redis::Client, cluster: Arc<Cluster>, state: Arc<AppState>) {
    let mut backoff = Duration::from_millis(100);
    let own = node_channel(&cluster.node);
    while !state.shutdown.is_cancelled() {
        let connected = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(BUS).await?;
            pubsub.subscribe(&own).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(REDIS_TIMEOUT, connected).await {
            Ok(Ok(mut pubsub)) => {
                match resync(&cluster, &state).await {
                    Err(err) => tracing::warn!(%err, "could not reconcile with Redis; retrying"),
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        cluster.up.store(true, Ordering::Relaxed);
                        tracing::info!(node = %cluster.node, "cluster subscription live");
                        let mut messages = pubsub.on_message();
                        loop {
                            tokio::select! {
                                message = messages.next() => match message {
                                    Some(message) => {
                                        let channel = message.get_channel_name().to_owned();
                                        match message.get_payload::<String>() {
                                            Ok(payload) if channel == BUS => on_bus(&payload, &cluster, &state),
                                            Ok(payload) => on_forward(&payload, &cluster, &state),
                                            Err(err) => tracing::warn!(%err, "undecodable cluster message"),
                                        }
                                    }
                                    None => break,
                                },
                                _ = state.shutdown.cancelled() => return,
                            }
                        }
                        cluster.up.store(false, Ordering::Relaxed);
                        tracing::warn!("lost the Redis subscription; serving local members only until it returns");
                    }
                }
            }
            Ok(Err(err)) => tracing::debug!(%err, "Redis unreachable"),
            Err(_) => tracing::debug!("Redis connection timed out"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = state.shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Re-registers every local member and makes each room's mirror match Redis.
async fn resync(cluster: &Cluster, state: &Arc<AppState>) -> Result<(), redis::RedisError> {
    cluster.beat().await?;
    let rooms: Vec<(String, Vec<Member>)> = state
        .rooms
        .each_shard(|r| r.local_members())
        .into_iter()
        .flatten()
        .collect();
    let mut con = cluster.commands.clone();
    for (room, locals) in rooms {
        let local_ids: BTreeSet<PeerId> = locals.iter().map(|m| m.id.clone()).collect();
        for member in &locals {
            // Re-registration ignores capacity: these members are already in the call.
            let _: Option<Vec<String>> = cluster
                .admit
                .key(room_key(&room))
                .key(SEQ_KEY)
                .arg(member.id.as_str())
                .arg(&cluster.node)
                .arg(&member.name)
                .arg(u32::MAX)
                .arg("peerlab:alive:")
                .arg("0")
                .invoke_async(&mut con)
                .await?;
            cluster.joined(&room, member);
        }
        let all: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(room_key(&room))
            .query_async(&mut con)
            .await?;
        let flat = all.into_iter().flat_map(|(k, v)| [k, v]).collect();
        let remote: Vec<(Member, NodeId)> = members_from_flat(flat)
            .into_iter()
            .filter(|(m, node)| !local_ids.contains(&m.id) && node != &cluster.node)
            .collect();
        state.members().mirror(&room, remote);
    }
    Ok(())
}

/// Whether `id` has the shape of the peer ids relays make: 32 lowercase hex digits.
fn is_peer_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `event` if it is well formed and from another node than `own`: a room name and a display name that
/// pass the protocol's rules (normalized as a join would), and a peer id a relay could have made.
/// Anything else is not from a peerlab node and is dropped.
fn checked(event: BusEvent, own: &str) -> Option<BusEvent> {
    let (node, room, id) = match &event {
        BusEvent::Joined { node, room, id, .. }
        | BusEvent::Left { node, room, id, .. }
        | BusEvent::Renamed { node, room, id, .. } => (node, room, id),
    };
    if node == own || node.is_empty() || !is_peer_id(id.as_str()) {
        return None;
    }
    if validate_room(room).ok().as_deref() != Some(room.as_str()) {
        return None;
    }
    match event {
        BusEvent::Joined {
            node,
            room,
            id,
            name,
        } => Some(BusEvent::Joined {
            name: validate_name(&name).ok()?,
            node,
            room,
            id,
        }),
        BusEvent::Renamed {
            node,
            room,
            id,
            name,
        } => Some(BusEvent::Renamed {
            name: validate_name(&name).ok()?,
            node,
            room,
            id,
        }),
        left @ BusEvent::Left { .. } => Some(left),
    }
}

fn on_bus(payload: &str, cluster: &Cluster, state: &AppState) {
    let event: BusEvent = match serde_json::from_str(payload) {
        Ok(event) => event,
        Err(err) => {
            tracing::warn!(%err, "undecodable bus event");
            return;
        }
    };
    let Some(event) = checked(event, &cluster.node) else {
        return;
    };
    let members = state.members();
    match event {
        BusEvent::Joined {
            node,
            room,
            id,
            name,
        } => members.remote_joined(&room, Member { id, name }, node),
        // Only the node that holds a member can make it leave or rename it.
        BusEvent::Left {
            node,
            room,
            id,
            reason,
        } => members.remote_left(&room, &id, &node, reason),
        BusEvent::Renamed {
            node,
            room,
            id,
            name,
        } => members.remote_renamed(&room, &id, &node, name),
    }
}

/// Delivers a signal from another node, written here as `encode_server` would: only to a local member,
/// and only from a member this node mirrors in the same room on the node the signal names.
fn on_forward(payload: &str, cluster: &Cluster, state: &AppState) {
    let forward: Forward = match serde_json::from_str(payload) {
        Ok(forward) => forward,
        Err(err) => {
            tracing::warn!(%err, "malformed forwarded signal");
            return;
        }
    };
    if forward.node == cluster.node {
        return;
    }
    let (room, to, from) = (
        forward.room.as_ref(),
        PeerId(forward.to.into_owned()),
        PeerId(forward.from.into_owned()),
    );
    let target = state.rooms.with_room(room, |rooms| {
        let sender_known = matches!(
            rooms.route(room, &from),
            Some(crate::rooms::At::Remote(node)) if node == forward.node
        );
        match rooms.route(room, &to) {
            // A signal for an away member is dropped: its sender, on another node, cannot be told
            // `peer_away`.
            Some(crate::rooms::At::Local(handle)) if sender_known => Some(handle),
            _ => None,
        }
    });
    let Some(handle) = target else {
        tracing::debug!(room, %from, %to, "forwarded signal from no member of the room dropped");
        return;
    };
    if handle.deliver_signal(&from, forward.payload.get(), &state.config.queue_limits()) {
        state.counters.evictions.fetch_add(1, Ordering::Relaxed);
    }
    state
        .counters
        .signals_relayed
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Refreshes this node's liveness and retires nodes whose liveness expired.
async fn heartbeat(cluster: Arc<Cluster>, state: Arc<AppState>) {
    let mut tick = tokio::time::interval(cluster.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.shutdown.cancelled() => {
                // Leave the cluster at once rather than after the liveness key expires.
                let mut con = cluster.commands.clone();
                let _ = tokio::time::timeout(REDIS_TIMEOUT, redis::cmd("DEL").arg(alive_key(&cluster.node)).query_async::<()>(&mut con)).await;
                return;
            }
        }
        if !cluster.is_up() {
            continue;
        }
        if let Err(err) = cluster.beat().await {
            tracing::warn!(%err, "cannot refresh this node's liveness in Redis");
            continue;
        }
        let nodes: BTreeSet<NodeId> = state
            .rooms
            .each_shard(|r| r.remote_nodes())
            .into_iter()
            .flatten()
            .collect();
        for node in nodes {
            let mut con = cluster.commands.clone();
            let mut exists = redis::cmd("EXISTS");
            exists.arg(alive_key(&node));
            let alive = exists.query_async::<bool>(&mut con);
            match tokio::time::timeout(REDIS_TIMEOUT, alive).await {
                Ok(Ok(false)) => {
                    state.members().node_gone(&node);
                }
                Ok(Ok(true)) => {}
                _ => break,
            }
        }
    }
}

/// Checks this node's view of every room against Redis every `--cluster-reconcile-ms` and repairs the
/// difference (see `crate::reconcile`).
async fn reconciler(cluster: Arc<Cluster>, state: Arc<AppState>) {
    let period = Duration::from_millis(state.config.cluster_reconcile_ms);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut doubts = Doubts::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.shutdown.cancelled() => return,
        }
        if !cluster.is_up() {
            continue;
        }
        match tokio::time::timeout(
            period.max(REDIS_TIMEOUT),
            reconcile(&cluster, &state, &doubts),
        )
        .await
        {
            Ok(Ok(next)) => doubts = next,
            Ok(Err(err)) => {
                tracing::warn!(%err, "could not reconcile with Redis; trying again next period")
            }
            Err(_) => tracing::warn!(
                "reconciling with Redis took longer than a period; trying again next period"
            ),
        }
    }
}

/// One reconciliation: reads every room hash and the liveness of the nodes they name, then looks at this
/// node's rooms (after the reads, see [`crate::reconcile::plan`]) and carries out the repairs. Returns this
/// check's doubts for the next.
async fn reconcile(
    cluster: &Cluster,
    state: &AppState,
    before: &Doubts,
) -> Result<Doubts, redis::RedisError> {
    let mut con = cluster.commands.clone();
    let prefix = room_key("");
    let mut keys: Vec<String> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(512)
            .query_async(&mut con)
            .await?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    keys.sort();
    keys.dedup();
    let mut stored: BTreeMap<String, Vec<(Member, NodeId)>> = BTreeMap::new();
    for chunk in keys.chunks(256) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("HGETALL").arg(key);
        }
        let hashes: Vec<Vec<(String, String)>> = pipe.query_async(&mut con).await?;
        for (key, hash) in chunk.iter().zip(hashes) {
            let flat = hash.into_iter().flat_map(|(k, v)| [k, v]).collect();
            stored.insert(key[prefix.len()..].to_owned(), members_from_flat(flat));
        }
    }
    let nodes: Vec<NodeId> = stored
        .values()
        .flatten()
        .map(|(_, node)| node.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut alive: BTreeSet<NodeId> = BTreeSet::from([cluster.node.clone()]);
    if !nodes.is_empty() {
        let mut pipe = redis::pipe();
        for node in &nodes {
            pipe.cmd("EXISTS").arg(alive_key(node));
        }
        let exists: Vec<bool> = pipe.query_async(&mut con).await?;
        alive.extend(
            nodes
                .into_iter()
                .zip(exists)
                .filter_map(|(node, live)| live.then_some(node)),
        );
    }
    // This node's rooms, looked at after the reads.
    let mut census: BTreeMap<String, Census> = state
        .rooms
        .each_shard(|r| r.census())
        .into_iter()
        .flatten()
        .map(|c| (c.room.clone(), c))
        .collect();
    for room in stored.keys() {
        census.entry(room.clone()).or_insert_with(|| Census {
            room: room.clone(),
            ..Census::default()
        });
    }
    let mut after = Doubts::default();
    let members = state.members();
    for (room, local) in census {
        let hash = stored.get(&room).map(Vec::as_slice).unwrap_or_default();
        let repair = plan(&cluster.node, &alive, hash, &local, before, &mut after);
        if repair.is_empty() {
            continue;
        }
        tracing::info!(
            %room,
            restored = repair.restore.len(),
            released = repair.release.len(),
            appeared = repair.appeared.len(),
            vanished = repair.vanished.len(),
            "repaired the room's membership against Redis"
        );
        for member in &repair.restore {
            let wrote: i32 = redis::Script::new(RESTORE_SCRIPT)
                .key(room_key(&room))
                .key(SEQ_KEY)
                .arg(member.id.as_str())
                .arg(&cluster.node)
                .arg(&member.name)
                .invoke_async(&mut con)
                .await?;
            if wrote == 1 {
                cluster.joined(&room, member);
            }
        }
        for (id, node) in &repair.release {
            cluster.released(&room, id, node);
        }
        for (member, node) in repair.appeared {
            members.remote_joined(&room, member, node);
        }
        for (id, node) in &repair.vanished {
            members.remote_left(&room, id, node, LeaveReason::Timeout);
        }
    }
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_hash_values_parse_and_order_by_join_sequence() {
        let flat = vec![
            "b".to_string(),
            "n2|9|Bob".to_string(),
            "a".to_string(),
            "n1|3|Ada | the first".to_string(),
            "junk".to_string(),
            "no-separators".to_string(),
        ];
        let members = members_from_flat(flat);
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].0.name, "Ada | the first");
        assert_eq!(members[0].1, "n1");
        assert_eq!(members[1].0.id, PeerId::from("b"));
    }

    #[test]
    fn redis_urls_are_logged_without_credentials() {
        let cases = [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            (
                "redis://:hunter2@redis.internal:6379/0",
                "redis://***@redis.internal:6379/0",
            ),
            (
                "rediss://app:hunter2@redis.example.org",
                "rediss://***@redis.example.org",
            ),
            ("redis://hunter2@host", "redis://***@host"),
            (
                "redis+unix:///run/redis.sock?pass=hunter2",
                "redis+unix:///run/redis.sock?***",
            ),
            ("hunter2", "(a URL that does not parse)"),
        ];
        for (url, logged) in cases {
            assert_eq!(redacted_url(url), logged);
            assert!(!redacted_url(url).contains("hunter2"));
        }
    }

    #[test]
    fn signals_are_dropped_past_the_byte_budget_and_membership_writes_never() {
        let forward = |n: usize| Write::Forward {
            channel: "peerlab:node:n2".into(),
            payload: "x".repeat(n),
        };
        let publish = || Write::Publish {
            channel: BUS.into(),
            payload: "{}".into(),
        };
        let release = || Write::Release {
            key: room_key("r"),
            field: "a".into(),
            node: "n1".into(),
        };
        let mut pending = Pending::default();
        // (write, budget, queued)
        let cases = [
            (forward(600), 1_000, true),
            (forward(400), 1_000, true),
            (forward(1), 1_000, false),
            (publish(), 1_000, true),
            (release(), 1_000, true),
            (forward(1), 0, false),
            (release(), 0, true),
        ];
        for (i, (write, budget, queued)) in cases.into_iter().enumerate() {
            assert_eq!(pending.push(write, budget), queued, "case {i}");
        }
        assert_eq!(pending.forward_bytes, 1_000);
        let taken = pending.take(2);
        assert_eq!(taken, vec![forward(600), forward(400)], "in order");
        assert_eq!(pending.forward_bytes, 0, "taking gives the budget back");
        assert!(pending.push(forward(1_000), 1_000));
        assert_eq!(pending.take(10).len(), 4);
        assert_eq!(
            pending.writes.capacity(),
            0,
            "an empty queue holds no buffer"
        );
    }

    #[test]
    fn bus_events_are_checked_before_they_change_anything() {
        let id = "0123456789abcdef0123456789abcdef";
        let joined = |node: &str, room: &str, id: &str, name: &str| BusEvent::Joined {
            node: node.into(),
            room: room.into(),
            id: PeerId::from(id),
            name: name.into(),
        };
        let cases = [
            (joined("n2", "team", id, "Ada"), true),
            (joined("n1", "team", id, "Ada"), false),
            (joined("", "team", id, "Ada"), false),
            (joined("n2", "team", "a", "Ada"), false),
            (joined("n2", "team", &id.to_uppercase(), "Ada"), false),
            (joined("n2", "", id, "Ada"), false),
            (joined("n2", &"r".repeat(1_000), id, "Ada"), false),
            (joined("n2", "team", id, ""), false),
            (joined("n2", "team", id, &"n".repeat(10_000)), false),
        ];
        for (i, (event, passes)) in cases.into_iter().enumerate() {
            assert_eq!(checked(event, "n1").is_some(), passes, "case {i}");
        }
    }

    #[test]
    fn bus_events_have_a_stable_shape() {
        let event = BusEvent::Left {
            node: "n1".into(),
            room: "r".into(),
            id: PeerId::from("a"),
            reason: LeaveReason::Timeout,
        };
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"left","node":"n1","room":"r","id":"a","reason":"timeout"}"#
        );
        assert_eq!(serde_json::from_str::<BusEvent>(&text).unwrap(), event);
    }
}
