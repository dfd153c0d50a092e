#!/usr/bin/env python3
"""Controller failover time: three voters on 127.0.0.1 at default timeouts; each round kills
the active controller with SIGKILL and measures the time until a CreateTopics sent to the
survivors (every 20 ms, rotating) succeeds; then restarts the killed broker and waits until
the cluster is whole again before the next round.

Usage: bench/controller_failover.py [--rounds 20] [--binary target/release/ringbroker]
Prints every round and the median and worst, in seconds. Raw Kafka protocol (Metadata v1,
CreateTopics v2), no client library: the only dependency is the broker binary.
"""
import argparse
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROUND_TIMEOUT_S = 60.0


def request(port, api_key, version, body, timeout=2.0):
    header = struct.pack(">hhi", api_key, version, 7) + struct.pack(">h", 5) + b"bench"
    frame = header + body
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        return recv_exact(s, size)[4:]  # skip the correlation id


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def read_string(data, at):
    (length,) = struct.unpack_from(">h", data, at)
    at += 2
    if length < 0:
        return None, at
    return data[at:at + length].decode(), at + length


def metadata(port):
    """(broker ids, controller id) from Metadata v1 with no topics."""
    data = request(port, 3, 1, struct.pack(">i", 0))
    (count,) = struct.unpack_from(">i", data, 0)
    at, ids = 4, []
    for _ in range(count):
        (node,) = struct.unpack_from(">i", data, at)
        _, at = read_string(data, at + 4)
        at += 4
        _, at = read_string(data, at)
        ids.append(node)
    (controller,) = struct.unpack_from(">i", data, at)
    return sorted(ids), controller


def create_topic(port, name):
    encoded = name.encode()
    body = struct.pack(">i", 1) + struct.pack(">h", len(encoded)) + encoded
    body += struct.pack(">ih", 1, -1) + struct.pack(">ii", 0, 0)
    body += struct.pack(">i?", 5000, False)
    data = request(port, 19, 2, body, timeout=8.0)
    # throttle, topics count, name, error code
    _, at = read_string(data, 8)
    (code,) = struct.unpack_from(">h", data, at)
    return code


class Node:
    def __init__(self, binary, root, node_id, client_port, voters):
        self.binary, self.node_id, self.client_port = binary, node_id, client_port
        self.data = os.path.join(root, f"data-{node_id}")
        self.log = os.path.join(root, f"broker-{node_id}.log")
        self.voters, self.process = voters, None

    def start(self):
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [self.binary, "--node-id", str(self.node_id), "--listen",
                 f"127.0.0.1:{self.client_port}", "--data-dir", self.data,
                 "--quorum-voters", self.voters, "--log-level", "warn"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_whole(nodes, deadline):
    """Until every node lists all three and they agree on a controller; returns its id."""
    want = sorted(n.node_id for n in nodes)
    while time.monotonic() < deadline:
        try:
            answers = [metadata(n.client_port) for n in nodes]
            controllers = {c for _, c in answers}
            if all(ids == want for ids, _ in answers) and len(controllers) == 1:
                return controllers.pop()
        except (OSError, struct.error, ConnectionError):
            pass
        time.sleep(0.05)
    raise TimeoutError("the cluster did not become whole")


def one_round(nodes, round_index):
    deadline = time.monotonic() + ROUND_TIMEOUT_S
    controller = wait_whole(nodes, deadline)
    victim = next(n for n in nodes if n.node_id == controller)
    survivors = [n for n in nodes if n is not victim]
    started = time.monotonic()
    victim.kill()
    attempt = 0
    while time.monotonic() < deadline:
        node = survivors[attempt % len(survivors)]
        attempt += 1
        try:
            if create_topic(node.client_port, f"failover-{round_index}") in (0, 36):
                elapsed = time.monotonic() - started
                victim.start()
                return controller, elapsed
        except (OSError, struct.error, ConnectionError):
            pass
        time.sleep(0.02)
    raise TimeoutError(f"round {round_index}: no CreateTopics succeeded")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--binary", default="target/release/ringbroker")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="failover-")
    voters = ",".join(f"{i}@127.0.0.1:{free_port()}" for i in (1, 2, 3))
    nodes = [Node(args.binary, root, i, free_port(), voters) for i in (1, 2, 3)]
    for node in nodes:
        node.start()
    times = []
    try:
        for index in range(args.rounds):
            controller, elapsed = one_round(nodes, index)
            times.append(elapsed)
            print(f"round {index + 1}: killed controller {controller}, "
                  f"CreateTopics succeeded after {elapsed:.3f} s", flush=True)
    finally:
        for node in nodes:
            node.stop()
    print(f"rounds {len(times)}: median {statistics.median(times):.3f} s, "
          f"worst {max(times):.3f} s, best {min(times):.3f} s (logs in {root})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
