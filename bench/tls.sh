#!/bin/bash
# TLS cost (bench/RESULTS.md, "TLS"; issue 19): produce and consume throughput over SSL as a
# ratio of PLAINTEXT, measured against one broker in one run. The broker listens on a
# PLAINTEXT and an SSL port (and, with SASL=1, a SASL_SSL port with a SCRAM-SHA-512 user);
# the test CA and the localhost certificate are made by this script with OpenSSL's CLI in a
# temporary directory, never committed. Per round and per protocol (interleaved, so load
# drift hits both): `ringbench produce` of $RECORDS records of $SIZE bytes to a fresh topic,
# then `ringbench consume` of the same records; prints each run's MB/s, then per round and
# the median the ratios SSL/PLAINTEXT (fetch over TLS takes the copy path, never splice).
# The broker is killed on exit (trap), also on failure or ^C.
# Run from the repo root after
#   cargo build --release --bin ringbroker --bin ringbench
# e.g. ROUNDS=3 bash bench/tls.sh
set -u
T=${T:-target/release}
OUT=${OUT:-/tmp/tls-bench}
ROUNDS=${ROUNDS:-3}
RECORDS=${RECORDS:-200000}
SIZE=${SIZE:-1024}
SASL=${SASL:-0}
PLAIN_PORT=19492
SSL_PORT=19493
SASL_PORT=19494
mkdir -p "$OUT"
dir=$(mktemp -d /var/tmp/ringbroker-tls.XXXX)
broker=

cleanup() {
  if [ -n "$broker" ]; then
    kill "$broker" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$broker" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$broker" 2>/dev/null
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "tls.sh: $*" >&2; exit 1; }

certificates() {
  (cd "$dir" \
    && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ringbench-ca \
         -keyout ca.key -out ca.pem \
    && openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
         -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout server.key -out server.csr \
    && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
         -copy_extensions copy -out server.pem) > "$OUT/openssl.log" 2>&1 \
    || fail "openssl: $(tail -n 3 "$OUT/openssl.log")"
}

start_broker() {
  local listeners=(--listen "127.0.0.1:$PLAIN_PORT" --listen "SSL://127.0.0.1:$SSL_PORT")
  if [ "$SASL" = 1 ]; then
    "$T/ringbroker" user add bench --mechanism SCRAM-SHA-512 --password bench-secret \
        --data-dir "$dir/data" > "$OUT/user.log" 2>&1 || fail "user add: $(cat "$OUT/user.log")"
    listeners+=(--listen "SASL_SSL://127.0.0.1:$SASL_PORT" --sasl-mechanisms SCRAM-SHA-512)
  fi
  "$T/ringbroker" "${listeners[@]}" --tls-cert "$dir/server.pem" --tls-key "$dir/server.key" \
      --data-dir "$dir/data" > "$OUT/broker.log" 2>&1 &
  broker=$!
  for _ in $(seq 100); do
    (echo > /dev/tcp/127.0.0.1/$SSL_PORT) 2>/dev/null && return 0
    sleep 0.1
  done
  fail "broker did not listen: $(tail -n 5 "$OUT/broker.log")"
}

# flags PROTOCOL: ringbench's connection flags for one listener.
flags() {
  case $1 in
    PLAINTEXT) echo "--bootstrap 127.0.0.1:$PLAIN_PORT" ;;
    SSL) echo "--bootstrap 127.0.0.1:$SSL_PORT --security-protocol SSL --ssl-ca $dir/ca.pem" ;;
    SASL_SSL) echo "--bootstrap 127.0.0.1:$SASL_PORT --security-protocol SASL_SSL" \
        "--ssl-ca $dir/ca.pem --sasl-mechanism SCRAM-SHA-512 --sasl-user bench" \
        "--sasl-password bench-secret" ;;
  esac
}

# run PROTOCOL ROUND: produce then consume on a fresh topic; prints "produce_MBs consume_MBs".
run() {
  local protocol=$1 round=$2 topic="tls-$1-$2"
  # shellcheck disable=SC2046
  "$T/ringbench" produce $(flags "$protocol") --topic "$topic" --partitions 1 \
      --record-size "$SIZE" --num-records "$RECORDS" --batch-size 131072 --timeout 600 \
      --report-interval 60 > "$OUT/produce-$protocol-$round.txt" 2>&1 \
      || fail "produce $protocol: $(tail -n 3 "$OUT/produce-$protocol-$round.txt")"
  # shellcheck disable=SC2046
  "$T/ringbench" consume $(flags "$protocol") --topic "$topic" --num-records "$RECORDS" \
      --timeout 600 > "$OUT/consume-$protocol-$round.txt" 2>&1 \
      || fail "consume $protocol: $(tail -n 3 "$OUT/consume-$protocol-$round.txt")"
  local produced consumed
  produced=$(grep -o '([0-9.]* MB/sec), [0-9.]* ms avg latency, [0-9.]* ms max latency, ' \
      "$OUT/produce-$protocol-$round.txt" | tail -1 | tr -d '(' | cut -d' ' -f1)
  consumed=$(grep -A1 '^start.time' "$OUT/consume-$protocol-$round.txt" | tail -1 \
      | cut -d, -f4 | tr -d ' ')
  [ -n "$produced" ] && [ -n "$consumed" ] || fail "no figures for $protocol round $round"
  echo "$produced $consumed"
}

certificates
start_broker
protocols="PLAINTEXT SSL"
[ "$SASL" = 1 ] && protocols="$protocols SASL_SSL"
echo "records $RECORDS x $SIZE B per run, rounds $ROUNDS, nproc $(nproc)"
{
  for round in $(seq "$ROUNDS"); do
    for protocol in $protocols; do
      load=$(cut -d' ' -f1 /proc/loadavg)
      figures=$(run "$protocol" "$round") || exit 1
      echo "round $round $protocol load $load MB/s $figures"
    done
  done
} | tee "$OUT/rounds.txt"
[ "${PIPESTATUS[0]}" = 0 ] || fail "a run failed"
# Ratios per round and medians: each protocol against PLAINTEXT of the same round.
python3 - "$OUT/rounds.txt" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    words = line.split()
    runs[(int(words[1]), words[2])] = (float(words[6]), float(words[7]))
rounds = sorted({r for r, _ in runs})
for protocol in sorted({p for _, p in runs} - {"PLAINTEXT"}):
    produce, consume = [], []
    for r in rounds:
        plain, other = runs[(r, "PLAINTEXT")], runs[(r, protocol)]
        produce.append(other[0] / plain[0]); consume.append(other[1] / plain[1])
        print(f"round {r} {protocol}/PLAINTEXT produce {produce[-1]:.3f} consume {consume[-1]:.3f}")
    print(f"median {protocol}/PLAINTEXT produce {statistics.median(produce):.3f}"
          f" consume {statistics.median(consume):.3f} over {len(rounds)} rounds")
EOF
