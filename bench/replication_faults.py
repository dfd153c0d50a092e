#!/usr/bin/env python3
"""Leader failover under load with replication: three voters on 127.0.0.1 at default timeouts,
a topic with RF 3 and min.insync.replicas=2, an idempotent acks=all producer (librdkafka)
writing throughout. Each round kills the leader of a partition with SIGKILL and measures the
time until every partition it led accepts an acks=all Produce again (a raw probe every 20 ms
to the leader the live brokers name); then restarts it and waits for a full ISR. At the end
every broker stops and the Jepsen-style checker of tests/common/checker.rs reads the replicas'
segment files: no acknowledged record lost, none twice, no divergent offset, replicas
byte-identical below the high watermark.

The rounds run inside the test harness (tests/replication_schedule.rs, `leader_kill_bench`,
ignored in the suite) so that the benchmark and the tests share one cluster driver and one
checker; this script builds and runs it and prints the summary line for RESULTS.md.

Usage: bench/replication_faults.py [--kills 60] [--profile release|dev] [--scaled]
                                   [--features F]
  --scaled    the tests' scaled-down timeouts (session 1.5 s) instead of the broker defaults
  --features  cargo features to build with (e.g. failpoints, to reuse a test build)
Prints every kill and the median and worst failover, in seconds.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=60)
    parser.add_argument("--profile", choices=["release", "dev"], default="release")
    parser.add_argument("--scaled", action="store_true")
    parser.add_argument("--features", default="")
    args = parser.parse_args()
    command = ["cargo", "test", "--test", "replication_schedule"]
    if args.profile == "release":
        command.append("--release")
    if args.features:
        command += ["--features", args.features]
    command += ["--", "--ignored", "--exact", "leader_kill_bench", "--nocapture"]
    environment = dict(os.environ, RINGBROKER_BENCH_KILLS=str(args.kills),
                       RINGBROKER_BENCH_SCALED="1" if args.scaled else "0")
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    times, summary = [], None
    for line in process.stdout:
        kill = re.search(r"BENCH kill (\d+) victim (\d+) failover_ms (\d+)", line)
        if kill:
            seconds = int(kill.group(3)) / 1000
            times.append(seconds)
            print(f"kill {kill.group(1)}: leader {kill.group(2)}, "
                  f"acks=all writes accepted after {seconds:.3f} s", flush=True)
        elif "BENCH RESULT" in line:
            summary = line.strip()
        elif "panicked" in line or "checker" in line:
            print(line.rstrip(), flush=True)
    status = process.wait()
    if not times:
        print(f"no kill measured (exit {status})")
        return 1
    checker = "clean" if summary and "checker clean" in summary else "NOT CLEAN"
    print(f"replication failover ({args.profile}, "
          f"{'scaled' if args.scaled else 'default'} timeouts): kills {len(times)}, "
          f"median {statistics.median(times):.3f} s, worst {max(times):.3f} s, "
          f"best {min(times):.3f} s; checker {checker}")
    if summary:
        print(summary)
    return 0 if status == 0 and checker == "clean" else 1


if __name__ == "__main__":
    sys.exit(main())
