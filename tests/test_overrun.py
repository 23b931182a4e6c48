"""A reader slower than the writer loses frames but never sees a torn one."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import v2m
from support.engine import Engines
from support.python_writer import PythonWriter
from support.wav_files import noise_signal, write_wav

FRAME = 512


def _overrun(tmp_path: Path, ring_name: str, engines: Engines, copy: bool) -> None:
    source = noise_signal(16.0, seed=7)
    n_frames = len(source) // FRAME
    expected = source[: n_frames * FRAME].reshape(n_frames, FRAME)
    wav = tmp_path / "noise.wav"
    write_wav(wav, source[: n_frames * FRAME], 16000)
    # 16 slots at 40x real time: the ring holds 13 ms, and the reader naps 20 ms.
    engines.run(ring_name, f"file:{wav}", slots=16, speed=40, linger=5, vad="off")
    received = torn_after_use = 0
    with v2m.Reader(ring_name, start="oldest", wait=10, copy=copy) as reader:
        first = reader.start_index
        for frame in reader:
            matches = np.array_equal(frame.samples, expected[frame.index])
            if copy:
                assert matches, f"frame {frame.index} differs from the source"
                received += 1
            elif frame.valid():
                # Checked after use: a frame still valid was read untorn.
                assert matches, f"frame {frame.index} was valid but differs from the source"
                received += 1
            else:
                torn_after_use += 1
            if frame.index % 10 == 0:
                time.sleep(0.02)
        written = reader.write_seq
        dropped = reader.dropped
    assert written == n_frames
    assert dropped > 0, "the reader was slow enough to lose frames"
    assert received + torn_after_use + dropped == written - first


def test_overrun_with_private_copies(tmp_path: Path, ring_name: str, engines: Engines) -> None:
    _overrun(tmp_path, ring_name, engines, copy=True)


def test_overrun_with_zero_copy_views(tmp_path: Path, ring_name: str, engines: Engines) -> None:
    _overrun(tmp_path, ring_name, engines, copy=False)


def test_each_loss_warning_counts_the_frames_lost_since_the_last(
    ring_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    writer = PythonWriter(ring_name, slots=16)
    try:
        with v2m.Reader(ring_name, start="oldest") as reader:
            for index in range(20):  # lapped by 4 before the first read
                writer.publish(index)
            while reader.read(timeout=0) is not None:
                pass
            assert reader.read(timeout=0.3) is None  # waited: the engine's liveness checked
            time.sleep(1.1)  # past the once-a-second limit of the warnings
            for index in range(20, 60):  # lapped by 24 more
                writer.publish(index)
            while reader.read(timeout=0) is not None:
                pass
            assert reader.dropped == 28
    finally:
        writer.remove()
    lost = [r.getMessage() for r in caplog.records if "frames lost" in r.getMessage()]
    assert len(lost) == 2, lost
    assert "4 frames lost (4 in all)" in lost[0] and "24 frames lost (28 in all)" in lost[1]
