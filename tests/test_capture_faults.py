"""Capture faults on a real-time device: the device goes away and comes back."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

import v2m
from support.engine import ENGINE, engine_argv
from support.pulse_server import PulseServer, tone_file
from support.rings import ring_file

pytestmark = pytest.mark.skipif(
    not PulseServer.available(),
    reason="pulseaudio, pactl and pacat are needed (make test installs them)",
)


def test_a_vanished_device_is_reopened_and_the_gap_marked(tmp_path: Path, ring_name: str) -> None:
    pulse = PulseServer(tmp_path / "runtime", tone_file(tmp_path / "tone.raw", 120))
    pulse.start()
    engine = subprocess.Popen(
        [str(ENGINE), "run", *engine_argv(ring_name, "device:pulse")],
        env=pulse.env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with v2m.Reader(ring_name, wait=10) as reader:
            first = reader.read(timeout=10)
            assert first is not None and first.capture_ns <= first.publish_ns
            for _ in range(5):
                frame = reader.read(timeout=5)
                assert frame is not None and not frame.discontinuity
            assert 0.1 < frame.rms < 0.4, "the tone arrives"

            pulse.stop()  # the device vanishes under the running stream
            time.sleep(1.0)
            assert engine.poll() is None and not reader.closed, "the ring stays open during the gap"
            pulse.start()

            deadline = time.monotonic() + 20
            restart = None
            while restart is None and time.monotonic() < deadline:
                frame = reader.read(timeout=1)
                if frame is not None and frame.flags & v2m.FLAG_SOURCE_RESTART:
                    restart = frame
            assert restart is not None, "no frame marked the restart"
            assert restart.discontinuity
            assert reader.stats()["source_restarts"] >= 1
            after = reader.read(timeout=5)
            assert after is not None and after.rms > 0.1, "audio flows again"
    finally:
        engine.send_signal(signal.SIGTERM)
        _, stderr = engine.communicate(timeout=15)
        pulse.stop()
    assert engine.returncode == 0
    assert "reopening" in stderr and "reopened" in stderr
    assert not ring_file(ring_name).exists()


def test_an_engine_that_was_not_running_does_not_take_its_device_for_dead(
    tmp_path: Path, ring_name: str
) -> None:
    """A stopped process (or a stalled machine) sees no audio for seconds, then
    plenty: the stall timeout counts the device's silence, not the engine's."""
    pulse = PulseServer(tmp_path / "runtime", tone_file(tmp_path / "tone.raw", 120))
    pulse.start()
    engine = subprocess.Popen(
        [str(ENGINE), "run", *engine_argv(ring_name, "device:pulse", vad="off")],
        env=pulse.env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with v2m.Reader(ring_name, wait=10) as reader:
            assert reader.read(timeout=10) is not None
            engine.send_signal(signal.SIGSTOP)
            time.sleep(3)
            engine.send_signal(signal.SIGCONT)
            for _ in range(30):
                frame = reader.read(timeout=5)
                assert frame is not None
                assert not frame.flags & v2m.FLAG_SOURCE_RESTART, "the device was reopened"
            assert reader.stats()["source_restarts"] == 0
    finally:
        engine.send_signal(signal.SIGCONT)
        engine.send_signal(signal.SIGTERM)
        _, stderr = engine.communicate(timeout=15)
        pulse.stop()
    assert engine.returncode == 0
    assert "reopening" not in stderr
