#!/usr/bin/env bash
# The relay's speed on this machine: a 200-member join storm, SDP-sized signals at 20,000 msg/s over 500
# pairs (latency percentiles, relay CPU per thousand messages), an open-loop run at 400,000 msg/s of
# small signals (delivered messages per second), and the 20,000 msg/s traffic through a minimal forwarder
# (`peerlab-loadgen floor`) for the machine's floor. Release builds, loopback-only network namespace; each
# scenario RUNS times (default 3), so quote medians. The relay runs on CPU 0 with one worker thread and the load
# generator on CPU 1 (taskset), so neither preempts the other and runs are comparable.
# The relay runs with --rate-limit 0: the open-loop run sends 800 msg/s per connection, over the default
# per-connection limit, which is there against abuse, not for this measurement.
# Usage: scripts/bench-relay.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
if [ "${PEERLAB_IN_NETNS:-}" != 1 ]; then
  cargo build --locked --release -p peerlab-server -p peerlab-loadgen
  exec env PEERLAB_IN_NETNS=1 unshare --net --pid --fork --mount --mount-proc --kill-child \
    sh -c 'ip link set lo up && exec "$@"' sh "$0" "$@"
fi
ulimit -n 20000
start_relay() {
  RUST_LOG=warn taskset -c 0 target/release/peerlab-server --bind 127.0.0.1:18090 --dist /nonexistent \
    --threads 1 --max-peers 1000 --queue-capacity 4096 --rate-limit 0 >/dev/null 2>&1 &
  relay=$!
  for _ in $(seq 1 50); do curl -fsS -o /dev/null http://127.0.0.1:18090/healthz 2>/dev/null && break; sleep 0.1; done
}
stop_relay() { kill "$relay"; wait "$relay" 2>/dev/null || true; }
LG="taskset -c 1 target/release/peerlab-loadgen"
# Time the hypervisor gave the two vCPUs to someone else during a scenario (jiffies of 10 ms, cpu0/cpu1): on a
# shared VM this, not the relay, is what moves the tail latencies and the storm from run to run.
steal() { awk '/^cpu[01] /{printf "%s ", $9}' /proc/stat; }
stolen() { echo "$1 $(steal)" | awk '{printf "stolen: %d/%d jiffies\n", $3-$1, $4-$2}'; }
for run in $(seq 1 "$RUNS"); do
  echo "=== run $run"
  start_relay
  s0=$(steal)
  $LG storm --relay 127.0.0.1:18090 --members 200 --runs 5 | tail -1
  stolen "$s0"
  stop_relay; start_relay
  s0=$(steal)
  $LG pairs --relay 127.0.0.1:18090 --relay-pid "$relay" --pairs 500 --rate 20000 --payload-bytes 1500 \
    --warmup-secs 2 --duration-secs 10 | tail -4
  stolen "$s0"
  stop_relay
  # The same traffic through a minimal epoll forwarder instead of the relay (its threads pin themselves to
  # CPU 0 and 1 as above): what these messages cost the kernel here, the floor under any relay's figure.
  s0=$(steal)
  target/release/peerlab-loadgen floor --pairs 500 --rate 20000 --payload-bytes 1500 \
    --warmup-secs 2 --duration-secs 10 | tail -2
  stolen "$s0"
  start_relay
  s0=$(steal)
  $LG pairs --relay 127.0.0.1:18090 --relay-pid "$relay" --pairs 500 --rate 400000 --payload-bytes 100 \
    --warmup-secs 2 --duration-secs 5 | tail -4
  stolen "$s0"
  stop_relay
done
