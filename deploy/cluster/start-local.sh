#!/usr/bin/env bash
# A 3-node ringbroker cluster on this machine, for trying the metadata quorum out:
#   node N  client listener 127.0.0.1:909(N+1), controller (Raft) listener 127.0.0.1:919(N+1),
#           data DIR/N, log DIR/N.log; every node is a voter of the metadata quorum.
# The pids go to DIR/pids; `stop` sends SIGTERM to those pids (SIGKILL after 30 s).
#
# Usage: deploy/cluster/start-local.sh [start|stop|status] [--dir DIR] [--bin PATH]
#   start    start the three nodes (refused while DIR/pids exists), wait until each answers,
#            then print `ringbroker cluster status`            [default]
#   stop     stop the nodes listed in DIR/pids and remove it
#   status   `ringbroker cluster status --bootstrap 127.0.0.1:9092`
#   --dir    where data, logs and the pids file live [default: ./ringbroker-cluster]
#   --bin    the ringbroker binary [default: target/release/ringbroker, else ringbroker on PATH]
#   Extra broker flags (e.g. `--shards 1`) come from RINGBROKER_FLAGS, split on spaces.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
action="start"
dir="$PWD/ringbroker-cluster"
bin=""
voters="1@127.0.0.1:9192,2@127.0.0.1:9193,3@127.0.0.1:9194"
nodes=(1 2 3)

while [ $# -gt 0 ]; do
    case "$1" in
        start|stop|status) action="$1"; shift ;;
        --dir) dir="$2"; shift 2 ;;
        --bin) bin="$2"; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "start-local.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$bin" ]; then
    if [ -x "$repo/target/release/ringbroker" ]; then
        bin="$repo/target/release/ringbroker"
    else
        bin="$(command -v ringbroker || true)"
    fi
fi
if [ "$action" != stop ] && { [ -z "$bin" ] || [ ! -x "$bin" ]; }; then
    echo "start-local.sh: no ringbroker binary (cargo build --release, or --bin PATH)" >&2
    exit 2
fi
pids="$dir/pids"

# Whether 127.0.0.1:PORT accepts a connection (bash's /dev/tcp; no extra tools).
accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
    if [ -e "$pids" ]; then
        echo "start-local.sh: $pids exists; run '$0 stop --dir $dir' first" >&2
        exit 1
    fi
    mkdir -p "$dir"
    for n in "${nodes[@]}"; do
        if accepts "$((9091 + n))"; then
            echo "start-local.sh: 127.0.0.1:$((9091 + n)) is already in use" >&2
            exit 1
        fi
    done
    for n in "${nodes[@]}"; do
        mkdir -p "$dir/$n"
        "$bin" serve --node-id "$n" --listen "127.0.0.1:$((9091 + n))" --data-dir "$dir/$n" \
            --quorum-voters "$voters" ${RINGBROKER_FLAGS:-} >>"$dir/$n.log" 2>&1 &
        echo "$!" >>"$pids"
        echo "node $n: pid $!, client 127.0.0.1:$((9091 + n)), log $dir/$n.log"
    done
    # Bounded wait: 60 probes 0.5 s apart per node.
    for n in "${nodes[@]}"; do
        for _ in $(seq 60); do
            accepts "$((9091 + n))" && break
            sleep 0.5
        done
        accepts "$((9091 + n))" || {
            echo "node $n does not accept; see $dir/$n.log, then: $0 stop --dir $dir" >&2
            exit 1
        }
    done
    # The quorum elects its leader once a majority is up: give it a few tries.
    for _ in $(seq 20); do
        "$bin" cluster status --bootstrap 127.0.0.1:9092 >/dev/null 2>&1 && break
        sleep 0.5
    done
    "$bin" cluster status --bootstrap 127.0.0.1:9092
}

stop() {
    if [ ! -e "$pids" ]; then
        echo "start-local.sh: no $pids; nothing to stop"
        return 0
    fi
    mapfile -t running <"$pids"
    for pid in "${running[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    # Bounded: 60 checks 0.5 s apart, then SIGKILL what is left.
    for _ in $(seq 60); do
        alive=0
        for pid in "${running[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ "$alive" -eq 0 ] && break
        sleep 0.5
    done
    for pid in "${running[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            echo "pid $pid did not stop on SIGTERM; SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -f "$pids"
    echo "stopped ${#running[@]} nodes (data kept in $dir)"
}

case "$action" in
    start) start ;;
    stop) stop ;;
    status) exec "$bin" cluster status --bootstrap 127.0.0.1:9092 ;;
esac
