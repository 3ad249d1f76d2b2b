//! Scenario `storm`: K members join one room at the same moment. Measures the time from releasing them
//! until every member has learned of every other (from its `welcome` and the `member_joined` events), over
//! several runs. By default the members are connected before the release; with `--from-connect` each
//! connects only when released (what a relay restart causes: every client reconnects at once), so the
//! time includes the TCP and WebSocket handshakes of all of them.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::bail;
use futures_util::StreamExt;
use peerlab_protocol::{decode_server, ServerMessage};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{check_loopback, connect, quantile, send_join, source, Ws};
use crate::Target;

/// K members join one room at once: the time until every member knows every other.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    target: Target,
    /// How many members join the room.
    #[arg(long, default_value_t = 200)]
    members: usize,
    /// How many storms (each into a fresh room, with fresh connections).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Connect when released instead of before: the time runs from the first connect.
    #[arg(long)]
    from_connect: bool,
}

/// How a member reaches the relay: already connected, or connecting when released.
enum Link {
    /// Boxed: a socket is large beside an address, and a storm holds one link per member.
    Connected(Box<Ws>),
    Later(std::net::SocketAddr, std::net::Ipv4Addr),
}

/// Joins when released and returns when it knows `others` other members.
async fn member(
    link: Link,
    room: String,
    others: usize,
    mut go: watch::Receiver<Option<Instant>>,
) -> anyhow::Result<(Instant, Ws)> {
    let _ = go.wait_for(|g| g.is_some()).await;
    let mut ws = match link {
        Link::Connected(ws) => *ws,
        Link::Later(relay, source) => connect(relay, source).await?,
    };
    send_join(&mut ws, &room, "storm").await?;
    // Most frames are `member_joined`; the new member's id is read straight from the text (the relay writes
    // it first), so the load generator does not spend the shared CPU decoding 20,000 of them in full.
    const JOINED: &str = r#"{"type":"member_joined","member":{"id":""#;
    // Ids as numbers (the relay's are 32 hex digits), so 20,000 of them cost no allocation.
    let key = |id: &str| {
        u128::from_str_radix(id, 16).unwrap_or_else(|_| {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::hash::DefaultHasher::new();
            id.hash(&mut hasher);
            hasher.finish() as u128
        })
    };
    let mut known = HashSet::new();
    while known.len() < others {
        let Some(frame) = ws.next().await else {
            bail!("relay closed the connection");
        };
        let Message::Text(text) = frame? else {
            continue;
        };
        if let Some(rest) = text.strip_prefix(JOINED) {
            if let Some(id) = rest.split('"').next() {
                known.insert(key(id));
            }
            continue;
        }
        // A welcome lists the members already there as {"id":"...","name":"..."}; their ids are read the same way.
        if text.starts_with(r#"{"type":"welcome""#) {
            for entry in text.split(r#"{"id":""#).skip(1) {
                if let Some(id) = entry.split('"').next() {
                    known.insert(key(id));
                }
            }
            continue;
        }
        match decode_server(&text)? {
            ServerMessage::Welcome { members, .. } => {
                known.extend(members.iter().map(|m| key(m.id.as_str())))
            }
            ServerMessage::Error { code, message } => bail!("join refused: {code}: {message}"),
            _ => {}
        }
    }
    Ok((Instant::now(), ws))
}

pub async fn run(o: Options) -> anyhow::Result<()> {
    let Target {
        relays, sources, ..
    } = o.target;
    check_loopback(&relays)?;
    let mut times = Vec::new();
    for run in 0..o.runs {
        let room = format!("storm-{}-{run}", std::process::id());
        let (go_tx, go_rx) = watch::channel(None);
        let mut tasks = Vec::with_capacity(o.members);
        for i in 0..o.members {
            let (relay, from) = (relays[i % relays.len()], source(i, sources));
            let link = if o.from_connect {
                Link::Later(relay, from)
            } else {
                Link::Connected(Box::new(connect(relay, from).await?))
            };
            tasks.push(tokio::spawn(member(
                link,
                room.clone(),
                o.members - 1,
                go_rx.clone(),
            )));
        }
        // Let every task reach its wait before the start.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let start = Instant::now();
        let _ = go_tx.send(Some(start));
        let mut last = start;
        let mut sockets = Vec::with_capacity(o.members);
        for task in tasks {
            let (done, ws) = task.await??;
            last = last.max(done);
            sockets.push(ws);
        }
        let took = last - start;
        println!(
            "run {}: {} members fully announced in {:.1} ms",
            run + 1,
            o.members,
            took.as_secs_f64() * 1000.0
        );
        times.push(took.as_micros() as u64);
        drop(sockets);
        // Let the relay announce the departures before the next storm.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    times.sort_unstable();
    println!(
        "scenario: storm{}",
        if o.from_connect {
            " (from the first connect)"
        } else {
            ""
        }
    );
    println!(
        "{} members over {} relay(s), {} runs: median {:.1} ms, best {:.1} ms, worst {:.1} ms",
        o.members,
        relays.len(),
        o.runs,
        quantile(&times, 0.5) as f64 / 1000.0,
        times.first().copied().unwrap_or(0) as f64 / 1000.0,
        times.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    Ok(())
}
