"""How a reader waits for the next frame: one interface, two strategies.

:class:`FutexWait` sleeps in ``FUTEX_WAIT`` on the ring's futex word until the engine
wakes it (``LAYOUT.md`` §8). :class:`AdaptiveWait` sleeps until shortly before the next
frame is due and watches for the last stretch, when :mod:`v2m.wake`'s estimates say
that pays; otherwise it waits exactly as :class:`FutexWait` does. The reader calls
:meth:`wait` with the futex word and frame count it loaded (:class:`v2m.slots.SlotReader`)
and looks again when it returns.
"""

from __future__ import annotations

import time
from typing import Optional, Protocol

from . import layout
from .frame import Frame
from .futex import futex_wait
from .ordering import no_fence
from .placement import SleepPlacement
from .slots import SlotReader
from .wake import AdaptiveWake, Plan

WAKES = ("futex", "adaptive")
"""The wake strategies a reader can use (``Reader(..., wake=...)``)."""


class WaitStrategy(Protocol):
    """What a reader needs of a way to wait."""

    def wait(self, slots: SlotReader, word: int, published: int, timeout_s: float) -> bool:
        """Returns when frame ``published`` may be out, the ring closed, or after at most
        ``timeout_s``; True if it slept in ``FUTEX_WAIT`` (a timeout then means the
        caller should ask whether the engine is alive)."""
        ...

    def handed_out(self, frame: Frame) -> None:
        """The reader handed ``frame`` out (strategies learn the cadence from this)."""
        ...

    def restart(self) -> None:
        """The stream starts over (a new engine): what was learned no longer holds."""
        ...

    def stats(self) -> Optional[dict[str, int]]:
        """What the strategy learned, for ``Reader.wake_stats``; None if nothing."""
        ...

    def close(self) -> None: ...


def sleep(placement: SleepPlacement, address: int, word: int, timeout_s: float) -> None:
    """``FUTEX_WAIT`` on the reader's own CPU (:mod:`v2m.placement`)."""
    mask = placement.before_sleep()
    try:
        futex_wait(address, word, timeout_s)
    finally:
        placement.after_sleep(mask)


class FutexWait:
    """Sleeps until the engine's ``FUTEX_WAKE`` (or the timeout)."""

    def __init__(self) -> None:
        self._placement = SleepPlacement()

    def wait(self, slots: SlotReader, word: int, published: int, timeout_s: float) -> bool:
        sleep(self._placement, slots.ring.word_address, word, timeout_s)
        return True

    def handed_out(self, frame: Frame) -> None:
        pass

    def restart(self) -> None:
        pass

    def stats(self) -> Optional[dict[str, int]]:
        return None

    def close(self) -> None:
        self._placement.close()


class AdaptiveWait:
    """Awake when the frame lands, where :class:`v2m.wake.AdaptiveWake` says it pays."""

    def __init__(self, ring_name: str) -> None:
        self._wake = AdaptiveWake(ring_name)
        self._placement = SleepPlacement()

    def wait(self, slots: SlotReader, word: int, published: int, timeout_s: float) -> bool:
        plan = self._wake.plan(time.monotonic_ns())
        if plan is None:
            sleep(self._placement, slots.ring.word_address, word, timeout_s)
            return True
        self._watch(slots, word, published, plan, timeout_s)
        return False

    def _watch(
        self, slots: SlotReader, word: int, published: int, plan: Plan, timeout_s: float
    ) -> None:
        """Asleep until ``plan.wake_ns`` (a publish still wakes it), then awake, watching
        the frame count, until the frame lands or ``plan.give_up_ns``."""
        ring, wake = slots.ring, self._wake
        now = time.monotonic_ns()
        if now < plan.wake_ns:
            sleep(
                self._placement, ring.word_address, word, min(timeout_s, (plan.wake_ns - now) / 1e9)
            )
            woke = time.monotonic_ns()
            if woke >= plan.wake_ns:
                wake.timer_woke(woke - plan.wake_ns)
            return  # the reader looks again: a frame, the close, or time to watch
        give_up = min(plan.give_up_ns, now + int(timeout_s * 1e9))
        seq, state = ring.seq, ring.state
        while int(seq[0]) == published and int(state[0]) != layout.STATE_CLOSED:
            # Re-reading the newest frame keeps the path the next one takes in the
            # caches (cold after a cadence of idleness, that path is an order of
            # magnitude slower).
            slots.take(published - 1, no_fence)
            if time.monotonic_ns() >= give_up:
                wake.missed()  # late beyond the jitter: the next look waits in FUTEX_WAIT
                return
        wake.saw(time.monotonic_ns())

    def handed_out(self, frame: Frame) -> None:
        landed = frame.samples_ns if frame.vad_pending else frame.publish_ns
        self._wake.observe(landed, frame.discontinuity, time.monotonic_ns())

    def restart(self) -> None:
        self._wake.reset()

    def stats(self) -> Optional[dict[str, int]]:
        return self._wake.stats()

    def close(self) -> None:
        self._wake.close()
        self._placement.close()


def strategy(wake: str, ring_name: str) -> WaitStrategy:
    """The strategy ``wake`` names (one of :data:`WAKES`)."""
    return AdaptiveWait(ring_name) if wake == "adaptive" else FutexWait()
