//! Scenario `floor`: what forwarding the `pairs` scenario's traffic costs a minimal program on this machine,
//! the lower bound for any relay built on the kernel's TCP and `epoll`.
//!
//! No relay is involved. In this one process a forwarder thread owns the server side of `2·pairs` loopback
//! TCP connections and copies whatever one member of a pair sends to the other: one `epoll_wait` per
//! wake-up, one read per readable socket into one scratch buffer, one write per read, no framing, no
//! parsing, no allocation per message, no async runtime. A client thread plays every member, paced exactly
//! as `pairs` paces its signals (pair `i` sends at `t0 + i·period/pairs + k·period`, member A to member B),
//! and measures the latency. The forwarder's CPU time per thousand messages is read from `/proc` as `pairs`
//! reads the relay's, so the two figures are comparable when both run pinned the same way (forwarder on
//! `--forwarder-cpu`, clients on `--client-cpu`).
//!
//! On loopback the receiving socket's TCP work runs inside the sender's write, so the figure includes it for
//! the forwarder as it does for the relay.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};

use crate::common::{print_traffic, thread_cpu_ms, Traffic, Window};

/// The `pairs` traffic through a minimal in-process epoll forwarder, no relay: the machine's floor.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// The traffic, as `pairs` sends it (a rate of 0 is refused: the floor is measured at a fixed rate).
    #[command(flatten)]
    traffic: Traffic,
    /// The core the forwarder thread runs on.
    #[arg(long, default_value_t = 0)]
    forwarder_cpu: usize,
    /// The core the client thread runs on.
    #[arg(long, default_value_t = 1)]
    client_cpu: usize,
}

/// Each message starts with its send time, nanoseconds since the scenario's origin.
const STAMP: usize = 8;

struct Shared {
    window: Window,
    stop: AtomicBool,
    /// The forwarder thread's id, for its CPU time in `/proc`.
    forwarder_tid: AtomicI32,
}

/// What one run measured.
#[derive(Debug)]
struct Report {
    /// Messages sent inside the measured window.
    sent: u64,
    /// Latencies (µs) of the messages sent inside the window that arrived, sorted.
    latencies: Vec<u64>,
    /// The forwarder thread's CPU time over the window, in ms.
    cpu_ms: f64,
    elapsed_secs: f64,
}

pub fn run(o: Options) -> anyhow::Result<()> {
    let report = measure(&o)?;
    let Report {
        sent,
        latencies,
        cpu_ms: cpu,
        elapsed_secs: elapsed,
    } = report;
    let delivered = latencies.len() as u64;
    println!("scenario: floor (a minimal epoll forwarder, no relay)");
    println!(
        "pairs: {}; payload {} B; target rate: {} msg/s",
        o.traffic.pairs, o.traffic.payload_bytes, o.traffic.rate
    );
    print_traffic(sent, &latencies, elapsed);
    println!(
        "forwarder cpu: {cpu:.0} ms over {elapsed:.1} s ({:.2} ms per 1000 delivered, {:.0} % of its core)",
        if delivered > 0 {
            cpu * 1000.0 / delivered as f64
        } else {
            0.0
        },
        cpu / (elapsed * 10.0)
    );
    Ok(())
}

fn measure(o: &Options) -> anyhow::Result<Report> {
    if o.traffic.pairs == 0 || o.traffic.rate == 0 {
        bail!("--pairs and --rate must be above zero");
    }
    if o.traffic.payload_bytes < STAMP {
        bail!("--payload-bytes must be at least {STAMP}");
    }
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot listen on loopback")?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        window: Window::new(),
        stop: AtomicBool::new(false),
        forwarder_tid: AtomicI32::new(0),
    });
    let members = 2 * o.traffic.pairs;
    let forwarder = {
        let shared = shared.clone();
        let cpu = o.forwarder_cpu;
        std::thread::Builder::new()
            .name("forwarder".into())
            .spawn(move || forwarder(listener, members, cpu, &shared))?
    };
    let client = {
        let shared = shared.clone();
        let period = Duration::from_secs_f64(o.traffic.pairs as f64 / o.traffic.rate as f64);
        let (pairs, bytes, cpu) = (o.traffic.pairs, o.traffic.payload_bytes, o.client_cpu);
        std::thread::Builder::new()
            .name("clients".into())
            .spawn(move || clients(addr, pairs, bytes, period, cpu, &shared))?
    };
    // Stops both threads however this function returns, so an error never leaves them running.
    struct Stop<'a>(&'a Shared);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.stop.store(true, Ordering::Relaxed);
        }
    }
    let stop = Stop(&shared);
    let started = Instant::now();
    let tid = loop {
        match shared.forwarder_tid.load(Ordering::Acquire) {
            0 if forwarder.is_finished() || started.elapsed() > Duration::from_secs(10) => {
                drop(stop);
                return match forwarder.join() {
                    Ok(Err(e)) => Err(e.context("the forwarder did not start")),
                    _ => Err(anyhow::anyhow!("the forwarder did not start within 10 s")),
                };
            }
            0 => std::thread::sleep(Duration::from_millis(10)),
            tid => break tid,
        }
    };
    std::thread::sleep(Duration::from_secs(o.traffic.warmup_secs));
    let cpu_before = thread_cpu_ms(tid)?;
    shared.window.open();
    let measured = Instant::now();
    std::thread::sleep(Duration::from_secs(o.traffic.duration_secs));
    shared.window.close();
    let cpu_after = thread_cpu_ms(tid)?;
    let elapsed_secs = measured.elapsed().as_secs_f64();
    // Let messages sent inside the window arrive.
    std::thread::sleep(Duration::from_millis(500));
    drop(stop);
    let mut latencies = client
        .join()
        .map_err(|_| anyhow::anyhow!("the client thread panicked"))??;
    forwarder
        .join()
        .map_err(|_| anyhow::anyhow!("the forwarder thread panicked"))??;
    latencies.sort_unstable();
    Ok(Report {
        sent: shared.window.sent(),
        latencies,
        cpu_ms: cpu_after - cpu_before,
        elapsed_secs,
    })
}

