"""A reader blocked in FUTEX_WAIT does not hold the GIL."""

from __future__ import annotations

import threading
import time

import v2m
from support.engine import Engines


def _spin(seconds: float) -> int:
    count, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        count += 1
    return count


def test_other_threads_run_while_a_reader_waits(ring_name: str, engines: Engines) -> None:
    # One 2-second frame: the reader thread spends ~2 s inside FUTEX_WAIT.
    engines.run(ring_name, "silence", rate=16000, frame=32000, slots=4, duration=6)
    with v2m.Reader(ring_name, wait=10) as reader:
        baseline = _spin(0.3)  # this thread alone
        got = []
        waiting = threading.Event()

        def read_one() -> None:
            waiting.set()
            got.append(reader.read(timeout=10))

        thread = threading.Thread(target=read_one)
        thread.start()
        waiting.wait()
        time.sleep(0.05)
        assert thread.is_alive() and not got, "the reader must still be waiting for its frame"
        during = _spin(0.3)
        still_waiting = thread.is_alive() and not got
        thread.join(15)
    assert got and got[0] is not None
    assert still_waiting, "the frame arrived too soon to measure"
    # If the wait held the GIL this thread would get nothing done at all.
    assert during > 0.3 * baseline, f"{during} iterations while waiting vs {baseline} alone"
