#!/bin/bash
# Moving a partition to a new broker (bench/RESULTS.md, "scale-out"; issue 18): a 3-node
# cluster started as deploy/cluster/start-local.sh does, one topic `big` of 1 partition (replication
# factor 2, min.insync.replicas=1) filled with $SIZE_MIB MiB, then a fourth broker (an
# observer: same --quorum-voters) and per round:
#   1. a `ringbench produce --acks -1` run on `small` (4 partitions, RF 2) at $RATE records/s
#      for the whole move, for the producer's p50/p99 during it;
#   2. `ringbroker partition reassign --execute` moving `big`-0 from [1, 2] to [4, 2] (and
#      back to [1, 2] before the next round); the time until `--verify` reports it completed.
# Rounds run without, then with a throttle of the moving data (`--execute --throttle
# $THROTTLE`: the cluster-wide `follower.replication.throttled.rate`, which `--verify` removes
# once the move completed). It slows only the replica being added, never the `small`
# followers, so the producer's acks=all latency should not follow it.
# Run from the repo root after
#   cargo build --release --bin ringbroker --bin ringbench
# Written for issue 18, not run at 1 GiB on the shared 2-core build machine.
set -u
T=${T:-target/release}
OUT=${OUT:-/tmp/reassign-bench}
SIZE_MIB=${SIZE_MIB:-1024}
RATE=${RATE:-2000}
THROTTLE=${THROTTLE:-52428800}
ROUNDS=${ROUNDS:-2}
mkdir -p "$OUT"

# run_cluster THROTTLE_ARGS...: starts 3 voters and an observer (node 4, same voters list),
# fills `big`, creates `small`. Like deploy/cluster/start-local.sh, plus the extra flags.
run_cluster() {
  dir=$(mktemp -d /var/tmp/ringbroker-reassign.XXXX)
  local voters="1@127.0.0.1:9192,2@127.0.0.1:9193,3@127.0.0.1:9194"
  for n in 1 2 3 4; do
    "$T/ringbroker" serve --node-id "$n" --listen "127.0.0.1:$((9091 + n))" \
        --data-dir "$dir/$n" --quorum-voters "$voters" "$@" > "$dir/$n.log" 2>&1 &
    echo $! >> "$dir/pids"
  done
  boot=127.0.0.1:9092
  for _ in $(seq 120); do
    "$T/ringbroker" cluster status --bootstrap $boot > /dev/null 2>&1 && break
    sleep 0.5
  done
  "$T/ringbroker" topic create big --partitions 1 --replication-factor 2 --bootstrap $boot
  "$T/ringbroker" topic create small --partitions 4 --replication-factor 2 --bootstrap $boot
  "$T/ringbench" produce --bootstrap $boot --topic big --partitions 1 --acks 1 \
      --record-size 65536 --num-records $((SIZE_MIB * 16)) > "$OUT/fill.txt" 2>&1
}

stop_cluster() {
  xargs kill < "$dir/pids" 2>/dev/null
  sleep 5
  rm -rf "$dir"
}

plan() { # plan R1 R2: a one-partition plan file
  echo "{\"version\":1,\"partitions\":[{\"topic\":\"big\",\"partition\":0,\"replicas\":[$1,$2]}]}" \
      > "$OUT/plan-$1.json"
  echo "$OUT/plan-$1.json"
}

# move LABEL R1 R2 [--throttle B/s]: one timed move with the producer running; prints one
# result line.
move() {
  local label=$1 target; target=$(plan "$2" "$3")
  shift 3
  "$T/ringbench" produce --bootstrap $boot --topic small --partitions 4 --acks -1 \
      --throughput "$RATE" --duration 110 --timeout 120 > "$OUT/produce-$label.txt" 2>&1 &
  local producer=$! start; start=$(date +%s.%N)
  "$T/ringbroker" partition reassign --execute "$target" "$@" --bootstrap $boot > /dev/null
  until "$T/ringbroker" partition reassign --verify "$target" --bootstrap $boot >/dev/null; do
    sleep 0.2
  done
  local took; took=$(python3 -c "import time; print(round(time.time() - $start, 1))")
  kill -INT $producer; wait $producer
  local line; line=$(grep '50th' "$OUT/produce-$label.txt" | tail -1)
  echo "$label move ${took} s producer: $line"
}

{
  run_cluster
  for throttle in "" "--throttle $THROTTLE"; do
    for round in $(seq "$ROUNDS"); do
      # shellcheck disable=SC2086
      move "r$round${throttle:+-throttled}" 4 2 $throttle
      # shellcheck disable=SC2086
      move "back$round${throttle:+-throttled}" 1 2 $throttle
    done
  done
  stop_cluster
} | tee "$OUT/rounds.txt"
