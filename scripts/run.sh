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
exec target/release/peerlab-server --dist dist "$@"
