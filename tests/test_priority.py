"""Scheduling priority: the engine raises its DSP thread and the capture callback's
thread where permitted and says so in one line, falls back cleanly where not; a
reader raises its reading thread only when asked. Checked in /proc, not by timing."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import List, Sequence

import pytest

import v2m
from support.engine import ENGINE, engine_argv
from support.pulse_server import PulseServer, tone_file
from support.rings import ring_file

SCHED_FIFO = 1
ROOT_USER = os.geteuid() == 0


def _policies(pid: int) -> List[int]:
    """The scheduling policy of every thread of ``pid`` (field 41 of its stat)."""
    policies = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:
            continue  # the thread ended meanwhile
        policies.append(int(stat.rsplit(")", 1)[1].split()[38]) & 0xFF)
    return policies


def _run(
    ring_name: str, *flags: str, prefix: Sequence[str] = (), env: dict[str, str] | None = None
) -> tuple[List[int], str]:
    """Starts an engine, reads a frame, notes its threads' policies, stops it."""
    engine = subprocess.Popen(
        [*prefix, str(ENGINE), "run", "--name", ring_name, "--vad", "energy", *flags],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        with v2m.Reader(ring_name, wait=10) as reader:
            for _ in range(3):
                assert reader.read(timeout=10) is not None
            policies = _policies(engine.pid)
    finally:
        engine.terminate()
        _, stderr = engine.communicate(timeout=10)
    assert engine.returncode == 0, stderr
    assert not ring_file(ring_name).exists()
    return policies, stderr


def _priority_lines(stderr: str) -> List[str]:
    return [line for line in stderr.splitlines() if "priority:" in line]


def test_a_paced_engine_raises_its_dsp_thread_and_says_so_once(ring_name: str) -> None:
    policies, stderr = _run(ring_name, "--source", "tone:440")
    (line,) = _priority_lines(stderr)
    if ROOT_USER:
        assert "DSP thread SCHED_FIFO 10" in line, line
        assert SCHED_FIFO in policies
    else:  # an ordinary user without an rtprio limit: told how to permit it
        assert "SCHED_FIFO" in line or "limits.conf" in line, line


@pytest.mark.skipif(not shutil.which("setpriv") or not ROOT_USER, reason="needs setpriv as root")
def test_without_permission_the_engine_runs_as_before_and_says_how_to_permit_it(
    ring_name: str,
) -> None:
    # Root without CAP_SYS_NICE is refused real-time and nice alike, as a user is.
    drop = ["setpriv", "--bounding-set=-sys_nice", "--inh-caps=-sys_nice"]
    policies, stderr = _run(ring_name, "--source", "tone:440", prefix=drop)
    (line,) = _priority_lines(stderr)
    assert "normal priority" in line and "limits.conf" in line and "--priority normal" in line
    assert SCHED_FIFO not in policies


def test_priority_normal_and_replays_at_max_speed_leave_the_scheduler_alone(
    ring_name: str,
) -> None:
    policies, stderr = _run(ring_name, "--source", "tone:440", "--priority", "normal")
    assert not _priority_lines(stderr) and SCHED_FIFO not in policies
    fast = subprocess.run(
        [str(ENGINE), "run", *engine_argv(ring_name, "tone:440", vad="energy")]
        + ["--speed", "max", "--duration", "2", "--linger", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert fast.returncode == 0 and not _priority_lines(fast.stderr), fast.stderr


def test_a_bad_priority_is_refused(ring_name: str) -> None:
    result = subprocess.run(
        [str(ENGINE), "run", "--name", ring_name, "--priority", "highest"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 2 and "realtime or normal" in result.stderr
    assert not ring_file(ring_name).exists()


@pytest.mark.skipif(not PulseServer.available(), reason="needs the private PulseAudio server")
def test_the_capture_callback_thread_is_raised_on_its_first_buffer(
    tmp_path: Path, ring_name: str
) -> None:
    pulse = PulseServer(tmp_path / "runtime", tone_file(tmp_path / "tone.raw", 30))
    pulse.start()
    try:
        policies, stderr = _run(ring_name, "--source", "device:pulse", env=pulse.env)
    finally:
        pulse.stop()
    (line,) = _priority_lines(stderr)
    assert "capture callback" in line, line
    if ROOT_USER:
        assert "capture callback SCHED_FIFO 11" in line, line
        assert policies.count(SCHED_FIFO) >= 2, "the DSP thread and the callback's"


def test_a_reader_raises_its_reading_thread_only_when_asked(ring_name: str) -> None:
    with v2m.spawn("tone:440", ring_name, "energy", engine=ENGINE, priority="normal") as engine:
        got: List[object] = []

        def read(priority: bool) -> None:
            with engine.reader(priority=priority) as reader:
                assert reader.read(timeout=10) is not None
                got.append(reader.priority_result)
                got.append(os.sched_getscheduler(0))

        for asked in (False, True):
            thread = threading.Thread(target=read, args=(asked,))
            thread.start()
            thread.join(timeout=30)
    plain_result, plain_policy, raised_result, raised_policy = got
    assert plain_result is None and plain_policy == os.SCHED_OTHER
    assert isinstance(raised_result, v2m.Priority)
    if ROOT_USER:
        assert raised_result.policy == "realtime" and raised_policy & 0xFF == os.SCHED_FIFO
    assert os.sched_getscheduler(0) == os.SCHED_OTHER, "only the reading thread was raised"


def test_the_gil_switch_interval_helper_sets_and_returns() -> None:
    import sys

    old = v2m.shorten_gil_switch_interval(0.001)
    try:
        assert sys.getswitchinterval() == pytest.approx(0.001)
    finally:
        sys.setswitchinterval(old)


def test_a_raised_reader_puts_its_thread_back_when_the_stream_ends(ring_name: str) -> None:
    """What the thread does after the stream must not run at real-time priority: it
    would hold a CPU ahead of every other real-time reader (36-141 ms stalls)."""
    seen: List[int] = []

    def read() -> None:
        with v2m.spawn("tone:440", ring_name, "energy", engine=ENGINE, duration=1.0) as engine:
            reader = engine.reader(priority=True)
            for _ in reader:
                seen.append(os.sched_getscheduler(0))
            seen.append(os.sched_getscheduler(0))  # iteration over: the stream ended
            reader.close()
            with engine.reader(priority=True) as again:  # and closing puts it back too
                again.read(timeout=0)
            seen.append(os.sched_getscheduler(0))

    thread = threading.Thread(target=read)
    thread.start()
    thread.join(timeout=60)
    if ROOT_USER:
        assert seen[0] & 0xFF == os.SCHED_FIFO, "raised while reading"
    assert seen[-2] == os.SCHED_OTHER and seen[-1] == os.SCHED_OTHER, seen
