//! peerlab-loadgen: drives a running relay with many WebSocket clients and reports what the relay spent.
//!
//! Scenario `idle`: opens N connections (spread over several 127.0.0.x source addresses, since one source
//! address has only about 28k ephemeral ports), has each join a room, holds them, and reads the relay's
//! resident memory from `/proc/<pid>/status` before and after, so the figure is memory per idle member.
//!
//! It refuses any target that is not a loopback address: load goes only to this machine. Every loop is
//! bounded by the connection count and a deadline.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use peerlab_protocol::{
    decode_server, encode_client, ClientMessage, ServerMessage, PROTOCOL_VERSION,
};
use std::sync::Arc;
use tokio::net::TcpSocket;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
#[command(name = "peerlab-loadgen", about)]
struct Args {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Hold N idle connections, each a member of a room, and report the relay's memory per connection.
    Idle {
        /// The relay's address (loopback only).
        #[arg(long, default_value = "127.0.0.1:8080")]
        relay: SocketAddr,
        /// How many connections to hold.
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        /// Members per room (rooms are filled one after the other).
        #[arg(long, default_value_t = 8)]
        room_size: usize,
        /// How many source addresses (127.0.0.1, 127.0.0.2, ...) to spread connections over.
        #[arg(long, default_value_t = 4)]
        sources: u8,
        /// The relay's process id, to read its resident memory.
        #[arg(long)]
        relay_pid: u32,
        /// Seconds to hold the connections after the last one joined, before measuring.
        #[arg(long, default_value_t = 3)]
        settle_secs: u64,
        /// Give up if the whole scenario has not finished within this many seconds.
        #[arg(long, default_value_t = 180)]
        deadline_secs: u64,
    },
}

/// The relay's resident set size in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status; is the relay running?"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS line")
}

async fn idle_member(
    relay: SocketAddr,
    source: Ipv4Addr,
    room: String,
    joined: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let stream = socket.connect(relay).await?;
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{relay}/ws"), stream).await?;
    let join = ClientMessage::Join {
        version: PROTOCOL_VERSION,
        name: "idle".into(),
        room,
    };
    ws.send(Message::text(encode_client(&join))).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => match decode_server(&text)? {
                ServerMessage::Welcome { .. } => break,
                ServerMessage::Error { code, message } => bail!("join refused: {code}: {message}"),
                _ => {}
            },
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("relay closed the connection before welcome"),
        }
    }
    // Welcome received: let the next connection start.
    drop(joined);
    // Keep reading, so the relay's pings are answered, until told to stop.
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => break,
            next = ws.next() => if next.is_none() { bail!("relay closed an idle connection") },
        }
    }
    Ok(())
}

/// How many connections may be connecting at once.
const IN_FLIGHT: u32 = 256;

async fn idle(
    relay: SocketAddr,
    connections: usize,
    room_size: usize,
    sources: u8,
    relay_pid: u32,
    settle: Duration,
) -> anyhow::Result<()> {
    if !relay.ip().is_loopback() {
        bail!("refusing to load {relay}: only loopback addresses may be targeted");
    }
    let before = rss_kib(relay_pid)?;
    let started = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT as usize));
    let mut tasks = Vec::with_capacity(connections);
    for i in 0..connections {
        let source = Ipv4Addr::new(127, 0, 0, 1 + (i % sources.max(1) as usize) as u8);
        let room = format!("idle-{}", i / room_size.max(1));
        let permit = in_flight.clone().acquire_owned().await?;
        tasks.push(tokio::spawn(idle_member(
            relay,
            source,
            room,
            permit,
            stop_rx.clone(),
        )));
    }
    // Every permit back means every connection has its welcome or has failed.
    drop(in_flight.acquire_many(IN_FLIGHT).await?);
    let connect_time = started.elapsed();
    tokio::time::sleep(settle).await;
    let after = rss_kib(relay_pid)?;
    let live = tasks.iter().filter(|t| !t.is_finished()).count();
    let per_conn = after.saturating_sub(before) as f64 * 1024.0 / live.max(1) as f64;
    println!("scenario: idle");
    println!("connections held: {live} of {connections} (rooms of {room_size}, {sources} source addresses)");
    println!("connect + join time: {:.2} s", connect_time.as_secs_f64());
    println!("relay RSS before: {before} KiB, after: {after} KiB");
    println!(
        "relay RSS per idle connection: {per_conn:.0} bytes ({:.2} KiB)",
        per_conn / 1024.0
    );
    let _ = stop_tx.send(true);
    let mut first_error = None;
    for task in tasks {
        if let Ok(Ok(Err(err))) = tokio::time::timeout(Duration::from_secs(5), task).await {
            first_error.get_or_insert(err);
        }
    }
    if let Some(err) = first_error {
        return Err(err.context(format!(
            "only {live} of {connections} connections were held"
        )));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().scenario {
        Scenario::Idle {
            relay,
            connections,
            room_size,
            sources,
            relay_pid,
            settle_secs,
            deadline_secs,
        } => tokio::time::timeout(
            Duration::from_secs(deadline_secs),
            idle(
                relay,
                connections,
                room_size,
                sources,
                relay_pid,
                Duration::from_secs(settle_secs),
            ),
        )
        .await
        .context("the scenario overran its deadline")?,
    }
}
