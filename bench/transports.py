"""The transports the latency suite compares, each a producer and N consumer processes
that carry the same frames (512 float32 samples at 16 kHz, stamped with their
CLOCK_MONOTONIC publish time) at a given cadence.

Adding a transport or a v2m wake strategy is one line in ``TRANSPORTS``.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
ENGINE = os.environ.get("V2M_ENGINE", str(ROOT / "target" / "release" / "v2m-engine"))
PRODUCER = str(ROOT / "target" / "release" / "v2m-bench-producer")
PYTHON = sys.executable
FRAME_S = 512 / 16000
_ids = itertools.count()

Result = Dict[str, object]


@dataclass(frozen=True)
class Case:
    """One run: ``frames`` frames every ``cadence_ns``, to ``readers`` consumers."""

    cadence_ns: int
    frames: int
    readers: int


def _unique(kind: str) -> str:
    return f"suite-{kind}-{os.getpid()}-{next(_ids)}"


def _await_ready(proc: "subprocess.Popen[str]", what: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "ready":
        proc.kill()
        raise RuntimeError(f"{what} did not start: {line!r}")


def _consumers(args: Sequence[str], count: int) -> List["subprocess.Popen[str]"]:
    procs = [
        subprocess.Popen(
            [PYTHON, str(BENCH / "consumer.py"), *args], stdout=subprocess.PIPE, text=True
        )
        for _ in range(count)
    ]
    for proc in procs:
        _await_ready(proc, "a consumer")
    return procs


def _collect(procs: List["subprocess.Popen[str]"], timeout: float) -> List[Result]:
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=timeout)
        results.append(json.loads(out))
    return results


@dataclass(frozen=True)
class V2MRing:
    """The engine publishing into its ring, read by ``consumer`` (``v2m.Reader`` with a
    wake strategy, or a raw consumer)."""

    name: str
    consumer: str
    args: tuple[str, ...] = ()

    def run(self, case: Case) -> List[Result]:
        ring = _unique("ring")
        consumers = _consumers([self.consumer, ring, *self.args], case.readers)
        speed = FRAME_S * 1e9 / case.cadence_ns
        engine = subprocess.Popen(
            [
                ENGINE,
                "run",
                "--name",
                ring,
                "--source",
                "counter",
                "--vad",
                "off",
                "--speed",
                f"{speed:g}",
                "--duration",
                f"{(case.frames + 10) * FRAME_S:.3f}",
                "--linger",
                "1",
            ],
            stderr=subprocess.DEVNULL,
        )
        try:
            return _collect(consumers, timeout=case.frames * case.cadence_ns / 1e9 + 60)
        finally:
            engine.wait(30)


@dataclass(frozen=True)
class UnixSocket:
    """A Rust producer sending each frame as one SOCK_SEQPACKET datagram per consumer."""

    name: str

    def run(self, case: Case) -> List[Result]:
        path = f"/tmp/{_unique('uds')}.sock"
        producer = subprocess.Popen(
            [
                PRODUCER,
                "--path",
                path,
                "--readers",
                str(case.readers),
                "--cadence-us",
                str(case.cadence_ns // 1000),
                "--frames",
                str(case.frames + 5),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        _await_ready(producer, "the socket producer")
        try:
            consumers = _consumers(["uds", path], case.readers)
            return _collect(consumers, timeout=case.frames * case.cadence_ns / 1e9 + 60)
        finally:
            producer.wait(30)


@dataclass(frozen=True)
class PythonPeer:
    """A Python producer (pyzmq or iceoryx2) that starts once every consumer is subscribed."""

    name: str
    kind: str

    def run(self, case: Case) -> List[Result]:
        address = f"ipc:///tmp/{_unique('zmq')}" if self.kind == "zmq" else _unique("iox")
        producer = subprocess.Popen(
            [
                PYTHON,
                str(BENCH / "py_producer.py"),
                self.kind,
                address,
                "--cadence-us",
                str(case.cadence_ns // 1000),
                "--frames",
                str(case.frames + 5),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        _await_ready(producer, f"the {self.kind} producer")
        try:
            consumers = _consumers([self.kind, address], case.readers)
            time.sleep(0.3)  # subscriptions reach the publisher
            assert producer.stdin is not None
            producer.stdin.write("go\n")
            producer.stdin.flush()
            return _collect(consumers, timeout=case.frames * case.cadence_ns / 1e9 + 60)
        finally:
            producer.wait(30)


@dataclass(frozen=True)
class MpQueue:
    """``multiprocessing.Queue``: one queue per consumer, consumers forked by the producer."""

    name: str

    def run(self, case: Case) -> List[Result]:
        out = subprocess.run(
            [
                PYTHON,
                str(BENCH / "py_producer.py"),
                "mpqueue",
                "-",
                "--readers",
                str(case.readers),
                "--cadence-us",
                str(case.cadence_ns // 1000),
                "--frames",
                str(case.frames + 5),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=case.frames * case.cadence_ns / 1e9 + 60,
        )
        results: List[Result] = json.loads(out.stdout)
        return results


TRANSPORTS = [
    V2MRing("v2m Reader (futex)", "v2m"),
    V2MRing("v2m Reader (adaptive)", "v2m", ("--wake", "adaptive")),
    V2MRing("v2m Reader (priority)", "v2m", ("--priority",)),
    V2MRing("v2m Reader (fenced, ARM64 path)", "v2m", ("--fenced",)),
    V2MRing("raw futex (floor)", "raw-futex"),
    V2MRing("raw busy poll (floor)", "raw-poll"),
    UnixSocket("Unix socket SEQPACKET"),
    PythonPeer("pyzmq PUB/SUB ipc", "zmq"),
    PythonPeer("iceoryx2 pub/sub + event", "iceoryx2"),
    MpQueue("multiprocessing.Queue"),
]
"""Every transport the suite runs, in the order of its tables."""
