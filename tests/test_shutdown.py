"""Signals close the ring cleanly; a killed engine is noticed; status reads any ring."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import List

import pytest

import v2m
from support.engine import Engines, engine_argv, run_engine
from support.rings import ring_file, wait_for


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_every_reader_and_removes_the_ring(
    ring_name: str, engines: Engines, sig: signal.Signals
) -> None:
    engine = engines.run(ring_name, "tone:440")
    readers = [v2m.Reader(ring_name, wait=10) for _ in range(3)]
    counts: List[int] = [0, 0, 0]

    def drain(i: int) -> None:
        for _ in readers[i]:
            counts[i] += 1

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    wait_for(lambda: min(counts) > 3, what="frames to flow")
    engine.send_signal(sig)
    for t in threads:
        t.join(5)
        assert not t.is_alive(), "a reader's iteration did not end"
    assert engine.wait(5) == 0
    assert not ring_file(ring_name).exists()
    assert all(r.closed for r in readers)
    for r in readers:
        r.close()
    assert not list(Path("/dev/shm").glob(f".v2m-{ring_name}.*")), "no private segment left"


def test_a_finished_source_lingers_then_goes(ring_name: str, engines: Engines) -> None:
    engine = engines.run(ring_name, "noise", duration=0.2, speed="max", linger=1)
    wait_for(lambda: ring_file(ring_name).exists(), what="the ring")
    with v2m.Reader(ring_name, start="oldest", wait=5) as reader:
        frames = list(reader)  # a late reader still drains the closed ring
    assert len(frames) == 7 and frames[-1].padded
    status = json.loads(run_engine("status", "--name", ring_name, "--json").stdout)
    assert status["state"] == "closed" and status["alive"] and status["frames_written"] == 7
    assert engine.wait(10) == 0
    assert not ring_file(ring_name).exists()


def test_a_killed_engine_is_reported_and_its_ring_replaced(
    ring_name: str, engines: Engines
) -> None:
    engine = engines.run(ring_name, "tone:440")
    reader = v2m.Reader(ring_name, wait=10)
    next(reader)
    engine.kill()
    engine.wait()
    started = time.monotonic()
    with pytest.raises(v2m.WriterGone, match="died"):
        for _ in reader:
            pass
    assert time.monotonic() - started < 1.0
    reader.close()

    status = run_engine("status", "--name", ring_name, "--json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["alive"] is False and doc["state"] == "stale" and doc["pid"] == engine.pid
    text = run_engine("status", "--name", ring_name).stdout
    assert f"stale (engine pid {engine.pid} died without closing the ring)" in text
    with pytest.raises(v2m.WriterGone):
        v2m.Reader(ring_name)

    # The next engine under the same name removes the stale ring.
    replacement = engines.run(ring_name, "silence")
    with v2m.Reader(ring_name, wait=10) as fresh:
        assert fresh.info.writer_pid == replacement.pid
        assert fresh.generation != doc["generation"]
    replacement.send_signal(signal.SIGTERM)
    _, stderr = replacement.communicate(timeout=5)
    assert b"removing stale ring" in stderr


def test_a_second_engine_under_a_live_name_is_refused(ring_name: str, engines: Engines) -> None:
    first = engines.run(ring_name, "silence")
    wait_for(lambda: ring_file(ring_name).exists(), what="the ring")
    second = run_engine("run", *engine_argv(ring_name, "silence"))
    assert second.returncode == 2
    assert f"in use by a running engine (pid {first.pid})" in second.stderr
    assert first.poll() is None and ring_file(ring_name).exists()


def test_status_describes_a_running_ring(ring_name: str, engines: Engines) -> None:
    engine = engines.run(ring_name, "tone:440", vad="off")
    with v2m.Reader(ring_name, wait=10) as reader:
        next(reader)
    text = run_engine("status", "--name", ring_name)
    assert text.returncode == 0
    assert "running" in text.stdout and f"pid {engine.pid} alive" in text.stdout
    doc = json.loads(run_engine("status", "--name", ring_name, "--json").stdout)
    assert doc["alive"] and doc["sample_rate"] == 16000 and doc["slots"] == 2048
    assert doc["frames_written"] >= 1 and doc["vad"] == "off" and doc["source"] == "tone:440"
    assert os.path.exists(doc["path"])


def test_a_polling_reader_learns_of_a_dead_engine_too(ring_name: str, engines: Engines) -> None:
    engine = engines.run(ring_name, "tone:440", vad="off")
    reader = v2m.Reader(ring_name, wait=10)
    assert reader.read(timeout=5) is not None
    engine.kill()
    engine.wait()
    started = time.monotonic()
    with pytest.raises(v2m.WriterGone):
        while time.monotonic() - started < 5:
            reader.read(timeout=0)  # never waits: only its liveness checks can tell
            time.sleep(0.01)
    assert time.monotonic() - started < 1.0
    reader.close()
    ring_file(ring_name).unlink()  # the killed engine's stale ring
