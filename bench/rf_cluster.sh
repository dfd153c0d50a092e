# Sourced by bench/replication_produce.sh and bench/replication_cost.sh: with $1 the directory
# of the ringbroker binary, starts a 3-node cluster (deploy/cluster/start-local.sh) in a temp
# dir that is stopped and removed on exit, creates `rf1` (RF 1) and `rf3` (RF 3,
# min.insync.replicas=2) of 4 partitions, and waits (bounded: 300 checks 0.1 s apart) until
# every rf3 partition has its three replicas in sync. Sets `dir` and `boot`; the cluster
# status goes to $2 (default /dev/null).
rf_cluster_start() {
  local bin=$1 status=${2:-/dev/null}
  dir=$(mktemp -d /var/tmp/ringbroker-replication.XXXX)
  trap 'deploy/cluster/start-local.sh stop --dir "$dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
  deploy/cluster/start-local.sh start --dir "$dir" --bin "$bin/ringbroker" > "$status"
  boot=127.0.0.1:9092
  "$bin/ringbroker" topic create rf1 --partitions 4 --replication-factor 1 \
      --bootstrap $boot > /dev/null
  "$bin/ringbroker" topic create rf3 --partitions 4 --replication-factor 3 \
      --config min.insync.replicas=2 --bootstrap $boot > /dev/null
  for _ in $(seq 300); do
    "$bin/ringbroker" topic describe rf3 --under-replicated --bootstrap $boot 2>/dev/null \
        | grep -q '^Topic: rf3' || break
    sleep 0.1
  done
}
