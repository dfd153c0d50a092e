#!/bin/bash
# What a record costs the brokers with and without replication (bench/RESULTS.md, "follower
# connections steered"): a 3-node cluster from deploy/cluster/start-local.sh, topics `rf1`
# (RF 1) and `rf3` (RF 3, min.insync.replicas=2) of 4 partitions, one `ringbench produce
# --acks -1` per topic at a fixed rate, and the three brokers' CPU time (utime + stime from
# /proc/PID/stat, in clock ticks of 10 ms) and voluntary context switches (all threads) before
# and after each. Prints per topic the ringbench summary, CPU µs per record and context
# switches per record. Usage, from the repo root after
#   cargo build --release --bin ringbroker --bin ringbench
#   bench/replication_cost.sh [BINDIR] [SECONDS] [RATE]     (defaults: target/release 8 200000)
# Extra broker flags (e.g. --shards 1) through RINGBROKER_FLAGS, as start-local.sh reads them.
set -u
B=${1:-target/release}; DUR=${2:-8}; RATE=${3:-200000}
# shellcheck source=bench/rf_cluster.sh
. bench/rf_cluster.sh
rf_cluster_start "$B"
# "TICKS SWITCHES" summed over the brokers.
stats() {
  local ticks=0 switches=0 pid
  for pid in $(cat "$dir/pids"); do
    ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    switches=$((switches + $(cat /proc/"$pid"/task/*/status \
        | awk '/^voluntary_ctxt_switches/ {s += $2} END {print s}')))
  done
  echo "$ticks $switches"
}
for topic in rf1 rf3; do
  read -r t0 c0 < <(stats)
  line=$("$B/ringbench" produce --bootstrap $boot --topic "$topic" --partitions 4 --acks -1 \
      --record-size 100 --duration "$DUR" --timeout 120 --throughput "$RATE" 2>&1 \
      | grep -E "50th" | tail -1)
  read -r t1 c1 < <(stats)
  n=$(echo "$line" | awk '{print $1}')
  echo "$topic: $line"
  python3 -c "print('  brokers cpu-us/record %.2f, context switches/record %.3f' % \
      (($t1 - $t0) * 1e4 / $n, ($c1 - $c0) / $n))"
done
