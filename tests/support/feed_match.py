"""Lining captured audio up with the feed a sound server played in a loop."""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float64]
BLOCK = 2048
ONE_STEP = 1 / 32768
"""One 16-bit step: PipeWire's float graph rounds a 16-bit feed once; ALSA and
PulseAudio carry it bit-exactly."""


def feed_position(captured: npt.NDArray[np.float32], feed: Samples) -> int:
    """Where in the (looping) feed `captured` starts."""
    looped = np.concatenate([feed, feed])
    n = len(looped) + len(captured)
    spectrum = np.fft.rfft(looped, n) * np.conj(np.fft.rfft(captured, n))
    return int(np.argmax(np.fft.irfft(spectrum, n))) % len(feed)


def glitches(
    captured: npt.NDArray[np.float32], feed: Samples
) -> Tuple[List[str], List[str], List[int]]:
    """How `captured` departs from one unbroken stretch of the feed, block by
    block: the blocks that are not an exact stretch of it (within one 16-bit
    step), the exact blocks that do not follow on from the exact block before
    (samples lost or repeated in between), and where in the feed each block is."""
    looped = np.concatenate([feed, feed])
    not_feed: List[str] = []
    jumps: List[str] = []
    places: List[int] = []
    last_exact: Optional[Tuple[int, int]] = None  # (start in captured, place in feed)
    for start in range(0, len(captured) - BLOCK + 1, BLOCK):
        block = captured[start : start + BLOCK]
        place = feed_position(block, feed)
        places.append(place)
        if np.max(np.abs(block - looped[place : place + BLOCK])) > ONE_STEP:
            not_feed.append(f"samples {start}-{start + BLOCK} are not the feed")
            continue
        if last_exact is not None and (place - last_exact[1]) % len(feed) != start - last_exact[0]:
            jumps.append(f"samples {start}-{start + BLOCK} do not follow on")
        last_exact = (start, place)
    return not_feed, jumps, places
