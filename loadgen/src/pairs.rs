//! Scenario `pairs`: members in pairs (each pair its own room), one of each pair signalling the other with
//! SDP-sized payloads, open loop: at a fixed total rate, or as fast as the sockets take them (`--rate 0`).
//! Reports latency percentiles (send to receive, measured in this process), delivered messages per second,
//! and the relays' CPU time per thousand delivered messages.
//!
//! At a fixed rate one pacer sends every pair's signals at their own times, evenly spread: pair `i` sends at
//! `t0 + i·period/pairs + k·period`. tokio's timers have a resolution of one millisecond, so the pacer sleeps
//! on a timer only until shortly before the next send is due and then yields (letting the receivers run and
//! the runtime poll the sockets) until it is; a timer per sender would release its signals in bursts at each
//! millisecond tick, and the relay's queueing of those bursts would count as latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{
    check_loopback, connect, cpu_ms, join, print_traffic, source, Traffic, Window, Ws,
};
use crate::Target;

/// Pairs of members signal each other through the relays: latency, delivered rate, relay CPU.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    traffic: Traffic,
}

/// The signal text with a fixed-width timestamp field that each send overwrites.
struct Template {
    text: String,
    stamp_at: usize,
}

const STAMP_WIDTH: usize = 20;

impl Template {
    fn new(to: &str, payload_bytes: usize) -> Template {
        // The stamp is a string: JSON numbers may not have the leading zeros a fixed width needs.
        let head = format!(r#"{{"type":"signal","to":"{to}","payload":{{"t":""#);
        let stamp_at = head.len();
        let pad = payload_bytes.saturating_sub(20);
        let text = format!(
            r#"{head}{:0width$}","sdp":"{}"}}}}"#,
            0,
            "v".repeat(pad),
            width = STAMP_WIDTH
        );
        Template { text, stamp_at }
    }

    fn stamped(&self, nanos: u64) -> String {
        let mut text = self.text.clone();
        text.replace_range(
            self.stamp_at..self.stamp_at + STAMP_WIDTH,
            &format!("{nanos:0width$}", width = STAMP_WIDTH),
        );
        text
    }
}

/// Reads the timestamp back out of a forwarded signal without parsing the whole JSON.
fn stamp_of(frame: &str) -> Option<u64> {
    let at = frame.find("\"t\":\"")? + 5;
    frame.get(at..at + STAMP_WIDTH)?.parse().ok()
}

type Sink = futures_util::stream::SplitSink<Ws, Message>;

/// How long before a send is due the pacer stops sleeping on a timer and starts yielding.
const SPIN: Duration = Duration::from_micros(1500);

/// Sends every pair's signals at their own evenly spread times (see the module doc). When the pacer is
/// behind (at rates one core cannot send one write at a time), each socket gets every signal due for it so
/// far in one write, as a client's send queue would, so the offered rate holds.
async fn pacer(
    mut senders: Vec<(Sink, Template)>,
    period: Duration,
    shared: Arc<Window>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let step = period / senders.len() as u32;
    let start = Instant::now() + Duration::from_millis(10);
    // Signals sent so far on each socket.
    let mut sent = vec![0u64; senders.len()];
    loop {
        let mut next_due: Option<Instant> = None;
        let now = Instant::now();
        for (i, (ws, template)) in senders.iter_mut().enumerate() {
            let first = start + step * i as u32;
            // Signals due on this socket by now: the k-th is due at first + k·period.
            let due = if now < first {
                0
            } else {
                ((now - first).as_nanos() / period.as_nanos()) as u64 + 1
            };
            if due > sent[i] {
                if *stop.borrow() {
                    return Ok(());
                }
                for _ in sent[i]..due {
                    let t = shared.now();
                    ws.feed(Message::text(template.stamped(t))).await?;
                    shared.sent_at(t);
                }
                ws.flush().await?;
                sent[i] = due;
            }
            let at = first + period * sent[i] as u32;
            next_due = Some(next_due.map_or(at, |n: Instant| n.min(at)));
        }
        if *stop.borrow() {
            return Ok(());
        }
        let Some(due) = next_due else {
            return Ok(());
        };
        loop {
            let now = Instant::now();
            if now >= due {
                break;
            }
            if due - now > SPIN {
                tokio::time::sleep(due - now - SPIN).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Sends as fast as the socket takes it, in batches of 16 frames per write.
async fn flooder(
    ws: Sink,
    template: Template,
    shared: Arc<Window>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut ws = ws;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        for _ in 0..16 {
            let t = shared.now();
            ws.feed(Message::text(template.stamped(t))).await?;
            shared.sent_at(t);
        }
        ws.flush().await?;
        // Give the receivers on this runtime their turn.
        tokio::task::yield_now().await;
    }
}

async fn receiver(
    mut ws: futures_util::stream::SplitStream<Ws>,
    shared: Arc<Window>,
    mut stop: watch::Receiver<bool>,
) -> Vec<u64> {
    let mut latencies = Vec::new();
    loop {
        let next = tokio::select! {
            next = ws.next() => next,
            _ = stop.wait_for(|s| *s) => return latencies,
        };
        let Some(Ok(Message::Text(text))) = next else {
            if next.is_none() {
                return latencies;
            }
            continue;
        };
        let Some(sent) = stamp_of(&text) else {
            continue;
        };
        if shared.contains(sent) {
            latencies.push(shared.now().saturating_sub(sent) / 1000);
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
    let shared = Arc::new(Window::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let period = (o.traffic.rate > 0)
        .then(|| Duration::from_secs_f64(o.traffic.pairs as f64 / o.traffic.rate as f64));
    let mut senders = Vec::new();
    let mut paced = Vec::new();
    let mut receivers = Vec::new();
    let tag = format!(
        "{:x}",
        u128::from(shared.now()) ^ std::process::id() as u128
    );
    for i in 0..o.traffic.pairs {
        let room = format!("pair-{tag}-{i}");
        // With several relays the two members of a pair sit on different nodes.
        let a_relay = relays[i % relays.len()];
        let b_relay = relays[(i + 1) % relays.len()];
        let mut a = connect(a_relay, source(2 * i, sources)).await?;
        join(&mut a, &room, "a").await?;
        let mut b = connect(b_relay, source(2 * i + 1, sources)).await?;
        let (b_id, _) = join(&mut b, &room, "b").await?;
        let (a_sink, a_stream) = a.split();
        // B only reads; its sending half is not needed.
        let (_, b_stream) = b.split();
        // A's incoming side (member_joined and pings) is drained so the relay never sees it fall behind.
        receivers.push(tokio::spawn(receiver(
            a_stream,
            shared.clone(),
            stop_rx.clone(),
        )));
        receivers.push(tokio::spawn(receiver(
            b_stream,
            shared.clone(),
            stop_rx.clone(),
        )));
        let template = Template::new(b_id.as_str(), o.traffic.payload_bytes);
        match period {
            Some(_) => paced.push((a_sink, template)),
            None => senders.push(tokio::spawn(flooder(
                a_sink,
                template,
                shared.clone(),
                stop_rx.clone(),
            ))),
        }
    }
    if let Some(period) = period {
        senders.push(tokio::spawn(pacer(
            paced,
            period,
            shared.clone(),
            stop_rx.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs(o.traffic.warmup_secs)).await;
    let cpu = |pids: &[u32]| -> anyhow::Result<f64> { pids.iter().map(|&p| cpu_ms(p)).sum() };
    let cpu_before = cpu(&relay_pids)?;
    shared.open();
    let measured = Instant::now();
    tokio::time::sleep(Duration::from_secs(o.traffic.duration_secs)).await;
    shared.close();
    let cpu_after = cpu(&relay_pids)?;
    let elapsed = measured.elapsed().as_secs_f64();
    // Let messages sent inside the window arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_tx.send(true);
    for s in senders {
        let _ = s.await;
    }
    let mut latencies: Vec<u64> = Vec::new();
    for r in receivers {
        if let Ok(mut l) = r.await {
            latencies.append(&mut l);
        }
    }
    latencies.sort_unstable();
    let sent = shared.sent();
    let delivered = latencies.len() as u64;
    let relay_cpu = cpu_after - cpu_before;
    println!("scenario: pairs");
    println!(
        "pairs: {} over {} relay(s); payload {} B; target rate: {}",
        o.traffic.pairs,
        relays.len(),
        o.traffic.payload_bytes,
        if o.traffic.rate == 0 {
            "as fast as possible".to_string()
        } else {
            format!("{} msg/s", o.traffic.rate)
        }
    );
    print_traffic(sent, &latencies, elapsed);
    if !relay_pids.is_empty() {
        println!(
            "relay CPU: {relay_cpu:.0} ms in {elapsed:.1} s ({:.0}% of one core), {:.2} ms per 1000 delivered messages",
            relay_cpu / elapsed / 10.0,
            relay_cpu / (delivered.max(1) as f64 / 1000.0)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timestamp_survives_the_relay() {
        let template = Template::new("abc", 200);
        let text = template.stamped(123_456_789);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["payload"]["t"], "00000000000123456789");
        // The relay may reorder the payload's keys; the stamp is found wherever it is.
        let forwarded = format!(
            r#"{{"type":"signal","from":"x","payload":{}}}"#,
            value["payload"]
        );
        assert_eq!(stamp_of(&forwarded), Some(123_456_789));
        assert!(text.len() >= 200);
    }
}
