#!/usr/bin/env bash
# The app module's size beside its floor: tests/bench/size-floor/ is a Leptos 0.8 CSR app with leptos_router
# and five routes of trivial views (`floor`), and the same plus serde_json and an RtcPeerConnection
# (`floor-rtc`). Each is built with the app's dependencies (same versions and features, so the app's target/
# already holds them), the app's `wasm-release` profile, wasm-bindgen and `wasm-opt -Oz` as trunk runs them;
# the app's own module is taken from dist/ (`trunk build index.html --release` first). The floor is built in
# the app's target directory (or $CARGO_TARGET_DIR), under the app's .cargo/config.toml rustflags, so it
# reuses the app's compiled dependencies. Prints raw, brotli (-q 11) and gzip (-9) bytes.
# Usage: scripts/bench-size.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
export PATH="$root/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The floor crate gets the app's [dependencies] and size profile, written from the app's Cargo.toml so the
# two never drift; the protocol crate is the app's own and adds nothing the floor uses.
cp -r tests/bench/size-floor/. "$scratch/"
cp Cargo.lock "$scratch/"
{
  printf '[package]\nname = "size-floor"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[workspace]\n\n'
  sed -n '/^\[dependencies\]/,/^\[dev-dependencies\]/p' Cargo.toml | sed '$d' |
    sed -e '/^peerlab-protocol/d' \
        -e 's/^serde.workspace = true/serde = { version = "1", features = ["derive"] }/' \
        -e 's/^serde_json.workspace = true/serde_json = { version = "1", features = ["raw_value"] }/' \
        -e 's/^thiserror.workspace = true/thiserror = "2"/'
  sed -n '/^\[profile.wasm-release\]/,$p' Cargo.toml
} > "$scratch/Cargo.toml"

row() { # NAME WASM
  printf '%-10s %9d raw %8d brotli %8d gzip\n' "$1" "$(wc -c < "$2")" \
    "$(brotli --quality=11 --stdout -- "$2" | wc -c)" "$(gzip -9 --no-name --stdout -- "$2" | wc -c)"
}
for bin in floor floor-rtc; do
  CARGO_TARGET_DIR="$target" cargo build --offline --quiet --manifest-path "$scratch/Cargo.toml" \
    --target wasm32-unknown-unknown --profile wasm-release --bin "$bin"
  wasm-bindgen --target=web --no-typescript --out-dir="$scratch/$bin" --out-name="$bin" \
    "$target/wasm32-unknown-unknown/wasm-release/$bin.wasm"
  wasm-opt -Oz --output="$scratch/$bin/opt.wasm" "$scratch/$bin/${bin}_bg.wasm"
  row "$bin" "$scratch/$bin/opt.wasm"
done
app=$(ls dist/peerlab-*_bg.wasm 2>/dev/null | head -n 1)
if [ -n "$app" ]; then row app "$app"; else echo "app: no dist/peerlab-*_bg.wasm; run trunk build index.html --release" >&2; fi
