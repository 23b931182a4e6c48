"""A reader never accepts a torn frame: each way a slot can change under a reader is
forced deterministically with the Python test writer, and each is asserted."""

from __future__ import annotations

from typing import Iterator, List

import numpy as np
import pytest

import v2m
from support.python_writer import PythonWriter
from v2m.mapping import RingMapping


@pytest.fixture
def writer(ring_name: str) -> Iterator[PythonWriter]:
    w = PythonWriter(ring_name, slots=4, frame=8)
    yield w
    w.remove()


def _drain(reader: v2m.Reader) -> List[v2m.Frame]:
    frames = []
    while (frame := reader.read(timeout=0)) is not None:
        frames.append(frame)
    return frames


@pytest.mark.parametrize("copy", [False, True], ids=["view", "copy"])
def test_a_half_written_slot_is_dropped_not_returned(
    writer: PythonWriter, ring_name: str, copy: bool
) -> None:
    for i in range(6):
        writer.publish(i)
    # Frame 6 is being written over frame 2: half of the slot's samples are new.
    writer.begin(6)
    torn = writer.content(2).copy()
    torn[:4] = writer.content(6)[:4]
    writer.write(6, torn)
    with v2m.Reader(ring_name, start="oldest", copy=copy) as reader:
        assert reader.start_index == 2
        frames = _drain(reader)
        assert [f.index for f in frames] == [3, 4, 5]
        for f in frames:
            assert np.array_equal(f.samples, writer.content(f.index))
        assert reader.dropped == 1, "the half-written frame is counted lost"


@pytest.mark.parametrize("copy", [False, True], ids=["view", "copy"])
def test_a_slot_rewritten_during_the_copy_is_dropped(
    writer: PythonWriter, ring_name: str, copy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(4):
        writer.publish(i)
    real_slot_meta = RingMapping.slot_meta
    calls: List[int] = []

    def writer_strikes_mid_copy(self: RingMapping, slot: int) -> object:
        # The reader has checked the stamp and is copying: the writer laps it now.
        meta = real_slot_meta(self, slot)
        if not calls:
            writer.begin(4)
            writer.write(4, writer.content(4))
        calls.append(slot)
        return meta

    monkeypatch.setattr(RingMapping, "slot_meta", writer_strikes_mid_copy)
    with v2m.Reader(ring_name, start="oldest", copy=copy) as reader:
        frames = _drain(reader)
    assert calls[0] == 0, "the reader was copying frame 0 when the writer struck"
    assert [f.index for f in frames] == [1, 2, 3], "frame 0 changed during the copy: dropped"
    for f in frames:
        assert np.array_equal(f.samples, writer.content(f.index))


def test_a_view_overwritten_after_use_is_reported_invalid(
    writer: PythonWriter, ring_name: str
) -> None:
    for i in range(4):
        writer.publish(i)
    with v2m.Reader(ring_name, start="oldest") as reader:
        first, second = reader.read(timeout=0), reader.read(timeout=0)
        assert first is not None and second is not None
        assert first.valid() and second.valid()
        assert np.array_equal(first.samples, writer.content(0))
        assert reader.frames_valid(0, 2)
        writer.begin(4)  # the writer starts lapping slot 0 ...
        assert not first.valid(), "a view whose slot is being rewritten is invalid"
        writer.write(4, writer.content(4))
        writer.finish(4)
        writer.announce(4)  # ... and completes frame 4 there
        assert not first.valid(), "the view now shows frame 4's samples"
        assert np.array_equal(first.samples, writer.content(4))
        assert second.valid(), "frame 1's slot was not touched"
        assert not reader.frames_valid(0, 2) and reader.frames_valid(1, 1)
        with pytest.raises(ValueError, match="not all in the ring"):
            reader.window(0, 2)


def test_a_lapped_reader_skips_to_the_oldest_frame_and_counts_the_rest(
    writer: PythonWriter, ring_name: str
) -> None:
    writer.publish(0)
    with v2m.Reader(ring_name, start="oldest") as reader:
        for i in range(1, 11):
            writer.publish(i)  # the reader is 10 frames behind a 4-slot ring
        frames = _drain(reader)
        assert [f.index for f in frames] == [7, 8, 9, 10]
        assert reader.dropped == 7
