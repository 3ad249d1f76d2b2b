#!/usr/bin/env bash
# File-transfer throughput between two pages of the release build (the chat page) beside a plain-JS
# data-channel sender, in a loopback-only network namespace. See docs/BENCHMARKS.md.
# Usage: scripts/bench-transfer.sh [MiB=256] [RUNS=3]
exec "$(dirname "$0")/bench-browser.sh" transfer "${1:-256}" "${2:-3}"
