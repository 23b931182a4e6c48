"""Capture devices that come and go, on private sound servers: a device that appears
only after the engine started (`--wait-for-device`, the ring open meanwhile), the
system's default source changing under `--source default` (followed, the frame after
the change flagged SOURCE_RESTART), and a device that disappears and comes back
under another index (found again by name)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt
import pytest

import v2m
from support.engine import ENGINE, live_engine, stop_live_engine
from support.feed_match import glitches
from support.pipewire_server import SINK, PipeWireServer, wav_file
from support.pulse_server import PulseServer
from support.rings import ring_file

RATE = 16000
NEEDS_PULSE = pytest.mark.skipif(not PulseServer.available(), reason="needs pulseaudio")
NEEDS_PIPEWIRE = pytest.mark.skipif(not PipeWireServer.available(), reason="needs pipewire")
QUIET = "v2mquiet"
"""A second sink nothing plays into: its monitor is digital silence."""


def _feed(seconds: float = 20) -> npt.NDArray[np.float64]:
    return np.random.default_rng(5).integers(-9000, 9000, int(seconds * RATE)) / 32768.0


def _raw(path: Path, feed: npt.NDArray[np.float64]) -> Path:
    np.round(feed * 32768).astype("<i2").tofile(path)
    return path


def _frames(reader: v2m.Reader, count: int, timeout: float = 10) -> List[v2m.Frame]:
    frames = []
    for _ in range(count):
        frame = reader.read(timeout=timeout)
        assert frame is not None, "the engine stopped publishing"
        frames.append(frame)
    return frames


def _until(
    reader: v2m.Reader, condition: Callable[[v2m.Frame], bool], most: int = 400
) -> Optional[v2m.Frame]:
    """The first frame (of at most `most`) for which `condition` holds."""
    for _ in range(most):
        frame = reader.read(timeout=10)
        if frame is None:
            return None
        if condition(frame):
            return frame
    return None


@NEEDS_PULSE
def test_a_device_that_appears_later_is_waited_for(tmp_path: Path, ring_name: str) -> None:
    feed = _feed()
    server = PulseServer(tmp_path / "runtime", _raw(tmp_path / "feed.raw", feed))
    engine = live_engine(
        ring_name,
        ["--host", "pulseaudio", "--source", f"device:{SINK}.monitor", "--wait-for-device"],
        server.env,
    )
    try:
        with v2m.Reader(ring_name, wait=10, copy=True) as reader:
            # The ring is there before the device: readers can attach and wait.
            assert reader.read(timeout=1.0) is None and engine.poll() is None
            server.start()
            frames = _frames(reader, 3 + RATE // 512)[3:]
    finally:
        try:
            stderr = stop_live_engine(engine)
        finally:
            server.stop()
    assert "waiting for capture device" in stderr and "the ring opens meanwhile" in stderr
    assert f"{SINK}.monitor)" in stderr, stderr
    assert not any(f.source_restart for f in frames), "the first stream is a start"
    not_feed, jumps, _ = glitches(np.concatenate([f.samples for f in frames]), feed)
    assert len(not_feed) <= 1 and len(jumps) <= 1, (not_feed, jumps)
    assert not ring_file(ring_name).exists()


def test_waiting_is_for_devices_only(ring_name: str) -> None:
    done = subprocess.run(
        [str(ENGINE), "run", "--name", ring_name, "--source", "tone:440", "--wait-for-device"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "--wait-for-device waits for a capture device" in done.stderr
    assert not ring_file(ring_name).exists()


def _pulse_with_quiet_sink(tmp: Path, feed: npt.NDArray[np.float64]) -> PulseServer:
    server = PulseServer(tmp / "runtime", _raw(tmp / "feed.raw", feed))
    server.start()
    server.add_sink(QUIET)
    server.set_default_source(f"{SINK}.monitor")
    return server


def _pipewire_with_quiet_sink(tmp: Path, feed: npt.NDArray[np.float64]) -> PipeWireServer:
    server = PipeWireServer(
        tmp / "runtime", wav_file(tmp / "feed.wav", feed, RATE), RATE, more_sinks=[QUIET]
    )
    server.start()
    return server


Server = Union[PulseServer, PipeWireServer]
DEFAULT_CASES = [
    pytest.param(
        (_pulse_with_quiet_sink, f"{QUIET}.monitor", "pulseaudio"),
        marks=NEEDS_PULSE,
        id="pulseaudio",
    ),
    pytest.param(
        (_pipewire_with_quiet_sink, QUIET, "pipewire"), marks=NEEDS_PIPEWIRE, id="pipewire"
    ),
]


@pytest.mark.parametrize("case", DEFAULT_CASES)
def test_a_change_of_the_default_source_is_followed(
    case: Tuple[Callable[[Path, npt.NDArray[np.float64]], Server], str, str],
    tmp_path: Path,
    ring_name: str,
) -> None:
    make_server, quiet_source, host = case
    server = make_server(tmp_path, _feed())
    engine = live_engine(ring_name, ["--host", host, "--source", "default"], server.env)
    try:
        with v2m.Reader(ring_name, wait=10, copy=True) as reader:
            before = _frames(reader, 10)[3:]
            assert all(np.abs(f.samples).max() > 0.01 for f in before), "the fed sink first"
            server.set_default_source(quiet_source)
            restart = _until(reader, lambda f: f.source_restart)
            assert restart is not None, "no frame said the source changed"
            assert restart.discontinuity
            after = _frames(reader, 12)[2:]  # past what was queued before the switch
    finally:
        try:
            stderr = stop_live_engine(engine)
        finally:
            server.stop()
    assert all(np.abs(f.samples).max() == 0 for f in after), "then the silent one"
    assert "default source" in stderr, stderr


@NEEDS_PULSE
def test_a_device_that_disappears_is_opened_again_when_it_returns(
    tmp_path: Path, ring_name: str
) -> None:
    """A USB microphone unplugged and plugged back: the server gives its source a new
    index (ALSA, a new card number) and, meanwhile, moves the engine's stream to
    another source without a word; the engine notices, waits for the device and finds
    it again by name."""
    feed = _feed()
    server = PulseServer(tmp_path / "runtime", _raw(tmp_path / "silence.raw", 0 * feed))
    server.start()
    raw = _raw(tmp_path / "feed.raw", feed)
    module = server.add_sink("v2musb")
    server.play("v2musb", raw)
    engine = live_engine(
        ring_name, ["--host", "pulseaudio", "--source", "device:v2musb.monitor"], server.env
    )
    try:
        with v2m.Reader(ring_name, wait=10, copy=True) as reader:
            _frames(reader, 5)
            server.remove_module(module)  # unplugged
            time.sleep(1.5)
            server.add_sink("v2musb")  # and plugged back in a moment later
            server.play("v2musb", raw)
            restart = _until(reader, lambda f: f.source_restart)
            assert (
                restart is not None
            ), "no frame said the source started over: " + stop_live_engine(engine)
            after = _frames(reader, 10)
    finally:
        try:
            stderr = stop_live_engine(engine)
        finally:
            server.stop()
    assert "reopening" in stderr and stderr.count("capturing from") == 2, stderr
    assert all(np.abs(f.samples).max() > 0.01 for f in after[3:]), "the device's audio again"
