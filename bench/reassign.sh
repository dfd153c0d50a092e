#!/bin/bash
# Moving a partition to a new broker (bench/RESULTS.md, "scale-out"; issue 18): a 3-node
# cluster started as deploy/cluster/start-local.sh does plus a fourth broker (an observer: same
# --quorum-voters); once all four are registered and unfenced, one topic `big` of 1 partition
# (replication factor 2, on brokers 1 and 2) filled with $SIZE_MIB MiB, and per round:
#   1. a `ringbench produce --acks -1` run on `small` (4 partitions, RF 2) at $RATE records/s
#      from 1 s before the move until it completed (`--stop-file`), for the producer's
#      p50/p99 during the move;
#   2. `ringbroker partition reassign --execute` moving `big`-0 from [1, 2] to [4, 2] (and
#      back to [1, 2] before the next round); the time until `--verify` reports it completed.
# Rounds run without, then with a throttle of the moving data (`--execute --throttle
# $THROTTLE`: the cluster-wide `follower.replication.throttled.rate`, which `--verify` removes
# once the move completed). It slows only the replica being added, never the `small`
# followers, so the producer's acks=all latency should not follow it.
# Every broker the script starts is killed on exit, also on failure or ^C (trap).
# Run from the repo root after
#   cargo build --release --bin ringbroker --bin ringbench
# e.g. ROUNDS=3 SIZE_MIB=1024 bash bench/reassign.sh
set -u
T=${T:-target/release}
OUT=${OUT:-/tmp/reassign-bench}
SIZE_MIB=${SIZE_MIB:-1024}
RATE=${RATE:-2000}
THROTTLE=${THROTTLE:-52428800}
ROUNDS=${ROUNDS:-2}
mkdir -p "$OUT"
dir=$(mktemp -d /var/tmp/ringbroker-reassign.XXXX)
touch "$dir/pids"
boot=127.0.0.1:9092

# Kills what this script started (the pids it wrote, nothing found by name), then removes the
# data dirs.
cleanup() {
  local pids; pids=$(cat "$dir/pids" 2>/dev/null)
  [ -n "$pids" ] && kill $pids 2>/dev/null
  for _ in $(seq 50); do
    local alive=0
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.2
  done
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "reassign.sh: $*" >&2; exit 1; }

# Unfenced brokers listed by `cluster status` (its broker table: NODE HOST:PORT RACK FENCED …).
unfenced() {
  "$T/ringbroker" cluster status --bootstrap $boot 2>/dev/null \
    | awk '$2 ~ /:[0-9]+$/ && $4 == "false"' | wc -l
}

# run_cluster: starts 3 voters and an observer (node 4, same voters list), waits until all
# four are registered and unfenced, fills `big`, creates `small`.
run_cluster() {
  local voters="1@127.0.0.1:9192,2@127.0.0.1:9193,3@127.0.0.1:9194"
  for n in 1 2 3 4; do
    "$T/ringbroker" serve --node-id "$n" --listen "127.0.0.1:$((9091 + n))" \
        --data-dir "$dir/$n" --quorum-voters "$voters" > "$dir/$n.log" 2>&1 &
    echo $! >> "$dir/pids"
  done
  local registered=0
  for _ in $(seq 240); do
    [ "$(unfenced)" -ge 4 ] && { registered=1; break; }
    sleep 0.5
  done
  [ $registered = 1 ] || { tail -n 5 "$dir"/*.log >&2; fail "4 brokers never registered"; }
  "$T/ringbroker" topic create big --partitions 1 --replication-factor 2 --bootstrap $boot \
      || fail "cannot create big"
  "$T/ringbroker" topic create small --partitions 4 --replication-factor 2 --bootstrap $boot \
      || fail "cannot create small"
  # `big` starts on [1, 2] whatever placement chose.
  move_to 1 2 > /dev/null || fail "cannot place big on [1, 2]"
  "$T/ringbench" produce --bootstrap $boot --topic big --partitions 1 --acks 1 \
      --record-size 65536 --num-records $((SIZE_MIB * 16)) > "$OUT/fill.txt" 2>&1 \
      || fail "filling big failed: $(tail -n 3 "$OUT/fill.txt")"
}

plan() { # plan R1 R2: a one-partition plan file
  echo "{\"version\":1,\"partitions\":[{\"topic\":\"big\",\"partition\":0,\"replicas\":[$1,$2]}]}" \
      > "$OUT/plan-$1.json"
  echo "$OUT/plan-$1.json"
}

# move_to R1 R2 [--throttle B/s]: executes the plan and waits (bounded: 1800 s) until it is
# verified complete; prints the seconds it took.
move_to() {
  local target; target=$(plan "$1" "$2")
  shift 2
  local start; start=$(date +%s.%N)
  "$T/ringbroker" partition reassign --execute "$target" "$@" --bootstrap $boot > /dev/null \
      || return 1
  local deadline=$(( $(date +%s) + 1800 ))
  until "$T/ringbroker" partition reassign --verify "$target" --bootstrap $boot >/dev/null; do
    [ "$(date +%s)" -lt $deadline ] || return 1
    sleep 0.2
  done
  python3 -c "import time; print(round(time.time() - $start, 1))"
}

# move LABEL R1 R2 [--throttle B/s]: one timed move with the producer running; prints one
# result line. The producer starts 1 s before the move (so it is connected and steady when
# the move begins) and is stopped through --stop-file as soon as --verify reports the move
# done: its summary's percentiles cover the move and that 1 s lead only. (`kill -INT` does
# not work here: a non-interactive shell starts background jobs with SIGINT ignored.)
move() {
  local label=$1 r1=$2 r2=$3
  shift 3
  local stop="$dir/stop-$label"
  rm -f "$stop"
  "$T/ringbench" produce --bootstrap $boot --topic small --partitions 4 --acks -1 \
      --throughput "$RATE" --duration 1790 --timeout 1800 --report-interval 1 \
      --stop-file "$stop" > "$OUT/produce-$label.txt" 2>&1 &
  local producer=$!
  echo $producer >> "$dir/pids"
  sleep 1
  local took; took=$(move_to "$r1" "$r2" "$@") || fail "move $label did not complete"
  touch "$stop"
  wait $producer || fail "producer of $label failed: $(tail -n 3 "$OUT/produce-$label.txt")"
  local line; line=$(grep '50th' "$OUT/produce-$label.txt" | tail -1)
  echo "$label move ${took} s producer: $line"
}

run_cluster
{
  for throttle in "" "--throttle $THROTTLE"; do
    for round in $(seq "$ROUNDS"); do
      # shellcheck disable=SC2086
      move "r$round${throttle:+-throttled}" 4 2 $throttle
      # shellcheck disable=SC2086
      move "back$round${throttle:+-throttled}" 1 2 $throttle
    done
  done
} | tee "$OUT/rounds.txt"
