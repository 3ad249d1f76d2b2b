//! What every scenario needs: loopback-only connections from chosen source addresses, the join handshake,
//! readings of a process's (or thread's) memory and CPU time from `/proc`, and for the traffic scenarios
//! the measured window and its report.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use peerlab_protocol::{
    decode_server, encode_client, ClientMessage, Member, PeerId, ServerMessage, PROTOCOL_VERSION,
};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// Refuses any relay address that is not on this machine.
pub fn check_loopback(relays: &[SocketAddr]) -> anyhow::Result<()> {
    if relays.is_empty() {
        bail!("no --relay given");
    }
    if let Some(bad) = relays.iter().find(|a| !a.ip().is_loopback()) {
        bail!("refusing to load {bad}: only loopback addresses may be targeted");
    }
    Ok(())
}

/// The `i`-th source address: 127.0.0.1, 127.0.0.2, ... cycling over `sources`.
pub fn source(i: usize, sources: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 1 + (i % sources.max(1) as usize) as u8)
}

/// Opens a WebSocket to `relay` from `source`.
pub async fn connect(relay: SocketAddr, source: Ipv4Addr) -> anyhow::Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let stream = socket.connect(relay).await?;
    stream.set_nodelay(true)?;
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{relay}/ws"), stream).await?;
    Ok(ws)
}

/// Sends `join` and waits for `welcome`, returning the peer id and the members already there.
pub async fn join(ws: &mut Ws, room: &str, name: &str) -> anyhow::Result<(PeerId, Vec<Member>)> {
    send_join(ws, room, name).await?;
    loop {
        match next_message(ws).await? {
            ServerMessage::Welcome {
                peer_id, members, ..
            } => return Ok((peer_id, members)),
            ServerMessage::Error { code, message } => bail!("join refused: {code}: {message}"),
            _ => {}
        }
    }
}

pub async fn send_join(ws: &mut Ws, room: &str, name: &str) -> anyhow::Result<()> {
    let join = ClientMessage::Join {
        version: PROTOCOL_VERSION,
        name: name.into(),
        room: room.into(),
        token: None,
        resume: None,
    };
    ws.send(Message::text(encode_client(&join))).await?;
    Ok(())
}

/// The next protocol message (pings are answered by tungstenite while reading).
pub async fn next_message(ws: &mut Ws) -> anyhow::Result<ServerMessage> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(decode_server(&text)?),
            Some(Ok(Message::Close(frame))) => bail!("relay closed the connection: {frame:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("relay closed the connection"),
        }
    }
}

/// A process's resident set size in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status; is the relay running?"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS line")
}

/// A process's CPU time (user + system) in milliseconds.
pub fn cpu_ms(pid: u32) -> anyhow::Result<f64> {
    stat_cpu_ms(&format!("/proc/{pid}/stat"))
}

/// One thread of this process: its CPU time (user + system) in milliseconds.
pub fn thread_cpu_ms(tid: i32) -> anyhow::Result<f64> {
    stat_cpu_ms(&format!("/proc/self/task/{tid}/stat"))
}

fn stat_cpu_ms(path: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').context("odd /proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    // /proc counts in the kernel's `USER_HZ`, 100 per second on Linux.
    let ticks_per_sec = 100.0;
    Ok((utime + stime) * 1000.0 / ticks_per_sec)
}

/// The traffic of the `pairs` and `floor` scenarios: members in pairs, one of each pair sending to the
/// other, SDP-sized messages at a fixed total rate.
#[derive(clap::Args, Debug)]
pub struct Traffic {
    /// How many pairs.
    #[arg(long, default_value_t = 500)]
    pub pairs: usize,
    /// Total messages per second over all pairs; 0 (`pairs` only) sends as fast as possible.
    #[arg(long, default_value_t = 20_000)]
    pub rate: u64,
    /// Size of each signal's payload in bytes (an SDP offer is about 1.5 KB).
    #[arg(long, default_value_t = 1500)]
    pub payload_bytes: usize,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2)]
    pub warmup_secs: u64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
}

/// The measured window of a traffic scenario: one clock for every sender and receiver, the span of send
/// times that count (messages sent before it opens or after it closes are not measured), and how many
/// messages were sent inside it.
pub struct Window {
    origin: Instant,
    /// Nanoseconds since `origin`; 0 = not open yet / not closed yet.
    open_at: AtomicU64,
    closed_at: AtomicU64,
    sent: AtomicU64,
}

impl Window {
    pub fn new() -> Window {
        Window {
            origin: Instant::now(),
            open_at: AtomicU64::new(0),
            closed_at: AtomicU64::new(0),
            sent: AtomicU64::new(0),
        }
    }

    /// Nanoseconds since the scenario began: the stamp a message carries.
    pub fn now(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    pub fn open(&self) {
        self.open_at.store(self.now().max(1), Ordering::Relaxed);
    }

    pub fn close(&self) {
        self.closed_at.store(self.now(), Ordering::Relaxed);
    }

    /// Whether a message stamped `t` is measured.
    pub fn contains(&self, t: u64) -> bool {
        let start = self.open_at.load(Ordering::Relaxed);
        let end = self.closed_at.load(Ordering::Relaxed);
        start != 0 && t >= start && (end == 0 || t < end)
    }

    /// Counts a message stamped `t` as sent, if it is measured.
    pub fn sent_at(&self, t: u64) {
        if self.contains(t) {
            self.sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

/// The report lines every traffic scenario prints: sent, delivered and lost, and the latency percentiles
/// of the delivered messages (`latencies_us`, sorted).
pub fn print_traffic(sent: u64, latencies_us: &[u64], elapsed_secs: f64) {
    let delivered = latencies_us.len() as u64;
    println!(
        "sent: {sent} in {elapsed_secs:.1} s ({:.0} msg/s)",
        sent as f64 / elapsed_secs
    );
    println!(
        "delivered: {delivered} ({:.0} msg/s), lost: {}",
        delivered as f64 / elapsed_secs,
        sent.saturating_sub(delivered)
    );
    println!(
        "latency us: p50 {} p99 {} p99.9 {} max {}",
        quantile(latencies_us, 0.5),
        quantile(latencies_us, 0.99),
        quantile(latencies_us, 0.999),
        latencies_us.last().copied().unwrap_or(0)
    );
}

/// The value at quantile `q` (0..=1) of sorted `values`.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_the_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&values, 0.5), 51);
        assert_eq!(quantile(&values, 0.99), 99);
        assert_eq!(quantile(&values, 1.0), 100);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(check_loopback(&["127.0.0.1:8080".parse().unwrap()]).is_ok());
        assert!(check_loopback(&["10.0.0.1:8080".parse().unwrap()]).is_err());
        assert!(check_loopback(&[]).is_err());
    }
}
