#!/bin/bash
# Replicated produce on one machine (bench/RESULTS.md, "replication: produce"): a 3-node
# cluster from deploy/cluster/start-local.sh (default timeouts), two topics of 4 partitions —
# `rf1` (replication factor 1) and `rf3` (replication factor 3, min.insync.replicas=2) — and
# per round:
#   1. `ringbench produce --acks -1` of $DUR seconds on rf1, then on rf3 (the maximum rate);
#   2. rf3 again at half of that round's rf3 maximum (`--throughput`), for its latency.
# Prints per round: rf1 and rf3 records/s, their ratio, and p50/p99 of the half-rate run; then
# the medians. Run from the repo root after
#   cargo build --release --bin ringbroker --bin ringbench
# The three brokers and the load generator share this machine's cores, so the ratio is what
# replication costs here, not on three hosts.
set -u
T=${T:-target/release}
OUT=${OUT:-/tmp/replication-produce}
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-10}
RECORD=${RECORD:-100}
mkdir -p "$OUT"
# shellcheck source=bench/rf_cluster.sh
. bench/rf_cluster.sh
rf_cluster_start "$T" "$OUT/cluster.txt"

# produce TOPIC NAME [EXTRA...]: one ringbench run; prints its summary line.
produce() {
  local topic=$1 name=$2; shift 2
  "$T/ringbench" produce --bootstrap $boot --topic "$topic" --partitions 4 --acks -1 \
      --record-size "$RECORD" --duration "$DUR" --timeout 120 "$@" > "$OUT/$name.txt" 2>&1
  grep '50th' "$OUT/$name.txt" | tail -1
}
rate() { echo "$1" | awk '{print $4}'; }
for round in $(seq "$ROUNDS"); do
  rf1=$(rate "$(produce rf1 "rf1-$round")")
  rf3=$(rate "$(produce rf3 "rf3-$round")")
  half=$(python3 -c "print(max(1, int(float('$rf3') / 2)))")
  line=$(produce rf3 "half-$round" --throughput "$half")
  p50=$(echo "$line" | sed -E 's/.* ([0-9.]+) ms 50th.*/\1/')
  p99=$(echo "$line" | sed -E 's/.* ([0-9.]+) ms 99th.*/\1/')
  ratio=$(python3 -c "print(round(float('$rf3') / float('$rf1'), 3))")
  echo "round $round rf1 $rf1 rec/s rf3 $rf3 rec/s ratio $ratio half-rate $half rec/s p50 $p50 ms p99 $p99 ms"
done | tee "$OUT/rounds.txt"
python3 - "$OUT/rounds.txt" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.startswith("round")]
col = lambda name: [float(r[r.index(name) + 1]) for r in rows]
print("median: rf1 %.0f rec/s, rf3 %.0f rec/s, ratio %.3f, p99 at half rate %.1f ms" % (
    statistics.median(col("rf1")), statistics.median(col("rf3")),
    statistics.median(col("ratio")), statistics.median(col("p99"))))
EOF
