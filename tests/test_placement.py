"""Readers sleep each on a CPU of their own (v2m.placement): while two readers of a
ring wait for a frame, each thread may run on one CPU only, not the same one, and once
a read returns the thread may run anywhere again. Checked in /proc, not by timing."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Dict, List, Set

import pytest

import v2m
from support.engine import ENGINE

pytestmark = pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="placing readers needs two CPUs"
)


def _allowed(thread: int) -> Set[int]:
    """The CPUs a thread may run on now, from /proc."""
    status = Path(f"/proc/self/task/{thread}/status").read_text()
    listing = next(line.split(":", 1)[1].strip() for line in status.splitlines()
                   if line.startswith("Cpus_allowed_list"))  # fmt: skip
    cpus: Set[int] = set()
    for part in listing.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


@pytest.mark.parametrize("wake", ["futex", "adaptive"])
def test_waiting_readers_sleep_on_cpus_of_their_own(ring_name: str, wake: str) -> None:
    everywhere = os.sched_getaffinity(0)
    threads: Dict[str, int] = {}
    after: List[Set[int]] = []
    done = threading.Event()
    # Half-second frames: the readers spend nearly all their time waiting.
    with v2m.spawn("silence", ring_name, "off", engine=ENGINE, frame=8000) as engine:

        def read(label: str) -> None:
            threads[label] = threading.get_native_id()
            with engine.reader(wake=wake) as reader:
                while not done.is_set():
                    assert reader.read(timeout=5) is not None
                    after.append(os.sched_getaffinity(0))

        readers = [threading.Thread(target=read, args=(k,)) for k in ("a", "b")]
        for thread in readers:
            thread.start()
        while len(threads) < 2:
            time.sleep(0.01)
        time.sleep(0.6)  # each has read a frame and waits for the next
        sleeping = {label: _allowed(tid) for label, tid in threads.items()}
        done.set()
        for thread in readers:
            thread.join(timeout=10)
    assert all(len(cpus) == 1 for cpus in sleeping.values()), sleeping
    assert sleeping["a"] != sleeping["b"], "two readers, two CPUs"
    assert after and all(mask == everywhere for mask in after), "woken: anywhere again"
