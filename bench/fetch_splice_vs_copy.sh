#!/bin/bash
# Fetch splice vs copy (bench/RESULTS.md, "fetch: splice vs copy"). Run from the repo
# root after `cargo build --release --bin ringbroker --bin ringbench`; outputs go to $OUT.
# Produces 1 GiB in 1 MiB batches once, then consumes it 3x per fetch mode,
# measuring broker CPU (utime+stime from /proc/<pid>/stat) and the consumer's CPU (bash's
# `time`) per consume run; modes interleave within each round. Prints the 1-minute load
# average before each run: the two vCPUs may be shared with other work.
# Optional REF=/path/to/other/ringbroker adds a third mode, "splice-ref": that binary in
# splice mode (e.g. a build of an earlier splice implementation), interleaved with the others.
set -u
TIMEFORMAT='user %U sys %S'
T=${T:-target/release}
OUT=${OUT:-/tmp/splicebench}; DATA=$OUT/data
PORT=19392
rm -rf $DATA; mkdir -p $DATA
tick=$(getconf CLK_TCK)
REF=${REF:-}
start_broker() {
  binary=$T/ringbroker; fetch_mode=$1
  if [ "$1" = splice-ref ]; then binary=$REF; fetch_mode=splice; fi
  printf 'fetch_mode = "%s"\n' "$fetch_mode" > $OUT/$1.toml
  $binary --listen 127.0.0.1:$PORT --data-dir $DATA --config $OUT/$1.toml \
      > $OUT/broker-$1.log 2>&1 &
  BROKER=$!
  for i in $(seq 100); do
    (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
}
cpu() { awk '{print $14+$15}' /proc/$BROKER/stat; }
start_broker copy
python3 bench/create_topic.py $PORT big; sleep 1
$T/ringbench produce --bootstrap 127.0.0.1:$PORT --topic big --record-size 102400 \
   --num-records 10240 --batch-size 1048576 --linger-ms 50 > $OUT/produce.txt 2>&1
tail -3 $OUT/produce.txt
kill $BROKER; wait $BROKER
for round in 1 2 3; do
 for mode in splice copy ${REF:+splice-ref}; do
  start_broker $mode
  # warm-up read (page cache), not measured
  $T/ringbench consume --bootstrap 127.0.0.1:$PORT --topic big --num-records 10240 >/dev/null 2>&1
  load=$(cut -d' ' -f1 /proc/loadavg)
  before=$(cpu)
  { time $T/ringbench consume --bootstrap 127.0.0.1:$PORT --topic big --num-records 10240 \
     > $OUT/consume-$mode-$round.txt 2>&1 ; } 2> $OUT/consumer-cpu-$mode-$round.txt
  after=$(cpu)
  echo "round $round mode $mode load $load broker_cpu_ticks $((after-before)) (tick=1/$tick s)" \
       "consumer_cpu_s $(cat $OUT/consumer-cpu-$mode-$round.txt)"
  tail -2 $OUT/consume-$mode-$round.txt
  kill $BROKER; wait $BROKER
 done
 $T/ringbench baseline --record-size 102400 --num-records 10240 --batch-size 1048576 \
    > $OUT/baseline-$round.txt 2>&1
 grep -i "sendfile\|file-copy" $OUT/baseline-$round.txt
done
