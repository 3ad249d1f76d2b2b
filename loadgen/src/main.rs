//! peerlab-loadgen: drives running relays with many WebSocket clients and reports what the relay spent.
//!
//! # Scenarios
//! - [`idle`]: hold N joined connections; the relay's resident memory per connection.
//! - [`pairs`]: members in pairs signal each other at a fixed total rate (or as fast as they can); latency
//!   percentiles, delivered messages per second, and the relay's CPU time per thousand messages.
//! - [`storm`]: K members join one room at once; the time until every member knows every other.
//! - [`floor`]: no relay: a minimal `epoll` forwarder carries the `pairs` traffic in-process; what the same
//!   messages cost the kernel and the least possible user space on this machine.
//!
//! Load goes only to loopback addresses: any other target is refused. Every scenario is bounded by its
//! counts and an overall deadline. Connections are spread over several 127.0.0.x source addresses, since one
//! source address has only about 28k ephemeral ports towards one server port.

mod common;
mod floor;
mod idle;
mod pairs;
mod storm;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "peerlab-loadgen", about)]
struct Args {
    #[command(subcommand)]
    scenario: Scenario,
    /// Give up if the scenario has not finished within this many seconds.
    #[arg(long, global = true, default_value_t = 300)]
    deadline_secs: u64,
}

#[derive(Subcommand)]
enum Scenario {
    Idle(idle::Options),
    Pairs(pairs::Options),
    Storm(storm::Options),
    Floor(floor::Options),
}

/// Where the relays are: shared by every scenario.
#[derive(clap::Args, Clone, Debug)]
pub struct Target {
    /// A relay's address (loopback only); repeat for several nodes (connections are spread over them).
    #[arg(long = "relay", default_value = "127.0.0.1:8080")]
    pub relays: Vec<SocketAddr>,
    /// The relays' process ids, to read their memory and CPU time.
    #[arg(long = "relay-pid")]
    pub relay_pids: Vec<u32>,
    /// How many source addresses (127.0.0.1, 127.0.0.2, ...) to spread connections over.
    #[arg(long, default_value_t = 4)]
    pub sources: u8,
}

/// One thread: the benchmarks pin the load generator to one core, where a second worker thread would only
/// add context switches and cross-thread wake-ups to what the latency measures.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let deadline = Duration::from_secs(args.deadline_secs);
    let run = async {
        match args.scenario {
            Scenario::Idle(o) => idle::run(o).await,
            Scenario::Pairs(o) => pairs::run(o).await,
            Scenario::Storm(o) => storm::run(o).await,
            Scenario::Floor(o) => tokio::task::spawn_blocking(move || floor::run(o)).await?,
        }
    };
    tokio::time::timeout(deadline, run)
        .await
        .context("the scenario overran its deadline")?
}
