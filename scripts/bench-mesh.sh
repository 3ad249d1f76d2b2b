#!/usr/bin/env bash
# Mesh call set-up time (room page, N = 2, 4, 6) beside a plain-JS mesh,
# in a loopback-only network namespace. See docs/BENCHMARKS.md.
# Usage: scripts/bench-mesh.sh [SIZES=2,4,6] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${PEERLAB_IN_NETNS:-}" != 1 ]; then
  scripts/setup.sh >/dev/null
  export PATH="$PWD/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
  trunk build index.html --release >/dev/null
  cargo build --locked --release -p peerlab-server
  exec env PEERLAB_IN_NETNS=1 unshare --net --pid --fork --mount --mount-proc --kill-child \
    sh -c 'ip link set lo up && exec "$@"' sh "$0" "$@"
fi
export CHROME_BIN=/usr/lib/chromium/chromium
node tests/bench/mesh.mjs "${1:-2,4,6}" "${2:-3}"
