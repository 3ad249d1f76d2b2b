#!/usr/bin/env bash
# Measures the relay's resident memory per idle connection: starts a release relay in a loopback-only
# network namespace, holds N joined connections with peerlab-loadgen, and prints the figures.
# Usage: scripts/bench-idle.sh [CONNECTIONS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}
RUNS=${2:-3}
if [ "${PEERLAB_IN_NETNS:-}" != 1 ]; then
  cargo build --locked --release -p peerlab-server -p peerlab-loadgen
  exec env PEERLAB_IN_NETNS=1 unshare --net --pid --fork --mount --mount-proc --kill-child \
    sh -c 'ip link set lo up && exec "$@"' sh "$0" "$@"
fi
ulimit -n 20000
for run in $(seq 1 "$RUNS"); do
  RUST_LOG=warn target/release/peerlab-server --bind 127.0.0.1:18090 --dist /nonexistent --max-peers 8 >/dev/null 2>&1 &
  relay=$!
  for _ in $(seq 1 50); do curl -fsS -o /dev/null http://127.0.0.1:18090/healthz 2>/dev/null && break; sleep 0.1; done
  echo "--- run $run"
  target/release/peerlab-loadgen idle --relay 127.0.0.1:18090 --connections "$N" --relay-pid "$relay"
  kill "$relay"; wait "$relay" 2>/dev/null || true
done
