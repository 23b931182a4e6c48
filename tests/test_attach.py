"""Attaching: never a half-written header, never a stale ring taken for a live one."""

from __future__ import annotations

import os
import struct
import subprocess
import threading

import v2m
from support.engine import Engines
from support.python_writer import PythonWriter, release_write_lock
from v2m import layout


def test_a_reader_racing_the_engine_start_never_sees_a_partial_header(
    ring_name: str, engines: Engines
) -> None:
    for _ in range(10):
        engine = engines.run(ring_name, "silence", linger=0)
        # Attach as early as possible: polling starts before the segment exists.
        with v2m.Reader(ring_name, wait=10) as reader:
            assert reader.info.writer_pid == engine.pid
            assert reader.slots == 2048
        engine.terminate()
        assert engine.wait(5) == 0


def test_a_stale_ring_being_removed_is_not_taken_for_a_live_one(ring_name: str) -> None:
    # A layout-1.2 ring whose engine is gone, flock-ed by a 1.2 engine that is removing
    # it (played by this process: it holds the flock, waits a moment, unlinks, and
    # publishes its own). Since 1.3 removers never lock the ring they remove.
    stale = PythonWriter(ring_name)
    release_write_lock(stale.fd)
    struct.pack_into("<H", stale.map, layout.HEADER_FIELDS["version_minor"][0], 2)
    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()
    struct.pack_into("<I", stale.map, layout.HEADER_FIELDS["writer_pid"][0], dead_pid.pid)
    replaced = threading.Event()
    fresh: list[PythonWriter] = []

    def replace() -> None:
        replaced.wait(0.1)
        stale.remove()
        fresh.append(PythonWriter(ring_name))

    remover = threading.Thread(target=replace)
    remover.start()
    try:
        with v2m.Reader(ring_name, wait=5) as reader:
            remover.join()
            assert reader.info.writer_pid == os.getpid(), "attached to the stale ring"
    finally:
        remover.join()
        fresh[0].remove()
