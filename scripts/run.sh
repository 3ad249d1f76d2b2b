#!/usr/bin/env bash
# Builds the app (release, wasm-opt) and runs the relay serving it at http://127.0.0.1:8080.
# Installs what is missing first (scripts/setup.sh); the build itself downloads nothing.
# Flags after the command go to the relay, e.g. `scripts/run.sh --bind 0.0.0.0:8080 --max-peers 4`
# (see `target/release/peerlab-server --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
trunk build index.html --release
cargo build --locked --offline --release -p peerlab-server
# A resume key kept across runs (in target/, never committed), so clients keep their peer ids when this
# relay is restarted. An explicit PEERLAB_RESUME_SECRET wins.
if [ -z "${PEERLAB_RESUME_SECRET:-}" ]; then
  key=target/peerlab-resume.key
  [ -s "$key" ] || (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$key")
  PEERLAB_RESUME_SECRET=$(cat "$key")
  export PEERLAB_RESUME_SECRET
fi
exec target/release/peerlab-server --dist dist "$@"
