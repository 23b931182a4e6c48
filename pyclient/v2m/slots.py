"""The reader's side of the slot seqlock (``LAYOUT.md`` §6), the Python twin of
``layout/src/seqlock.rs``: take a published frame out of its slot under two loads of
its stamp, and count the frames a reader was lapped by. Nothing here waits or knows
about engines; :class:`v2m.Reader` combines it with a wait strategy.

Every frame is either handed out untorn or counted lost, exactly once: a stamp that
does not show the frame complete, before or after the copy, means the writer has
overwritten (or is overwriting) the slot.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import numpy.typing as npt

from .frame import Frame
from .layout import stamp_complete
from .mapping import RingMapping
from .ordering import Fence

_NAN = float("nan")


class SlotReader:
    """Reads frames of one mapped ring (whole frames, or samples first: whichever the
    mapping follows). ``copy``: hand out private copies of the samples instead of views."""

    def __init__(self, ring: RingMapping, fence: Fence, copy: bool) -> None:
        self.ring, self.fence, self.copy = ring, fence, copy
        self.slots = ring.info.slot_count
        self.frame_s = ring.info.frame_samples / ring.info.sample_rate

    def published(self, next_index: int) -> Tuple[int, int]:
        """``(futex word, frames published)``, loaded in that order: a publish after the
        word's load changes it, so a wait on it returns at once and nothing is missed.
        When nothing past ``next_index`` seems published, a weakly ordered CPU may have
        loaded the count before the word: it is loaded again after a fence."""
        ring = self.ring
        word = int(ring.word[0])
        published = int(ring.seq[0])
        if next_index >= published:
            self.fence()
            published = int(ring.seq[0])
        return word, published

    def catch_up(self, next_index: int, published: int) -> Tuple[int, int]:
        """``(index to read, frames lost)``: a reader more than a ring behind has lost
        every frame before the oldest slot's."""
        if published - next_index > self.slots:
            return published - self.slots, published - self.slots - next_index
        return next_index, 0

    def take(self, index: int, fence: Optional[Fence] = None) -> Optional[Frame]:
        """Frame ``index`` (published: the caller saw the count pass it) under the seqlock;
        None if the slot no longer holds it. ``fence`` orders the loads (a no-op on
        x86-64, a full barrier on ARM64: :mod:`v2m.ordering`)."""
        fence = self.fence if fence is None else fence
        ring = self.ring
        slot = index & (self.slots - 1)
        expected = stamp_complete(index)
        stamps = ring.slot_stamps
        if not stamp_shows(stamps, slot, expected, fence):
            return None
        fence()  # the stamp before the copy
        meta = ring.slot_meta(slot)
        samples_ns = ring.samples_ns(slot)
        samples = ring.samples[slot]
        if self.copy:
            samples = samples.copy()
        fence()  # the copy before the stamp's second load
        if int(stamps[slot]) != expected:
            return None
        if stamps is not ring.stamps:  # samples first: the VAD fields are not ours
            meta = (expected, *meta[1:3], 0, _NAN, 0, *meta[6:])
        return Frame(meta, samples, stamps, slot, self.frame_s, samples_ns, fence)

    def window(self, first_index: int, count: int) -> npt.NDArray[np.float32]:
        """The zero-copy view of frames ``first_index .. first_index+count-1``'s samples
        (see :meth:`v2m.Reader.window`); ValueError if the run is not all in the ring."""
        if count < 1 or count > self.slots:
            raise ValueError(f"count must be 1..{self.slots}, not {count}")
        first_slot = first_index & (self.slots - 1)
        last = first_index + count - 1
        if first_slot + count > self.slots:
            raise ValueError(
                f"frames {first_index}..{last} wrap the ring's end; split the run at the "
                "wrap or copy it"
            )
        if not self.frames_valid(first_index, count):
            raise ValueError(f"frames {first_index}..{last} are not all in the ring")
        view = self.ring.samples[first_slot : first_slot + count]
        channels = self.ring.info.channels
        return view.reshape(-1) if channels == 1 else view.reshape(-1, channels)

    def frames_valid(self, first_index: int, count: int) -> bool:
        """Whether whole frames ``first_index .. first_index+count-1`` are all published
        and complete in their slots."""
        self.fence()  # the caller's reads of the frames before the stamps' loads
        if first_index < 0 or first_index + count > int(self.ring.write_seq[0]):
            return False
        mask = self.slots - 1
        stamps = self.ring.stamps
        return all(
            stamp_shows(stamps, index & mask, stamp_complete(index), self.fence)
            for index in range(first_index, first_index + count)
        )


def stamp_shows(stamps: npt.NDArray[np.uint64], slot: int, expected: int, fence: Fence) -> bool:
    """Whether a published frame's slot still holds it (stamp ``expected``).

    A stamp older than the frame cannot be what the slot holds once its frame is
    published; a weakly ordered CPU may still have loaded it before the count that said
    so, and after a fence it reads the slot's stamp as of that count or later (never
    counted as a loss for being early)."""
    stamp = int(stamps[slot])
    if stamp < expected:
        fence()
        stamp = int(stamps[slot])
    return stamp == expected
