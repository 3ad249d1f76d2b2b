#!/usr/bin/env bash
# Runs the Autobahn WebSocket test suite's fuzzingclient (cases 1–7 and 9; 12–13 need compression, which the
# relay does not offer) against an echo server on the relay's own framing (server/examples/autobahn_echo.rs),
# and prints "autobahn N passed, N failed": a case passes when it ends OK, NON-STRICT or INFORMATIONAL.
# scripts/setup.sh installs the suite (autobahntestsuite 0.8.2, Python 2.7 through pyenv). Loopback only.
# With AUTOBAHN_TLS=1 the echo server speaks TLS (a throwaway self-signed certificate made with openssl; the
# suite's client does not check it) and the suite connects over wss://: the same framing over TLS.
# Usage: [AUTOBAHN_TLS=1] scripts/autobahn.sh [OUTDIR=target/autobahn]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-target/autobahn}")
port=${AUTOBAHN_PORT:-9001}
wstest=${WSTEST:-$HOME/.local/bin/wstest}
[ -x "$wstest" ] || { echo "autobahn: $wstest is missing (scripts/setup.sh installs it)" >&2; exit 2; }
cargo build --locked --offline --release -p peerlab-server --example autobahn_echo
rm -rf "$out"
mkdir -p "$out"
scheme=ws
tls_args=()
if [ "${AUTOBAHN_TLS:-0}" = 1 ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -keyout "$out/key.pem" -out "$out/cert.pem" > "$out/openssl.log" 2>&1
  scheme=wss
  tls_args=(--tls "$out/cert.pem" "$out/key.pem")
fi
target/release/examples/autobahn_echo "127.0.0.1:$port" "${tls_args[@]}" > "$out/echo.log" 2>&1 &
echo_pid=$!
trap 'kill $echo_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
cat > "$out/spec.json" <<JSON
{
  "outdir": "$out/reports",
  "servers": [{"agent": "peerlab-relay-framing", "url": "$scheme://127.0.0.1:$port"}],
  "cases": ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*"],
  "exclude-cases": [],
  "exclude-agent-cases": {}
}
JSON
(cd "$out" && PYENV_VERSION=2.7.18 "$wstest" -m fuzzingclient -s spec.json) > "$out/wstest.log" 2>&1 \
  || { tail -20 "$out/wstest.log"; exit 1; }
python3 - "$out/reports/index.json" "$scheme" <<'PY'
import json, sys
cases = json.load(open(sys.argv[1]))["peerlab-relay-framing"]
good = {"OK", "NON-STRICT", "INFORMATIONAL"}
counts = {}
bad = []
for case, result in sorted(cases.items()):
    counts[result["behavior"]] = counts.get(result["behavior"], 0) + 1
    if result["behavior"] not in good or result.get("behaviorClose") not in good:
        bad.append(f'{case}: {result["behavior"]} / close {result.get("behaviorClose")}')
print("autobahn behaviours:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
for line in bad:
    print("not ok", line)
over = " over TLS" if sys.argv[2] == "wss" else ""
print(f"autobahn{over} {len(cases) - len(bad)} passed, {len(bad)} failed")
sys.exit(1 if bad else 0)
PY
