"""The fixtures every test may use: unique ring names, engines that never outlive their
test, a real closed ring. The helpers behind them are in ``tests/support/``; tests
import those, never this file."""

from __future__ import annotations

import itertools
import os
import signal
import sys
from pathlib import Path
from typing import Iterator

import pytest

# The package under test is the tree itself, never an installed copy that may be stale.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pyclient"))

from support.engine import Engines  # noqa: E402
from support.rings import ring_file, wait_for  # noqa: E402

_counter = itertools.count()


@pytest.fixture
def ring_name() -> Iterator[str]:
    """A ring name no other test uses; the test fails if the ring outlives it."""
    name = f"pytest-{os.getpid()}-{next(_counter)}"
    yield name
    leftover = ring_file(name)
    if leftover.exists():
        leftover.unlink()
        pytest.fail(f"{leftover} was left behind")


@pytest.fixture
def engines() -> Iterator[Engines]:
    pool = Engines()
    yield pool
    pool.stop_all()


@pytest.fixture(scope="session")
def real_segment() -> bytes:
    """The bytes of a real, closed ring (16 slots of 512 samples, 4 frames of silence)."""
    name = f"pytest-template-{os.getpid()}"
    pool = Engines()
    proc = pool.run(name, "silence", slots=16, duration=0.1, speed="max", linger=10, vad="off")
    try:
        wait_for(lambda: ring_file(name).exists(), what="template ring")
        import v2m

        with v2m.Reader(name, start="oldest", wait=5) as reader:
            list(reader)
        return ring_file(name).read_bytes()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(5)
