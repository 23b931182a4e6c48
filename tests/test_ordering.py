"""The reader's memory ordering (LAYOUT.md §6): program order on x86-64, membarrier(2)
fences on ARM64, in exactly the places the loom model (``layout/tests/loom_seqlock.rs``,
``read_like_python``) proves sufficient. ``V2M_READER_FENCES=always`` runs the ARM64
reader's path on this x86-64 machine; ``make test-arm64`` runs it on ARM64 under qemu."""

from __future__ import annotations

import errno
import os
from typing import Any, Iterator, List

import numpy as np
import pytest

import v2m
from support.python_writer import PythonWriter
from v2m import ordering, syscalls
from v2m.mapping import RingMapping


@pytest.fixture
def writer(ring_name: str) -> Iterator[PythonWriter]:
    w = PythonWriter(ring_name, slots=4, frame=8)
    yield w
    w.remove()


@pytest.fixture
def fenced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ordering.FENCES_ENV, "always")


def test_other_architectures_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(syscalls, "MACHINE", "riscv64")
    with pytest.raises(v2m.UnsupportedPlatform, match="x86_64 and aarch64 Linux, not 'riscv64'"):
        v2m.Reader("anything")


def test_a_nonsense_fences_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ordering.FENCES_ENV, "sometimes")
    with pytest.raises(ValueError, match="V2M_READER_FENCES must be 'auto' or 'always'"):
        v2m.Reader("anything")


def test_a_kernel_without_membarrier_is_refused_where_fences_are_needed(
    fenced: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ordering, "_membarrier", lambda command: -errno.ENOSYS)
    with pytest.raises(v2m.UnsupportedPlatform, match="membarrier.*Linux 4.14"):
        v2m.Reader("anything")


@pytest.mark.skipif(syscalls.MACHINE != "x86_64", reason="x86-64's fast path")
def test_x86_64_readers_do_not_fence(
    writer: PythonWriter, ring_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ordering.FENCES_ENV, raising=False)
    writer.publish(0)
    with v2m.Reader(ring_name, start="oldest") as reader:
        assert reader._slots.fence is ordering.no_fence
        frame = reader.read(timeout=0)
        assert frame is not None and frame._fence is ordering.no_fence


def test_fenced_readers_fence_with_membarrier(
    fenced: None, writer: PythonWriter, ring_name: str
) -> None:
    with v2m.Reader(ring_name) as reader:
        assert reader._slots.fence is not ordering.no_fence
        reader._slots.fence()  # a real membarrier(2): returns, raises nothing


class _TracedStamps:
    """A slot-stamp column that logs each load; ``stale`` loads first show an older stamp
    (what a weakly ordered CPU may load before the ``seq`` that published the frame)."""

    def __init__(self, stamps: np.ndarray, trace: List[str], stale: int = 0) -> None:
        self._stamps, self._trace, self._stale = stamps, trace, stale

    def __getitem__(self, slot: int) -> Any:
        self._trace.append("stamp")
        if self._stale:
            self._stale -= 1
            return np.uint64(int(self._stamps[slot]) - 2)
        return self._stamps[slot]


def _traced_reader(
    ring_name: str, monkeypatch: pytest.MonkeyPatch, stale: int = 0
) -> tuple[v2m.Reader, List[str]]:
    """A reader whose stamp loads, metadata copies and fences go into a list, in order."""
    trace: List[str] = []
    reader = v2m.Reader(ring_name, start="oldest", copy=True)
    real_fence = reader._slots.fence

    def traced_fence() -> None:
        trace.append("fence")
        real_fence()

    real_slot_meta = RingMapping.slot_meta

    def traced_slot_meta(self: RingMapping, slot: int) -> object:
        trace.append("copy")
        return real_slot_meta(self, slot)

    monkeypatch.setattr(RingMapping, "slot_meta", traced_slot_meta)
    ring = reader._mapped()
    ring.stamps = ring.slot_stamps = _TracedStamps(ring.stamps, trace, stale)  # type: ignore
    reader._slots.fence = traced_fence
    return reader, trace


def test_a_read_fences_between_the_stamp_the_copy_and_the_stamp_again(
    fenced: None, writer: PythonWriter, ring_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer.publish(0)
    reader, trace = _traced_reader(ring_name, monkeypatch)
    with reader:
        frame = reader.read(timeout=0)
        assert frame is not None and frame.index == 0
        assert trace == ["stamp", "fence", "copy", "fence", "stamp"]
        trace.clear()
        assert frame.valid()
        assert trace == ["fence", "stamp"], "valid() fences before its stamp load"


def test_a_stamp_seen_before_its_publish_is_looked_at_again_not_counted_lost(
    fenced: None, writer: PythonWriter, ring_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer.publish(0)
    reader, trace = _traced_reader(ring_name, monkeypatch, stale=1)
    with reader:
        frame = reader.read(timeout=0)
        assert frame is not None and frame.index == 0 and reader.dropped == 0
        assert np.array_equal(frame.samples, writer.content(0))
        assert trace == ["stamp", "fence", "stamp", "fence", "copy", "fence", "stamp"]


def test_a_forked_child_fences_too(fenced: None, writer: PythonWriter, ring_name: str) -> None:
    writer.publish(0)
    with v2m.Reader(ring_name, start="oldest") as reader:
        pid = os.fork()
        if pid == 0:  # the child: a membarrier registration is the parent's, not ours
            try:
                frame = reader.read(timeout=0)
                os._exit(0 if frame is not None and frame.valid() else 1)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
