#!/usr/bin/env bash
# Runs every peerlab test: native tests of all crates, browser tests (wasm-bindgen-test in headless Chromium)
# against a real relay, end-to-end tests of the release build served by the relay, and end-to-end tests
# across NATs on a test network of namespaces with coturn (tests/net/; needs root).
#
# Installs what is missing first (scripts/setup.sh), then runs everything offline inside a loopback-only
# network namespace, so no test can reach anything but 127.0.0.1. Ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ "${PEERLAB_IN_NETNS:-}" != 1 ]; then
  scripts/setup.sh
  if [ "$(id -u)" = 0 ]; then
    ns=(unshare --net --pid --fork --mount --mount-proc --kill-child)
  else
    ns=(unshare --user --map-root-user --net --pid --fork --mount --mount-proc --kill-child)
  fi
  exec env PEERLAB_IN_NETNS=1 "${ns[@]}" sh -c 'ip link set lo up && exec "$@"' sh "$0" "$@"
fi

# ---- inside the namespace from here on: only loopback exists -------------------------------------
export PATH="$ROOT/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export CARGO_NET_OFFLINE=true
export CHROMEDRIVER=/usr/bin/chromedriver
export CHROME_BIN=/usr/lib/chromium/chromium
export RUST_LOG="${RUST_LOG:-warn}"
LOGDIR="$ROOT/target/test-logs"
mkdir -p "$LOGDIR"
: > "$LOGDIR/summary.txt"
failed_stages=()
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

stage() { printf '\n==== %s ====\n' "$*"; }

# Runs a command, keeping its output in a log and recording its pass/fail counts.
run_counted() {
  local name=$1; shift
  local log="$LOGDIR/$name.log"
  if "$@" 2>&1 | tee "$log"; then :; else failed_stages+=("$name"); fi
  # cargo test and wasm-bindgen-test-runner: "test result: ok. 5 passed; 0 failed; ..."
  grep -aoE 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$log" \
    | awk -v n="$name" '{p+=$4; f+=$6} END {print n, p+0, f+0}' >> "$LOGDIR/summary.txt"
}

wait_http() { # url, seconds
  for _ in $(seq 1 $(( $2 * 10 ))); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2; return 1
}

stage "native tests (protocol, relay, app logic)"
run_counted native cargo test --workspace --locked --offline --no-fail-fast

stage "browser tests (wasm-bindgen-test in headless Chromium, against a real relay)"
cargo build --locked --offline -p peerlab-server
RELAY_PORT=18080
# The test pages come from wasm-bindgen-test-runner's own server, another origin than the relay's: pin its
# address so the relay can allow exactly that origin (the relay refuses pages of origins it does not know).
RUNNER_ADDR=127.0.0.1:18070
target/debug/peerlab-server --bind 127.0.0.1:$RELAY_PORT --dist "$LOGDIR/no-dist" \
  --allowed-origin "http://$RUNNER_ADDR" >"$LOGDIR/relay-browser.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$RELAY_PORT/healthz" 30
PEERLAB_TEST_RELAY_WS="ws://127.0.0.1:$RELAY_PORT/ws" WASM_BINDGEN_TEST_ADDRESS=$RUNNER_ADDR \
  run_counted browser cargo test --locked --offline --target wasm32-unknown-unknown -p peerlab --tests

stage "end-to-end tests of the release build (trunk + wasm-opt, served by the relay)"
if trunk build index.html --release >"$LOGDIR/trunk.log" 2>&1; then
  cargo build --locked --offline --release -p peerlab-server
  E2E_PORT=18081
  target/release/peerlab-server --bind 127.0.0.1:$E2E_PORT --dist dist >"$LOGDIR/relay-e2e.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$E2E_PORT/healthz" 30
  e2e_log="$LOGDIR/e2e.log"
  if PEERLAB_URL="http://127.0.0.1:$E2E_PORT" node --test --test-reporter=tap tests/e2e/ 2>&1 | tee "$e2e_log"; then :; else failed_stages+=(e2e); fi
  awk '/^# pass /{p=$3} /^# fail /{f=$3} END {print "e2e", p+0, f+0}' "$e2e_log" >> "$LOGDIR/summary.txt"

  stage "Autobahn WebSocket suite against the relay's own framing (cases 1-7, 9)"
  if scripts/autobahn.sh "$ROOT/target/autobahn" 2>&1 | tee "$LOGDIR/autobahn.log"; then :; else failed_stages+=(autobahn); fi
  grep -aoE '^autobahn [0-9]+ passed, [0-9]+ failed' "$LOGDIR/autobahn.log" \
    | awk '{print "autobahn", $2, $4}' >> "$LOGDIR/summary.txt" || echo "autobahn 0 1" >> "$LOGDIR/summary.txt"

  stage "end-to-end tests across NATs (network namespaces, nftables routers, coturn; tests/net/)"
  # Each test builds its own test network of namespaces inside this script's mount namespace, so none
  # outlives the run even if a test is killed.
  net_log="$LOGDIR/net.log"
  if node --test --test-reporter=tap tests/net/ 2>&1 | tee "$net_log"; then :; else failed_stages+=(net); fi
  awk '/^# pass /{p=$3} /^# fail /{f=$3} END {print "net", p+0, f+0}' "$net_log" >> "$LOGDIR/summary.txt"
else
  cat "$LOGDIR/trunk.log"
  failed_stages+=(trunk-build)
  echo "trunk-build 0 1" >> "$LOGDIR/summary.txt"
fi

stage "summary"
cat "$LOGDIR/summary.txt"
read -r passed failed < <(awk '{p+=$2; f+=$3} END {print p+0, f+0}' "$LOGDIR/summary.txt")
if [ "${#failed_stages[@]}" -gt 0 ]; then
  echo "failed stages: ${failed_stages[*]}"
  [ "$failed" -gt 0 ] || failed=${#failed_stages[@]}
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "${#failed_stages[@]}" = 0 ]
