#!/usr/bin/env python3
"""Restart time and RSS of one broker holding many partitions (issue 20).

Usage: restart_many.py BROKER_BINARY PARTITIONS [RUNS]

Starts one broker (default shard count) on a kernel-chosen 127.0.0.1 port with a fresh data
dir, creates PARTITIONS partitions (topics of at most 10,000, one CreateTopics each), writes one
small batch to every partition (Produce acks=1, 1,000 partitions per request), reads the RSS,
then RUNS times: kill -9, restart, and times from the spawn to
  - the first ApiVersions answer (the port serves),
  - the first Metadata answer (one topic),
  - the first Produce answered without error to a random partition (recovered on first use),
and the RSS then and 5 s later. Prints one line per run and the medians. With IDLE_S=N (a
multiple of 10) it then leaves the last restarted broker idle for N s and prints its CPU share
per 10 s window from /proc (utime + stime): the cost of recovering the rest in the background
and then of the housekeeping passes that probe dormant logs for retention. Raw Kafka protocol
(no client library): CreateTopics v2, Produce v3 (one record batch, magic 2), Metadata v1,
ApiVersions v0. Kills only the broker it started.
"""
import os
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

TOPIC_PARTITIONS_MAX = 10_000
PRODUCE_PARTITIONS_PER_REQUEST = 1_000


def crc32c_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