/// Keeps the calling thread on one core.
fn pin(cpu: usize) -> anyhow::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        bail!("cannot pin a thread to CPU {cpu}: there is no such CPU");
    }
    // SAFETY: `set` is a plain bit set owned by this frame; the calls only read it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            bail!(
                "cannot pin a thread to CPU {cpu}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

/// One server-side connection: its socket, and what its member's partner sent that the socket has not
/// taken yet.
struct Conn {
    stream: MioStream,
    pending: Vec<u8>,
}

fn forwarder(
    listener: TcpListener,
    members: usize,
    cpu: usize,
    shared: &Shared,
) -> anyhow::Result<()> {
    pin(cpu)?;
    // SAFETY: gettid has no preconditions.
    shared
        .forwarder_tid
        .store(unsafe { libc::gettid() }, Ordering::Release);
    let mut poll = Poll::new()?;
    let mut conns: Vec<Option<Conn>> = (0..members).map(|_| None).collect();
    for _ in 0..members {
        let (mut stream, _) = listener.accept()?;
        // Each client connection says which member it is first.
        let mut index = [0u8; 4];
        stream.read_exact(&mut index)?;
        let index = u32::from_le_bytes(index) as usize;
        if index >= members || conns[index].is_some() {
            bail!("a client connection sent a bad member index {index}");
        }
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        let mut stream = MioStream::from_std(stream);
        poll.registry()
            .register(&mut stream, Token(index), Interest::READABLE)?;
        conns[index] = Some(Conn {
            stream,
            pending: Vec::new(),
        });
    }
    let mut conns: Vec<Conn> = conns.into_iter().flatten().collect();
    let mut scratch = vec![0u8; 64 * 1024];
    let mut events = Events::with_capacity(1024);
    while !shared.stop.load(Ordering::Relaxed) {
        match poll.poll(&mut events, Some(Duration::from_millis(100))) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => other?,
        }
        for event in events.iter() {
            let i = event.token().0;
            if event.is_writable() {
                flush(&mut conns[i], &poll, i)?;
            }
            if !event.is_readable() {
                continue;
            }
            loop {
                let n = match conns[i].stream.read(&mut scratch) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                };
                let to = i ^ 1;
                let partner = &mut conns[to];
                if partner.pending.is_empty() {
                    let written = match partner.stream.write(&scratch[..n]) {
                        Ok(w) => w,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
                        Err(e) => return Err(e.into()),
                    };
                    if written < n {
                        partner.pending.extend_from_slice(&scratch[written..n]);
                        poll.registry().reregister(
                            &mut partner.stream,
                            Token(to),
                            Interest::READABLE | Interest::WRITABLE,
                        )?;
                    }
                } else {
                    partner.pending.extend_from_slice(&scratch[..n]);
                }
                // A read that did not fill the buffer emptied the socket: what arrives next raises a new
                // event, so no second read is spent only to hear "would block" (tokio does the same).
                if n < scratch.len() {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Writes what waits for a member's socket; once all of it is out, stops asking for writability.
fn flush(conn: &mut Conn, poll: &Poll, i: usize) -> anyhow::Result<()> {
    while !conn.pending.is_empty() {
        match conn.stream.write(&conn.pending) {
            Ok(w) => {
                conn.pending.drain(..w);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    poll.registry()
        .reregister(&mut conn.stream, Token(i), Interest::READABLE)?;
    Ok(())
}

/// Plays every member: A of each pair sends at its paced times, B reads and times what arrives. Returns the
/// latencies (µs) of the messages sent inside the measured window.
fn clients(
    addr: SocketAddr,
    pairs: usize,
    bytes: usize,
    period: Duration,
    cpu: usize,
    shared: &Shared,
) -> anyhow::Result<Vec<u64>> {
    pin(cpu)?;
    let mut poll = Poll::new()?;
    let mut senders = Vec::with_capacity(pairs);
    // Per receiving member: its socket, and how far into the current message it has read plus the stamp.
    let mut receivers: Vec<(MioStream, usize, [u8; STAMP])> = Vec::with_capacity(pairs);
    for i in 0..pairs {
        for side in 0..2 {
            let index = (2 * i + side) as u32;
            let mut stream = TcpStream::connect(addr)?;
            stream.write_all(&index.to_le_bytes())?;
            stream.set_nodelay(true)?;
            stream.set_nonblocking(true)?;
            let mut stream = MioStream::from_std(stream);
            if side == 0 {
                senders.push(stream);
            } else {
                poll.registry()
                    .register(&mut stream, Token(i), Interest::READABLE)?;
                receivers.push((stream, 0, [0; STAMP]));
            }
        }
    }
    let mut message = vec![b'x'; bytes];
    let mut scratch = vec![0u8; 64 * 1024];
    let mut events = Events::with_capacity(1024);
    let mut latencies = Vec::new();
    let step = period / pairs as u32;
    let t0 = Instant::now();
    let mut next: u64 = 0;
    // Once the run is over the forwarder closes its side, perhaps while this loop still writes or reads:
    // an error then is the end of the run, not a failure of it.
    let stopped = || shared.stop.load(Ordering::Relaxed);
    'run: while !stopped() {
        // Every message due by now, in order (pair = message number mod pairs).
        let now = Instant::now();
        while t0 + step * next as u32 <= now {
            let pair = (next % pairs as u64) as usize;
            let t = shared.window.now();
            message[..STAMP].copy_from_slice(&t.to_le_bytes());
            // A message the socket cannot take whole ends the run: nothing here queues.
            match senders[pair].write(&message) {
                Ok(w) if w == bytes => {}
                Ok(_) => bail!(
                    "a sender's socket took only part of a message: the forwarder fell behind"
                ),
                Err(_) if stopped() => break 'run,
                Err(e) => return Err(e).context("a sender's write failed"),
            }
            shared.window.sent_at(t);
            next += 1;
        }
        poll.poll(&mut events, Some(Duration::ZERO))?;
        for event in events.iter() {
            let (stream, have, stamp) = &mut receivers[event.token().0];
            loop {
                let n = match stream.read(&mut scratch) {
                    Ok(0) | Err(_) if stopped() => break 'run,
                    Ok(0) => bail!("the forwarder closed a connection"),
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                };
                let arrived = shared.window.now();
                let mut rest = &scratch[..n];
                while !rest.is_empty() {
                    let take = if *have < STAMP {
                        let take = (STAMP - *have).min(rest.len());
                        stamp[*have..*have + take].copy_from_slice(&rest[..take]);
                        take
                    } else {
                        (bytes - *have).min(rest.len())
                    };
                    *have += take;
                    rest = &rest[take..];
                    if *have == bytes {
                        *have = 0;
                        let sent_at = u64::from_le_bytes(*stamp);
                        if shared.window.contains(sent_at) {
                            latencies.push(arrived.saturating_sub(sent_at) / 1000);
                        }
                    }
                }
            }
        }
    }
    Ok(latencies)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cores this process may run on (a container may not offer CPU 0).
    fn allowed_cpus() -> Vec<usize> {
        // SAFETY: `set` is a plain bit set owned by this frame, filled in by the call.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
                0
            );
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect()
        }
    }

    fn options(payload_bytes: usize) -> Options {
        let cpus = allowed_cpus();
        Options {
            traffic: Traffic {
                pairs: 8,
                rate: 2_000,
                payload_bytes,
                warmup_secs: 0,
                duration_secs: 1,
            },
            forwarder_cpu: cpus[0],
            client_cpu: *cpus.last().unwrap(),
        }
    }

    #[test]
    fn every_message_sent_in_the_window_arrives_whole_and_is_timed() {
        // 1.5 KB as measured, and 20 KB messages that a read may cut anywhere.
        for bytes in [1_500, 20_000] {
            let report = measure(&options(bytes)).unwrap();
            assert!(report.sent >= 1_000, "{bytes} B: only {} sent", report.sent);
            assert_eq!(
                report.latencies.len() as u64,
                report.sent,
                "{bytes} B: lost or made up messages"
            );
            // A stamp read from the wrong offset would give nonsense times.
            assert!(
                *report.latencies.last().unwrap() < 10_000_000,
                "{bytes} B: a latency over 10 s"
            );
            assert!(report.cpu_ms >= 0.0);
        }
    }

    #[test]
    fn a_core_that_does_not_exist_is_a_clear_error() {
        let mut o = options(1_500);
        o.forwarder_cpu = 100_000;
        let err = format!("{:#}", measure(&o).unwrap_err());
        assert!(err.contains("cannot pin a thread to CPU 100000"), "{err}");
    }

    #[test]
    fn odd_options_are_refused() {
        let mut o = options(1_500);
        o.traffic.pairs = 0;
        assert!(measure(&o).is_err());
        let mut o = options(4);
        o.traffic.rate = 10;
        assert!(measure(&o).unwrap_err().to_string().contains("at least 8"));
    }
}
