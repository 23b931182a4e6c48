"""The floor under ``v2m.Reader``: the v2m ring read with nothing but ``mmap``, a futex
(or a spin) and NumPy, straight from the offsets in LAYOUT.md, no validation, no
liveness checks. What ``v2m.Reader`` costs is the difference between it and these."""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
import time
from typing import Iterator, Tuple

import numpy as np

SYS_FUTEX, FUTEX_WAIT, CLOSED = 202, 0, 2
_libc = ctypes.CDLL(None, use_errno=True)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _ring(name: str) -> Tuple[np.ndarray, ...]:
    """(write_seq, futex, state, stamps, publish_ns, samples) views of ring ``name``."""
    path = f"/dev/shm/v2m-{name}"
    while not os.path.exists(path):
        time.sleep(0.001)
    time.sleep(0.01)  # the engine publishes the segment complete; give it a moment anyway
    with open(path, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    raw = np.frombuffer(m, np.uint8)
    frame, slots, stride = struct.unpack_from("<I4xII", m, 72)
    meta, samples, slot_bytes = struct.unpack_from("<QQQ", m, 88)

    def word(offset: int, dtype: type) -> np.ndarray:
        return np.ndarray((1,), dtype, raw, offset)

    def field(offset: int) -> np.ndarray:
        return np.ndarray((slots,), np.uint64, raw, meta + offset, (stride,))

    audio = np.ndarray((slots, frame), np.float32, raw, samples, (slot_bytes, 4))
    return (
        word(320, np.uint64),
        word(384, np.uint32),
        word(28, np.uint32),
        field(0),
        field(24),
        audio,
    )


def futex_frames(name: str) -> Iterator[Tuple[int, int, np.ndarray]]:
    """Sleeps in FUTEX_WAIT on the header's word; reads each new frame under the seqlock."""
    write_seq, futex, state, stamps, published, audio = _ring(name)
    mask, address, timeout = len(stamps) - 1, futex.ctypes.data, _Timespec(0, 250_000_000)
    index = int(write_seq[0])
    while True:
        word, seq = int(futex[0]), int(write_seq[0])
        first = max(index, seq - len(stamps))
        for index in range(first, seq):
            slot = index & mask
            stamp, publish_ns, samples = int(stamps[slot]), int(published[slot]), audio[slot]
            if stamp == 2 * index + 2 == int(stamps[slot]):
                yield index, publish_ns, samples
        index = seq
        if int(state[0]) == CLOSED:
            return
        _libc.syscall(
            SYS_FUTEX, ctypes.c_void_p(address), FUTEX_WAIT, word, ctypes.byref(timeout), 0, 0
        )


def busy_poll_frames(name: str) -> Iterator[Tuple[int, int, np.ndarray]]:
    """Spins on ``write_seq`` (a whole core, for the lowest latency there is)."""
    write_seq, _, state, stamps, published, audio = _ring(name)
    mask, index = len(stamps) - 1, int(write_seq[0])
    while True:
        seq = int(write_seq[0])
        if seq == index:
            if int(state[0]) == CLOSED:
                return
            continue
        first = max(index, seq - len(stamps))
        for index in range(first, seq):
            slot = index & mask
            stamp, publish_ns, samples = int(stamps[slot]), int(published[slot]), audio[slot]
            if stamp == 2 * index + 2 == int(stamps[slot]):
                yield index, publish_ns, samples
        index = seq
