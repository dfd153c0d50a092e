#!/bin/bash
# 1 MiB-batch produce against the loopback ceilings (bench/RESULTS.md, "produce: 1 MiB
# batches"). Run from the repo root after
#   cargo build --release --bin ringbroker --bin ringbench
# Per round: a fresh broker (2 shards) on each data root in $ROOTS, topic `big` of 3 partitions
# with segment.bytes 64 MiB and retention.bytes 256 MiB per partition (the steady state of a
# broker whose retention deletes what it no longer needs, so the page cache recycles pages
# instead of growing: see RESULTS.md for why that matters on this VM), one
# `ringbench produce` of $DUR seconds, the broker's CPU over it; then `ringbench baseline`
# (tcp-sink, tcp-file-sink, tcp-file-sync-sink) with the same 1 MiB chunks, its files on the
# same data root (TMPDIR). Outputs in $OUT.
set -u
T=${T:-target/release}
OUT=${OUT:-/tmp/produce1mib}
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-6}
ROOTS=${ROOTS:-/var/tmp /dev/shm}
PORT=${PORT:-19492}
mkdir -p "$OUT"
tick=$(getconf CLK_TCK)
for round in $(seq "$ROUNDS"); do
  for root in $ROOTS; do
    data=$(mktemp -d "$root/ringbroker-produce1mib.XXXX")
    "$T/ringbroker" --listen 127.0.0.1:$PORT --data-dir "$data" --shards 2 \
        --auto-create-partitions 0 --log-level warn > "$OUT/broker.log" 2>&1 &
    broker=$!
    for _ in $(seq 100); do
      (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
    "$T/ringbroker" topic create big --partitions 3 --config segment.bytes=67108864 \
        --config retention.bytes=268435456 --bootstrap 127.0.0.1:$PORT > /dev/null
    before=$(awk '{print $14+$15}' /proc/$broker/stat)
    "$T/ringbench" produce --bootstrap 127.0.0.1:$PORT --topic big --partitions 3 \
        --record-size 16384 --batch-size 1048576 --duration "$DUR" --timeout 60 \
        > "$OUT/produce-$round-$(basename "$root").txt" 2>&1
    after=$(awk '{print $14+$15}' /proc/$broker/stat)
    line=$(grep '50th' "$OUT/produce-$round-$(basename "$root").txt")
    mb=$(echo "$line" | sed -E 's/.*\(([0-9.]+) MB\/sec\).*/\1/')
    records=$(echo "$line" | awk '{print $1}')
    # CPU ms per MB produced (MB = 2^20 bytes, 16 KiB records).
    cpu=$(python3 -c "print(round(($after-$before)*1000/$tick/($records*16384/2**20),3))")
    echo "round $round data=$root produce MB/s $mb broker CPU ms/MB $cpu load $(cut -d' ' -f1 /proc/loadavg)"
    kill $broker; wait $broker
    rm -rf "$data"
    # tcp-file-sink writes into the temp dir: point it at the same data root, so each produce
    # figure has its ceiling on the same filesystem in the same round.
    TMPDIR="$root" "$T/ringbench" baseline --record-size 16384 --num-records 65536 \
        --batch-size 1048576 > "$OUT/baseline-$round-$(basename "$root").txt" 2>&1
    grep -E '^(tcp-sink|tcp-file-sink|tcp-file-sync-sink) ' \
        "$OUT/baseline-$round-$(basename "$root").txt" | awk -v r=$round -v d=$root \
        '{print "round " r " data=" d " baseline " $1 " MB/s " $5}'
  done
done
