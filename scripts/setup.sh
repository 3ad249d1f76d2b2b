#!/usr/bin/env bash
# Installs what building and testing peerlab needs, and nothing that is already in place.
# Idempotent: every step first checks whether its tool is present at the pinned version.
# Downloads happen here only (registries: apt, crates.io, npm); builds after this run offline.
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.22.1
WASM_BINDGEN_VERSION=0.2.129
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '[setup] %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
SUDO=""
if [ "$(id -u)" != 0 ] && have sudo; then SUDO=sudo; fi

# --- Debian packages -------------------------------------------------------------------------
need_apt=()
have chromium || need_apt+=(chromium)
have chromedriver || need_apt+=(chromium-driver)
have redis-server || need_apt+=(redis-server)
have unshare || need_apt+=(util-linux)
have ip || need_apt+=(iproute2)
have curl || need_apt+=(curl)
have brotli || need_apt+=(brotli)
have nft || need_apt+=(nftables)
have turnserver || need_apt+=(coturn)
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# --- Rust targets and tools ------------------------------------------------------------------
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes, once)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked --force
fi
if ! trunk --version 2>/dev/null | grep -q " $TRUNK_VERSION\$"; then
  log "cargo install trunk $TRUNK_VERSION (about 9 minutes, once)"
  cargo install trunk --version "$TRUNK_VERSION" --locked --ignore-rust-version --force
fi

# --- npm tools (wasm-opt from binaryen 132, playwright-core driving Debian's Chromium, axe-core) --
# A lock file newer than the last install means a tool was added or moved: npm ci installs it.
if [ ! -x tools/node_modules/.bin/wasm-opt ] || [ ! -d tools/node_modules/playwright-core ] \
   || [ ! -f tools/node_modules/axe-core/axe.min.js ] \
   || [ tools/package-lock.json -nt tools/node_modules/.package-lock.json ]; then
  log "npm ci in tools/"
  (cd tools && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- the Autobahn WebSocket test suite (Python 2 only; pyenv's 2.7.18 is on this image) ---------
if [ ! -x "$HOME/.local/bin/wstest" ]; then
  log "pip install autobahntestsuite 0.8.2 (Python 2.7)"
  PYENV_VERSION=2.7.18 python2.7 -m pip install --user --quiet --disable-pip-version-check autobahntestsuite==0.8.2
fi

# --- crates, so that trunk's offline build and cargo --offline work -------------------------
cargo fetch --locked >/dev/null 2>&1 || cargo fetch --locked
log "ready"
