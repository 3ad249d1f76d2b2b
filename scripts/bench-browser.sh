#!/usr/bin/env bash
# Runs one browser benchmark, tests/bench/NAME.mjs, against the release build of the app and relay, in a
# loopback-only network namespace. Used by scripts/bench-transfer.sh and scripts/bench-mesh.sh.
# Usage: scripts/bench-browser.sh NAME [ARGS...]
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
name="$1"
shift
exec node "tests/bench/$name.mjs" "$@"
