#!/usr/bin/env bash
# Runs the deterministic cluster simulator over many seeds with the release binary and prints
# the seed count, the violations and simulated seconds per real second (issue 17).
#
#   bench/ringsim.sh [SEEDS] [START]      default: 10000 seeds from 0
#
# A violation prints its seed, the invariant it broke and the last events; replay one with
#   cargo run --release --bin ringsim -- --seed S
# Exit status: ringsim's (1 when any seed found a violation).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-10000}"
start="${2:-0}"
export CARGO_INCREMENTAL=0
cargo build --release --quiet --bin ringsim
began=$(date +%s)
status=0
./target/release/ringsim --seeds "$seeds" --start "$start" | tee /tmp/ringsim-bench.$$ || status=$?
ended=$(date +%s)
echo "hardware: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "wall: $((ended - began)) s for $seeds seeds from $start"
grep -E '^(simulated|reassignments|seeds) ' /tmp/ringsim-bench.$$
rm -f /tmp/ringsim-bench.$$
exit "$status"
