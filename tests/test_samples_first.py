"""Samples before the VAD (layout 1.2): a reader opened with ``wait_for_vad=False``
gets each frame's samples as soon as they are published, a default reader only whole
frames, and neither ever a torn slot or a frame whose VAD field is unwritten. The
writer stops at chosen protocol steps (tests/python_writer.py), so nothing here
depends on timing; the last test runs the real engine with Silero."""

from __future__ import annotations

import math
import struct
import threading
from typing import Iterator

import numpy as np
import pytest

import v2m
from support.engine import ENGINE
from support.python_writer import PythonWriter
from v2m import layout


@pytest.fixture
def writer(ring_name: str) -> Iterator[PythonWriter]:
    w = PythonWriter(ring_name, slots=4, frame=8)
    yield w
    w.remove()


def test_samples_are_handed_out_before_the_vad_and_whole_frames_after(
    writer: PythonWriter, ring_name: str
) -> None:
    early = v2m.Reader(ring_name, wait_for_vad=False)
    whole = v2m.Reader(ring_name)
    try:
        assert early.samples_first and not whole.samples_first
        writer.begin(0)
        writer.write(0, writer.content(0))
        writer.finish_samples(0)
        writer.announce_samples(0)  # the VAD is still running
        frame = early.read(timeout=0)
        assert frame is not None and frame.index == 0
        assert np.array_equal(frame.samples, writer.content(0))
        assert frame.vad_pending and math.isnan(frame.vad_prob) and not frame.speech
        assert frame.samples_ns > 0 and frame.publish_ns == 0 and frame.valid()
        assert whole.read(timeout=0) is None, "no whole frame before its VAD result"
        writer.finish_vad(0, vad_prob=0.75)
        writer.announce(0)
        complete = whole.read(timeout=0)
        assert complete is not None and complete.index == 0 and not complete.vad_pending
        assert (complete.vad_prob, complete.speech) == (0.75, True)
        assert complete.samples_ns == frame.samples_ns < complete.publish_ns
        assert early.read(timeout=0) is None, "each frame once"
    finally:
        early.close()
        whole.close()


def test_a_waiting_samples_reader_is_woken_by_the_samples(
    writer: PythonWriter, ring_name: str
) -> None:
    with v2m.Reader(ring_name, wait_for_vad=False) as reader:
        got: list[v2m.Frame | None] = []
        waiter = threading.Thread(target=lambda: got.append(reader.read(timeout=10)))
        waiter.start()
        writer.begin(0)
        writer.write(0, writer.content(0))
        writer.finish_samples(0)
        writer.announce_samples(0)  # and the VAD never finishes
        waiter.join(timeout=10)
        assert not waiter.is_alive()
        assert got[0] is not None and got[0].index == 0


@pytest.mark.parametrize("copy", [False, True], ids=["view", "copy"])
def test_half_written_samples_are_dropped_not_returned(
    writer: PythonWriter, ring_name: str, copy: bool
) -> None:
    for i in range(6):
        writer.publish(i)
    writer.begin(6)  # frame 6 is being written over frame 2
    torn = writer.content(2).copy()
    torn[:4] = writer.content(6)[:4]
    writer.write(6, torn)
    with v2m.Reader(ring_name, start="oldest", copy=copy, wait_for_vad=False) as reader:
        frames = []
        while (frame := reader.read(timeout=0)) is not None:
            frames.append(frame)
        assert [f.index for f in frames] == [3, 4, 5]
        assert reader.dropped == 1


def test_a_view_handed_out_early_reports_its_overwrite(
    writer: PythonWriter, ring_name: str
) -> None:
    with v2m.Reader(ring_name, start="oldest", wait_for_vad=False) as reader:
        writer.publish(0)
        frame = reader.read(timeout=0)
        assert frame is not None and frame.valid()
        for i in range(1, 4):
            writer.publish(i)
        writer.begin(4)  # lapping slot 0
        assert not frame.valid()


def test_speech_readers_refuse_a_reader_that_does_not_wait_for_the_vad(
    writer: PythonWriter, ring_name: str
) -> None:
    with v2m.Reader(ring_name, wait_for_vad=False) as reader:
        with pytest.raises(ValueError, match="wait_for_vad=True"):
            reader.utterances()
        with pytest.raises(ValueError, match="wait_for_vad=True"):
            reader.vad_events()


def test_a_ring_of_an_older_engine_gives_whole_frames(writer: PythonWriter, ring_name: str) -> None:
    struct.pack_into("<H", writer.map, layout.HEADER_FIELDS["version_minor"][0], 1)
    with v2m.Reader(ring_name, start="oldest", wait_for_vad=False) as reader:
        assert not reader.samples_first
        writer.publish(0, vad_prob=0.25)
        frame = reader.read(timeout=0)
        assert frame is not None and frame.vad_prob == 0.25 and not frame.vad_pending


def test_the_engine_publishes_every_frame_twice_in_order_with_silero(ring_name: str) -> None:
    """Both readers of a real engine get every frame, bit-identical; the samples
    were published before the whole frame."""
    early_frames, whole_frames = [], []
    with v2m.spawn(
        "tone:440",
        ring_name,
        "silero",
        engine=ENGINE,
        speed="max",
        duration=4.0,
        slots=16,
        pace_to_readers=True,
    ):
        early = v2m.Reader(ring_name, start="oldest", wait_for_vad=False, pace=True)
        whole = v2m.Reader(ring_name, start="oldest", pace=True)
        try:
            while True:
                a, b = early.read(timeout=10), whole.read(timeout=10)
                if a is None or b is None:
                    assert a is None and b is None and early.ended and whole.ended
                    break
                early_frames.append((a.index, a.samples.copy(), a.samples_ns))
                whole_frames.append((b.index, b.samples.copy(), b.samples_ns, b.publish_ns))
        finally:
            early.close()
            whole.close()
    assert len(early_frames) == len(whole_frames) > 50
    for (i, samples, samples_ns), (j, whole_samples, whole_ns, publish_ns) in zip(
        early_frames, whole_frames
    ):
        assert i == j and np.array_equal(samples, whole_samples)
        assert samples_ns == whole_ns and 0 < samples_ns <= publish_ns
