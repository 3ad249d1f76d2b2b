//! Scenario `idle`: hold N joined connections and report the relays' resident memory per connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use futures_util::StreamExt;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::common::{check_loopback, connect, join, rss_kib, source};
use crate::Target;

/// Hold N idle connections, each a member of a room, and report the relay memory per connection.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    target: Target,
    /// How many connections to hold (spread round-robin over the relays).
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Members per room (rooms are filled one after the other); 0 holds connections that never join.
    #[arg(long, default_value_t = 8)]
    room_size: usize,
    /// Seconds to hold the connections after the last one joined, before measuring.
    #[arg(long, default_value_t = 3)]
    settle_secs: u64,
}

/// How many connections may be connecting at once.
const IN_FLIGHT: u32 = 256;

async fn member(
    relay: std::net::SocketAddr,
    source: std::net::Ipv4Addr,
    room: Option<String>,
    joined: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut ws = connect(relay, source).await?;
    if let Some(room) = room {
        join(&mut ws, &room, "idle").await?;
    }
    // Welcome received: let the next connection start.
    drop(joined);
    // Keep reading, so the relay's pings are answered, until told to stop.
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return Ok(()),
            next = ws.next() => if next.is_none() { bail!("relay closed an idle connection") },
        }
    }
}

pub async fn run(o: Options) -> anyhow::Result<()> {
    let Target {
        relays,
        relay_pids,
        sources,
    } = o.target;
    check_loopback(&relays)?;
    let rss = |pids: &[u32]| -> anyhow::Result<u64> { pids.iter().map(|&p| rss_kib(p)).sum() };
    let before = rss(&relay_pids)?;
    let started = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT as usize));
    let mut tasks = Vec::with_capacity(o.connections);
    for i in 0..o.connections {
        let relay = relays[i % relays.len()];
        let room = (o.room_size > 0).then(|| {
            format!(
                "idle-{}-{}-{}",
                std::process::id(),
                i % relays.len(),
                i / o.room_size
            )
        });
        let permit = in_flight.clone().acquire_owned().await?;
        tasks.push(tokio::spawn(member(
            relay,
            source(i / relays.len(), sources),
            room,
            permit,
            stop_rx.clone(),
        )));
    }
    // Every permit back means every connection has its welcome or has failed.
    drop(in_flight.acquire_many(IN_FLIGHT).await?);
    let connect_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(o.settle_secs)).await;
    let after = rss(&relay_pids)?;
    let live = tasks.iter().filter(|t| !t.is_finished()).count();
    let per_conn = after.saturating_sub(before) as f64 * 1024.0 / live.max(1) as f64;
    println!("scenario: idle");
    println!(
        "connections held: {live} of {} over {} relay(s) (rooms of {}, {sources} source addresses)",
        o.connections,
        relays.len(),
        o.room_size
    );
    println!("connect + join time: {:.2} s", connect_time.as_secs_f64());
    println!(
        "relay RSS before: {before} KiB, after: {after} KiB (sum over {} process(es))",
        relay_pids.len()
    );
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
            "only {live} of {} connections were held",
            o.connections
        )));
    }
    Ok(())
}
