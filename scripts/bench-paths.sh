#!/usr/bin/env bash
# Time to the first message and 20 MiB file throughput per network path (host, srflx, TURN/UDP, TURN/TCP)
# on the NAT test network, the app's chat beside a plain-JS data channel on the same relay. Needs root
# (network namespaces). See docs/BENCHMARKS.md.
# Usage: scripts/bench-paths.sh [RUNS=3] [PATHS=host,srflx,relay-udp,relay-tcp]
exec "$(dirname "$0")/bench-browser.sh" paths "${1:-3}" "${2:-host,srflx,relay-udp,relay-tcp}"
