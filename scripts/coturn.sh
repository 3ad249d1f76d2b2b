#!/usr/bin/env bash
# Runs coturn (STUN + TURN) beside a peerlab relay, sharing its --turn-secret, with the settings a TURN
# server facing the internet needs. The end-to-end tests across NATs run it exactly like this.
#
#   PEERLAB_TURN_SECRET=s3cret scripts/coturn.sh --ip 198.51.100.7
#   peerlab-server --ice-url stun:198.51.100.7:3478 \
#     --turn-url 'turn:198.51.100.7:3478?transport=udp' --turn-url 'turn:198.51.100.7:3478?transport=tcp' \
#     --turn-secret s3cret ...
#
# --ip        the address coturn listens and relays on (a public address of this machine)
# --external  PUBLIC/PRIVATE when the machine sits behind 1:1 NAT (a cloud VM): what it tells clients
# --log FILE  where coturn logs (default: standard output)
# Anything after `--` goes to turnserver as is (e.g. --tls-listening-port with --cert/--pkey for turns:).
#
# Why these settings: only clients holding credentials from the relay may allocate (use-auth-secret: the
# relay hands each member an HMAC of its id and an expiry, never the secret); a TURN server must not be a
# way into the networks behind it, so peers on private, loopback, link-local, carrier-grade NAT and
# multicast addresses are refused; no CLI, no default config file.
set -euo pipefail

ip="" external="" log="stdout"
while [ $# -gt 0 ]; do
  case "$1" in
    --ip) ip=$2; shift 2 ;;
    --external) external=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "coturn.sh: unknown argument $1 (extra turnserver flags go after --)" >&2; exit 2 ;;
  esac
done
[ -n "$ip" ] || { echo "coturn.sh: --ip ADDRESS is required" >&2; exit 2; }
[ -n "${PEERLAB_TURN_SECRET:-}" ] || { echo "coturn.sh: set PEERLAB_TURN_SECRET (the relay's --turn-secret)" >&2; exit 2; }
command -v turnserver >/dev/null || { echo "coturn.sh: turnserver not found (apt-get install coturn)" >&2; exit 2; }

denied=(
  0.0.0.0-0.255.255.255 10.0.0.0-10.255.255.255 100.64.0.0-100.127.255.255 127.0.0.0-127.255.255.255
  169.254.0.0-169.254.255.255 172.16.0.0-172.31.255.255 192.0.0.0-192.0.0.255 192.168.0.0-192.168.255.255
  198.18.0.0-198.19.255.255 240.0.0.0-255.255.255.255
  ::1 64:ff9b::-64:ff9b::ffff:ffff fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff
  fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff
)
args=(
  --listening-ip="$ip" --relay-ip="$ip" --listening-port=3478 --use-auth-secret --realm=peerlab
  --no-cli --no-tlsv1 --no-tlsv1_1 --no-multicast-peers --min-port=49152 --max-port=65535
  --pidfile=/dev/null --log-file="$log" --simple-log --no-software-attribute
  --user-quota=64 --total-quota=4000 --max-bps=0 --stale-nonce=600
)
for range in "${denied[@]}"; do args+=(--denied-peer-ip="$range"); done
[ -n "$external" ] && args+=(--external-ip="$external")
# Without certificates coturn cannot serve TLS/DTLS; say so rather than let it warn on every start.
case " $* " in *" --cert"*) ;; *) args+=(--no-tls --no-dtls) ;; esac
# The secret goes in a config file only its owner can read (on the command line every local user would see
# it in /proc); it is removed when coturn ends. `-c` also keeps coturn from reading /etc/turnserver.conf.
conf=$(mktemp "${TMPDIR:-/tmp}/peerlab-coturn.XXXXXX")
chmod 600 "$conf"
printf 'static-auth-secret=%s\n' "$PEERLAB_TURN_SECRET" > "$conf"
pid=""
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$conf"; }
trap stop EXIT
trap 'exit 0' TERM INT
turnserver -c "$conf" "${args[@]}" "$@" &
pid=$!
wait "$pid"
