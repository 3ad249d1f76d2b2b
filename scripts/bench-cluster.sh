#!/usr/bin/env bash
# Five relay nodes and one Redis on this machine hold N connections together: starts redis-server and the
# nodes (release builds) in a loopback-only network namespace, then one peerlab-loadgen per node (a process
# may hold at most 20,000 descriptors here), each member joined to a room of 8 on its node.
# Usage: scripts/bench-cluster.sh [CONNECTIONS_PER_NODE] [NODES]
set -euo pipefail
cd "$(dirname "$0")/.."
PER_NODE=${1:-18000}
NODES=${2:-5}
if [ "${PEERLAB_IN_NETNS:-}" != 1 ]; then
  cargo build --locked --release -p peerlab-server -p peerlab-loadgen
  exec env PEERLAB_IN_NETNS=1 unshare --net --pid --fork --mount --mount-proc --kill-child \
    sh -c 'ip link set lo up && exec "$@"' sh "$0" "$@"
fi
ulimit -n 20000
redis-server --port 16379 --bind 127.0.0.1 --save "" --appendonly no --maxclients 10000 >/dev/null &
for _ in $(seq 1 50); do redis-cli -p 16379 ping >/dev/null 2>&1 && break; sleep 0.1; done
pids=()
for n in $(seq 1 "$NODES"); do
  RUST_LOG=warn target/release/peerlab-server --bind 127.0.0.1:$((18100 + n)) --dist /nonexistent \
    --redis-url redis://127.0.0.1:16379/ >/dev/null 2>&1 &
  pids+=($!)
done
for n in $(seq 1 "$NODES"); do
  for _ in $(seq 1 50); do curl -fsS http://127.0.0.1:$((18100 + n))/healthz 2>/dev/null | grep -q '"up":true' && break; sleep 0.1; done
done
logs=()
for n in $(seq 1 "$NODES"); do
  log=$(mktemp)
  logs+=("$log")
  target/release/peerlab-loadgen idle --relay 127.0.0.1:$((18100 + n)) --relay-pid "${pids[$((n - 1))]}" \
    --connections "$PER_NODE" --sources 8 --settle-secs 10 >"$log" 2>&1 &
done
wait_status=0
for job in $(jobs -p | tail -n "$NODES"); do wait "$job" || wait_status=1; done
total=0
for n in $(seq 1 "$NODES"); do
  echo "--- node $n"; cat "${logs[$((n - 1))]}"
  held=$(grep -oE 'connections held: [0-9]+' "${logs[$((n - 1))]}" | grep -oE '[0-9]+$' || echo 0)
  total=$((total + held))
done
echo "total connections held across $NODES nodes: $total"
echo "redis: $(redis-cli -p 16379 info memory | grep used_memory_human)"
exit $wait_status