CRC_TABLE = crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc = CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def varint(value):
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def record_batch(value):
    """One magic-2 batch of one record; the broker assigns the offsets."""
    now = int(time.time() * 1000)
    body = b"\x00" + varint(0) + varint(0) + varint(-1) + varint(len(value)) + value + varint(0)
    record = varint(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", 0, 0, now, now, -1, -1, -1, 1) + record
    crc = crc32c(after_crc)
    after_length = struct.pack(">ibI", -1, 2, crc) + after_crc
    return struct.pack(">qi", 0, len(after_length)) + after_length


def string(text):
    data = text.encode()
    return struct.pack(">h", len(data)) + data


class Connection:
    def __init__(self, port, timeout=120.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.correlation = 0

    def request(self, api_key, version, body):
        self.correlation += 1
        header = struct.pack(">hhi", api_key, version, self.correlation) + string("restart-bench")
        frame = header + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", self.read(4))[0]
        response = self.read(size)
        assert struct.unpack(">i", response[:4])[0] == self.correlation
        return response[4:]

    def read(self, count):
        data = bytearray()
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return bytes(data)

    def close(self):
        self.sock.close()


def create_topic(conn, name, partitions):
    body = struct.pack(">i", 1) + string(name) + struct.pack(">ihii", partitions, 1, 0, 0)
    body += struct.pack(">ib", 120_000, 0)
    response = conn.request(19, 2, body)
    # throttle, topics count, name, error code
    name_length = struct.unpack(">h", response[8:10])[0]
    error = struct.unpack(">h", response[10 + name_length : 12 + name_length])[0]
    if error not in (0, 36):
        raise RuntimeError(f"CreateTopics {name}: error {error}")


def produce(conn, topic, partitions, batch):
    """One Produce v3 to `partitions` of `topic`; returns how many answered with an error."""
    parts = b"".join(struct.pack(">ii", p, len(batch)) + batch for p in partitions)
    body = struct.pack(">hhi", -1, 1, 60_000) + struct.pack(">i", 1) + string(topic)
    body += struct.pack(">i", len(partitions)) + parts
    response = conn.request(0, 3, body)
    offset = 4  # topics count
    name_length = struct.unpack(">h", response[offset : offset + 2])[0]
    offset += 2 + name_length
    count = struct.unpack(">i", response[offset : offset + 4])[0]
    offset += 4
    errors = 0
    for _ in range(count):
        _, error = struct.unpack(">ih", response[offset : offset + 6])
        errors += error != 0
        offset += 4 + 2 + 8 + 8  # partition, error, base offset, log append time
    return errors


def topics_for(total):
    topics = []
    index = 0
    while total > 0:
        count = min(total, TOPIC_PARTITIONS_MAX)
        topics.append((f"many-{index}", count))
        total -= count
        index += 1
    return topics


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(binary, port, data_dir, log):
    command = [binary, "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir]
    return subprocess.Popen(command, stdout=log, stderr=log)


def connect_until(port, started, deadline_s=300.0):
    while time.monotonic() - started < deadline_s:
        try:
            return Connection(port)
        except OSError:
            time.sleep(0.005)
    raise TimeoutError("the broker did not listen")


def first_answers(port, started, topics):
    # A connection accepted while the broker starts may be reset: retry, as clients do.
    while True:
        conn = connect_until(port, started)
        try:
            conn.request(18, 0, b"")
            break
        except (ConnectionError, OSError):
            conn.close()
            time.sleep(0.005)
    api_versions = time.monotonic() - started
    topic, count = random.choice(topics)
    conn.request(3, 1, struct.pack(">i", 1) + string(topic))
    metadata = time.monotonic() - started
    batch = record_batch(b"after-restart")
    partition = random.randrange(count)
    while produce(conn, topic, [partition], batch) != 0:
        if time.monotonic() - started > 300:
            raise TimeoutError("no produce succeeded")
        time.sleep(0.01)
    produced = time.monotonic() - started
    conn.close()
    return api_versions, metadata, produced


def fill(port, topics):
    conn = connect_until(port, time.monotonic())
    for name, count in topics:
        create_topic(conn, name, count)
    batch = record_batch(b"x" * 100)
    errors = 0
    for name, count in topics:
        for first in range(0, count, PRODUCE_PARTITIONS_PER_REQUEST):
            last = min(count, first + PRODUCE_PARTITIONS_PER_REQUEST)
            # Topic creation reaches the logs asynchronously: retry until every one answers.
            for _ in range(600):
                failed = produce(conn, name, list(range(first, last)), batch)
                if failed == 0:
                    break
                time.sleep(0.1)
            errors += failed
    conn.close()
    return errors


def cpu_seconds(pid):
    """utime + stime of `pid` (all its threads) in seconds, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(pid, seconds):
    """The idle broker's CPU share per 10 s window for `seconds` s, and RSS at the end."""
    if seconds <= 0:
        return
    window = 10
    shares = []
    for index in range(seconds // window):
        before = cpu_seconds(pid)
        time.sleep(window)
        shares.append((cpu_seconds(pid) - before) / window)
        print(f"idle {index * window}-{(index + 1) * window} s: broker CPU "
              f"{shares[-1] * 100:.1f} % of one core", flush=True)
    tail = shares[len(shares) // 2:]
    print(f"idle, second half ({len(tail) * window} s): median {statistics.median(tail) * 100:.1f}"
          f" % of one core; RSS {rss_mib(pid):.0f} MiB", flush=True)


def main():
    binary, partitions = sys.argv[1], int(sys.argv[2])
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    topics = topics_for(partitions)
    data_dir = tempfile.mkdtemp(prefix="restart-many-")
    log = open(os.path.join(data_dir, "broker.log"), "ab")
    broker_dir = os.path.join(data_dir, "data")
    port = free_port()
    broker = start(binary, port, broker_dir, log)
    results = []
    try:
        began = time.monotonic()
        errors = fill(port, topics)
        print(f"{partitions} partitions created and written in {time.monotonic() - began:.1f} s "
              f"({errors} partitions failed); RSS {rss_mib(broker.pid):.0f} MiB", flush=True)
        for run in range(runs):
            broker.send_signal(signal.SIGKILL)
            broker.wait()
            started = time.monotonic()
            broker = start(binary, port, broker_dir, log)
            api, meta, prod = first_answers(port, started, topics)
            rss_first = rss_mib(broker.pid)
            time.sleep(5)
            rss_later = rss_mib(broker.pid)
            results.append((api, meta, prod, rss_first, rss_later))
            print(f"run {run + 1}: ApiVersions {api:.2f} s, Metadata {meta:.2f} s, "
                  f"Produce {prod:.2f} s, RSS {rss_first:.0f} MiB then {rss_later:.0f} MiB "
                  f"5 s later", flush=True)
        idle_cpu(broker.pid, int(os.environ.get("IDLE_S", "0")))
    finally:
        broker.send_signal(signal.SIGKILL)
        broker.wait()
        log.close()
        if os.environ.get("KEEP_DATA") is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    medians = [statistics.median(column) for column in zip(*results)]
    print(f"median of {len(results)}: ApiVersions {medians[0]:.2f} s, Metadata {medians[1]:.2f} s,"
          f" Produce {medians[2]:.2f} s, RSS {medians[3]:.0f} MiB then {medians[4]:.0f} MiB")


if __name__ == "__main__":
    main()
