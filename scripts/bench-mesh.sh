#!/usr/bin/env bash
# Mesh call set-up time through the room page (N = 2, 4, 6) beside a plain-JS mesh, in a loopback-only
# network namespace. See docs/BENCHMARKS.md.
# Usage: scripts/bench-mesh.sh [SIZES=2,4,6] [RUNS=3]
exec "$(dirname "$0")/bench-browser.sh" mesh "${1:-2,4,6}" "${2:-3}"
