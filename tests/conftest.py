"""Shared fixtures: the engine binary, unique ring names, WAV writers, cleanup checks."""

from __future__ import annotations

import itertools
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, List

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE = Path(os.environ.get("V2M_ENGINE", ROOT / "target" / "release" / "v2m-engine"))
_counter = itertools.count()


def ring_file(name: str) -> Path:
    return Path(f"/dev/shm/v2m-{name}")


@pytest.fixture
def ring_name() -> Iterator[str]:
    """A ring name no other test uses; the test fails if the ring outlives it."""
    name = f"pytest-{os.getpid()}-{next(_counter)}"
    yield name
    leftover = ring_file(name)
    if leftover.exists():
        leftover.unlink()
        pytest.fail(f"{leftover} was left behind")


class Engines:
    """Starts engines and makes sure none outlives the test."""

    def __init__(self) -> None:
        self.procs: List[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [str(ENGINE), "run", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def engines() -> Iterator[Engines]:
    pool = Engines()
    yield pool
    pool.stop_all()


def run_engine(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Runs an engine command to completion."""
    return subprocess.run(
        [str(ENGINE), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def write_wav(
    path: Path, samples: np.ndarray, rate: int, bits: int = 32, float_: bool = True
) -> None:
    """Writes ``samples`` (frames × channels, or frames) as a WAV file.

    ``float_`` selects IEEE float (format 3, 32-bit); otherwise integer PCM of
    ``bits`` bits (16, 24 or 32), with values scaled from [-1, 1).
    """
    data = np.asarray(samples)
    channels = 1 if data.ndim == 1 else data.shape[1]
    if float_:
        payload, fmt, bits = data.astype("<f4").tobytes(), 3, 32
    else:
        scaled = np.round(data.astype(np.float64) * (1 << (bits - 1)))
        ints = np.clip(scaled, -(1 << (bits - 1)), (1 << (bits - 1)) - 1).astype("<i4")
        if bits == 16:
            payload = ints.astype("<i2").tobytes()
        elif bits == 24:
            raw = ints.reshape(-1).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
            payload = raw.tobytes()
        else:
            payload = ints.tobytes()
        fmt = 1
    block = channels * bits // 8
    header = b"RIFF" + struct.pack("<I", 36 + len(payload)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, fmt, channels, rate, rate * block, block, bits)
    header += b"data" + struct.pack("<I", len(payload))
    path.write_bytes(header + payload)


def noise_signal(seconds: float, rate: int = 16000, seed: int = 1) -> np.ndarray:
    """Deterministic, frame-distinguishable float32 audio in [-0.9, 0.9]."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(-0.9, 0.9, int(seconds * rate))).astype(np.float32)


PYTHON = sys.executable
