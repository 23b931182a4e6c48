"""A ring writer in Python, for tests that need the writer to stop at a chosen step.

It creates a real segment (``/dev/shm/v2m-NAME``, layout as LAYOUT.md specifies),
holds the liveness lock like an engine, and publishes frames one protocol step at a
time: a test can leave a slot half-written, rewrite it while a reader is copying it,
or hand the reader frames with exactly the VAD probabilities and flags it needs.
Single-threaded and deterministic: nothing here depends on timing.
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import os
import struct
from typing import Optional, Sequence

import numpy as np

from support.header_corpus import valid_header
from v2m import layout, syscalls

_FUTEX_WAKE = 1


def hold_write_lock(fd: int) -> None:
    """Takes the writer's liveness lock (LAYOUT.md §1) on ``fd``, open read-write."""
    lock = struct.pack("hh4xqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, lock)


def release_write_lock(fd: int) -> None:
    """Lets go of :func:`hold_write_lock`'s lock."""
    fcntl.fcntl(
        fd, fcntl.F_OFD_SETLK, struct.pack("hh4xqqi4x", fcntl.F_UNLCK, os.SEEK_SET, 0, 0, 0)
    )


class PythonWriter:
    """One ring of ``slots`` frames of ``frame`` samples at ``rate``, owned by this process."""

    def __init__(
        self,
        name: str,
        slots: int = 16,
        frame: int = 512,
        rate: int = 16000,
        threshold: float = 0.5,
        neg_threshold: float = 0.35,
        min_silence_ms: int = 100,
    ) -> None:
        self.path = f"/dev/shm/v2m-{name}"
        self.frame, self.slots, self.rate = frame, slots, rate
        header, size = valid_header(rate, 1, frame, slots)
        for field, value in (("vad_threshold", threshold), ("vad_neg_threshold", neg_threshold)):
            struct.pack_into("<f", header, layout.HEADER_FIELDS[field][0], value)
        offset = layout.HEADER_FIELDS["vad_min_silence_ms"][0]
        struct.pack_into("<I", header, offset, min_silence_ms)  # the engine's default
        struct.pack_into("<I", header, layout.HEADER_FIELDS["writer_pid"][0], os.getpid())
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        hold_write_lock(self.fd)
        os.ftruncate(self.fd, size)
        os.pwrite(self.fd, bytes(header), 0)
        self.map = mmap.mmap(self.fd, size)
        self.info = layout.parse_header(self.map)
        raw = np.frombuffer(self.map, np.uint8)
        self.meta = np.ndarray(
            (slots, layout.SLOT_RECORD_SIZE), np.uint8, buffer=raw, offset=self.info.meta_offset
        )
        self.samples = np.ndarray(
            (slots, frame), np.float32, buffer=raw, offset=self.info.samples_offset
        )
        self.write_seq = np.ndarray((1,), np.uint64, buffer=raw, offset=_offset("write_seq"))
        self.futex = np.ndarray((1,), np.uint32, buffer=raw, offset=_offset("futex"))
        self.sample_seq = np.ndarray((1,), np.uint64, buffer=raw, offset=_offset("sample_seq"))
        self.sample_futex = np.ndarray((1,), np.uint32, buffer=raw, offset=_offset("sample_futex"))
        self.state = np.ndarray((1,), np.uint32, buffer=raw, offset=_offset("state"))
        self._libc = ctypes.CDLL(None, use_errno=True)

    def slot(self, index: int) -> int:
        return index % self.slots

    # ---- the protocol, step by step (LAYOUT.md §6) --------------------------------------

    def begin(self, index: int) -> None:
        """Step 1: the odd stamps. The slot is now being written."""
        self._set(index, "samples_stamp", layout.stamp_writing(index))
        self._set(index, "stamp", layout.stamp_writing(index))

    def write(self, index: int, samples: Sequence[float] | np.ndarray) -> None:
        """Step 2, samples: what a half-written slot holds."""
        self.samples[self.slot(index)] = np.asarray(samples, np.float32)

    def finish(
        self,
        index: int,
        vad_prob: float = 0.0,
        flags: int = 0,
        valid: Optional[int] = None,
        publish_ns: Optional[int] = None,
    ) -> None:
        """Both phases' fields, then both even stamps (steps 2, 3, 5, 6)."""
        self.finish_samples(index, flags, valid)
        self.finish_vad(index, vad_prob, publish_ns)

    def finish_samples(self, index: int, flags: int = 0, valid: Optional[int] = None) -> None:
        """Phase 1's fields, then the even samples stamp (steps 2 and 3)."""
        valid = self.frame if valid is None else valid
        capture = self._capture_ns(index)
        for name, value in (
            ("index", index),
            ("capture_ns", capture),
            ("flags", flags),
            ("valid_samples", valid),
            ("arrival_ns", capture + 40_000_000),
            ("samples_ns", capture + 45_000_000),
        ):
            self._set(index, name, value)
        self._set(index, "samples_stamp", layout.stamp_complete(index))

    def finish_vad(
        self, index: int, vad_prob: float = 0.0, publish_ns: Optional[int] = None
    ) -> None:
        """Phase 2's fields, then the even frame stamp (steps 5 and 6)."""
        capture = self._capture_ns(index)
        for name, value in (
            ("publish_ns", capture + 50_000_000 if publish_ns is None else publish_ns),
            ("vad_prob", vad_prob),
            ("speech", int(vad_prob >= 0.5)),
        ):
            self._set(index, name, value)
        self._set(index, "stamp", layout.stamp_complete(index))

    def announce_samples(self, index: int) -> None:
        """Step 4: ``sample_seq``, ``sample_futex``, ``FUTEX_WAKE``."""
        self.sample_seq[0] = index + 1
        self._wake(self.sample_futex)

    def announce(self, index: int) -> None:
        """Steps 7 and 8: ``write_seq``, the futex word, ``FUTEX_WAKE`` (and step 4, when
        the samples were not announced on their own)."""
        if int(self.sample_seq[0]) <= index:
            self.announce_samples(index)
        self.write_seq[0] = index + 1
        self._wake(self.futex)

    def publish(
        self,
        index: int,
        samples: Optional[Sequence[float] | np.ndarray] = None,
        vad_prob: float = 0.0,
        flags: int = 0,
        valid: Optional[int] = None,
        publish_ns: Optional[int] = None,
    ) -> None:
        """Every step for frame ``index`` (samples default to ``content(index)``)."""
        self.begin(index)
        self.write(index, self.content(index) if samples is None else samples)
        self.finish(index, vad_prob, flags, valid, publish_ns)
        self.announce(index)

    def content(self, index: int) -> np.ndarray:
        """Distinct, exactly representable samples for frame ``index``."""
        return (index * self.frame + np.arange(self.frame)).astype(np.float32) / 2**24

    def close(self) -> None:
        """Marks the ring closed and wakes readers (the segment stays until :meth:`remove`)."""
        self.state[0] = layout.STATE_CLOSED
        self._wake(self.futex)
        self._wake(self.sample_futex)

    def remove(self) -> None:
        del self.meta, self.samples, self.write_seq, self.futex, self.state
        del self.sample_seq, self.sample_futex
        try:
            self.map.close()
        except BufferError:
            # A free-threaded CPython frees an array dropped by another thread
            # than the one that made it later, when that thread runs: the map
            # closes when its last view goes. The segment and the lock go now
            # (the map's own copy of the descriptor would hold the lock).
            pass
        os.unlink(self.path)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        release_write_lock(self.fd)  # the map's duplicate shares this open file
        os.close(self.fd)

    # ---- helpers ------------------------------------------------------------------------

    def _capture_ns(self, index: int) -> int:
        return 1_000_000_000 + index * self.frame * 1_000_000_000 // self.rate

    def _set(self, index: int, field: str, value: float) -> None:
        offset, code = {**layout.SLOT_FIELDS, **layout.SLOT_SAMPLES_FIELDS}[field]
        record = self.meta[self.slot(index)]
        struct.pack_into("<" + code, record, offset, value)  # type: ignore[arg-type]

    def _wake(self, word: np.ndarray) -> None:
        word[0] = (int(word[0]) + 1) & 0xFFFF_FFFF
        self._libc.syscall(
            ctypes.c_long(syscalls.number("futex")),
            ctypes.c_void_p(word.ctypes.data),
            ctypes.c_int(_FUTEX_WAKE),
            ctypes.c_int(1 << 30),
            None,
            None,
            ctypes.c_int(0),
        )


def _offset(field: str) -> int:
    return layout.HEADER_FIELDS[field][0]
