"""Shared fixtures: the engine binary, unique ring names, WAV writers, cleanup checks."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, List

import numpy as np
import pytest

from wav_files import write_wav  # noqa: F401  (the tests import it from here)

ROOT = Path(__file__).resolve().parent.parent
# The package under test is the tree itself, never an installed copy that may be stale.
sys.path.insert(0, str(ROOT / "pyclient"))
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


TIMEOUT_SCALE = float(os.environ.get("V2M_TEST_TIMEOUT_SCALE", "1"))
"""Multiplies the engine commands' timeouts: ``make test-arm64`` runs everything under
qemu, where ONNX Runtime's per-frame calls take ~50 times longer."""


def run_engine(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Runs an engine command to completion."""
    return subprocess.run(
        [str(ENGINE), *args],
        capture_output=True,
        text=True,
        timeout=timeout * TIMEOUT_SCALE,
        check=False,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def noise_signal(seconds: float, rate: int = 16000, seed: int = 1) -> np.ndarray:
    """Deterministic, frame-distinguishable float32 audio in [-0.9, 0.9]."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(-0.9, 0.9, int(seconds * rate))).astype(np.float32)


PYTHON = sys.executable


def frame_reader(name: str, out: Path) -> "subprocess.Popen[str]":
    """A reader process (``read_frames.py``) of ring ``name``, saving to ``out``; returns
    once it is about to attach (imports can take seconds on a slow or emulated CPU)."""
    proc = subprocess.Popen(
        [PYTHON, str(Path(__file__).parent / "read_frames.py"), name, str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "waiting", "the reader process failed to start"
    return proc


def frame_reader_summary(proc: "subprocess.Popen[str]", timeout: float = 60) -> object:
    """What a :func:`frame_reader` saw: ``{"frames": n, "dropped": d}``."""
    return json.loads(proc.communicate(timeout=timeout)[0])


@pytest.fixture(scope="session")
def real_segment() -> bytes:
    """The bytes of a real, closed ring (16 slots of 512 samples, 4 frames of silence)."""
    name = f"pytest-template-{os.getpid()}"
    pool = Engines()
    proc = pool.start(
        "--name",
        name,
        "--source",
        "silence",
        "--slots",
        "16",
        "--duration",
        "0.1",
        "--speed",
        "max",
        "--linger",
        "10",
        "--vad",
        "off",
    )
    try:
        wait_for(lambda: ring_file(name).exists(), what="template ring")
        import v2m

        with v2m.Reader(name, start="oldest", wait=5) as reader:
            list(reader)
        return ring_file(name).read_bytes()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(5)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


OTHER_UID = 65534
"""A uid that is not ours (nobody), for files planted as another user's."""


def can_chown() -> bool:
    return os.geteuid() == 0
