"""When to be awake: the "adaptive" wake strategy of :class:`v2m.Reader`.

Frames arrive on a cadence (a frame's duration, or less when a file is replayed
faster). A reader blocked in ``FUTEX_WAIT`` pays the kernel's wake-up of an idle
process on every frame (``bench/latency_suite.py`` measures it), and then runs on
a cold CPU; a reader that is already running when the frame lands pays almost
nothing. So: sleep in ``FUTEX_WAIT`` until shortly before the next frame is due (a
publish wakes it early as usual), then watch ``write_seq`` for the last stretch.

Everything is learned, nothing fixed: the cadence and its phase from the publish
times, how late frames land after their grid point, and how late this machine's
timers wake the reader. Whenever there is no trustworthy prediction, the reader
waits in ``FUTEX_WAIT`` exactly as the plain strategy does: too few frames seen, a
cadence shorter than ``MIN_CADENCE_NS`` (the wake-up is cheap there and watching
would cost a large share of a core), frames or timers too irregular to watch
through cheaply, a discontinuity or an engine restart (the estimate starts over),
a frame later than the watch window (a stall), no core to spare (see
:class:`WatchSeats`), or a busy CPU: when watches keep
failing (the reader was not running when its frame landed, or the frame came
after the window) and the frames it watched for reached it later (p90) than
frames woken by FUTEX_WAIT did, it backs off to ``FUTEX_WAIT`` for a while.
"""

from __future__ import annotations

import collections
import ctypes
import os
import socket
import statistics
import threading
from dataclasses import dataclass
from typing import Deque, Optional, Tuple

from . import seats

HISTORY = 32
"""Publish intervals, latenesses and timer wake-ups the estimates are made from."""
MIN_INTERVALS = 4
"""Publish intervals seen before the cadence is trusted."""
MIN_CADENCE_NS = 4_000_000
MAX_CADENCE_NS = 1_000_000_000
WARM_UP_NS = 200_000
WARM_UP_SHARE = 0.01
"""How long the reader should already be running when the frame lands: ``WARM_UP_NS``,
or 1 % of the cadence if that is less. A CPU that has just left idle runs Python
several times slower for a while (cold caches and TLB; on a VM the host ran something
else meanwhile): the watch loop re-reads the newest frame meanwhile, so the path the
next frame takes is warm. At short cadences the caches stay warmer, and the budget
(``CPU_BUDGET``) leaves less: a fixed 200 µs kept 5 and 10 ms frames from ever being
watched."""
UNTRAINED_TIMER_NS = 200_000
"""How late a timer wakes the reader, until ``MIN_TIMER_SAMPLES`` timed wake-ups are
measured (then: their p95; an idle CPU is as slow to wake for a timer as for a
FUTEX_WAKE, so this is learned per machine); capped, like the warm-up, at 1 % of the
cadence. The reader asks to be woken that much plus the warm-up before the frame is
due: 400 µs at 20 ms and longer until it has learned, 200 µs at 10 ms."""
MIN_TIMER_SAMPLES = 8
MIN_SAMPLES = 8
"""Frames woken by FUTEX_WAIT measured before the first watch: what watching must beat."""
MIN_LATE_NS = 40_000
CPU_BUDGET = 0.03
"""The longest typical watch, as a share of the cadence (from a timer late by its
median to a frame late by its median): longer, and watching costs more than this
share of a core; wait in FUTEX_WAIT instead."""
DRIFT_FOLLOW = 8
"""A frame later than the grid moves the grid by 1/8 of its lateness (a clock a
little slower than the cadence estimate is followed; one late frame is not)."""
SEEN_LATE_NS = 100_000
"""A watched frame first seen this long after its publish: the reader was not
running when it landed."""
CONTENTION_WINDOW = 16
CONTENTION_LIMIT = 4
"""Seen late or missed in this many of the last ``CONTENTION_WINDOW`` watches: compare
with FUTEX_WAIT. (Watching never yields the CPU: ``sched_yield`` would hand it to a
busy process for a whole time slice, milliseconds.)"""
BACKOFF_FRAMES = 64
MAX_BACKOFF_FRAMES = 4096
"""Frames waited in FUTEX_WAIT after backing off, before watching is tried again;
they measure what FUTEX_WAIT delivers, which watching must beat to go on. Each
back-off doubles the next (up to the maximum); ``BACKOFF_FRAMES`` watched in a row
set it back. Several readers watching on too few cores delay the engine itself, so
frames land later, watches get longer, and the budget ends them: that, too, backs
off, or the readers would take turns at slowing each other down."""

SEAT_CHECK_FRAMES = 64
"""Frames between looks at how many adaptive readers share the ring (and attempts
to get a watch seat when there was none)."""
MAX_COUNTED_READERS = 32

_PR_SET_TIMERSLACK = 29


@dataclass(frozen=True)
class Plan:
    """For the next frame: sleep until ``wake_ns``, then watch until ``give_up_ns``."""

    wake_ns: int
    give_up_ns: int


class WatchSeats:
    """Watching only where a core is to spare: at most ``cores - 1`` watching readers
    on a ring, and none once more adaptive readers share the ring than that.

    Readers spinning on every core delay the engine itself (it must preempt one to
    publish) and the readers woken by FUTEX_WAIT. Seats and presence are
    :mod:`v2m.seats`: a name squatted by someone else only costs a reader its watching
    (it waits in FUTEX_WAIT) or makes it count one reader too many.
    """

    def __init__(self, ring: str) -> None:
        prefix = f"\0v2m-{os.getuid()}-{ring}"
        self._spare = len(os.sched_getaffinity(0)) - 1
        self._seats = [f"{prefix}-watch-{k}" for k in range(self._spare)]
        self._present = [f"{prefix}-adaptive-{k}" for k in range(MAX_COUNTED_READERS)]
        self._seat: Optional[socket.socket] = None
        self._presence = _socket_of(seats.take_first(self._present))

    @property
    def held(self) -> bool:
        return self._seat is not None

    def take(self) -> None:
        """Takes a free seat, if there is one."""
        if self._seat is None:
            self._seat = _socket_of(seats.take_first(self._seats))

    def crowded(self) -> bool:
        """More adaptive readers on this ring than cores to spare."""
        return seats.taken(self._present) > self._spare

    def release(self) -> None:
        if self._seat is not None:
            self._seat.close()
            self._seat = None

    def close(self) -> None:
        self.release()
        if self._presence is not None:
            self._presence.close()
            self._presence = None


def _socket_of(seat: Optional[Tuple[int, socket.socket]]) -> Optional[socket.socket]:
    return None if seat is None else seat[1]


class AdaptiveWake:
    """Learns the cadence, phase and lateness of the frames a reader receives.

    A clocked source publishes on a grid (the device or pacing clock) plus a delay
    that is never negative (scheduling, VAD inference). The earliest arrivals mark
    the grid; how late frames land after it (p95 of the last ``HISTORY``) is how long
    the reader watches past the grid point.
    """

    def __init__(self, ring: str) -> None:
        self._seats = WatchSeats(ring)
        self._seat_checked_frames = SEAT_CHECK_FRAMES
        self._pending: Deque[int] = collections.deque(maxlen=HISTORY)
        self._restart = False
        self._last_publish: Optional[int] = None
        self._grid: Optional[int] = None
        self._intervals: Deque[int] = collections.deque(maxlen=HISTORY)
        self._off_cadence = 0
        """Publish intervals in a row that were not the cadence."""
        self._lateness: Deque[int] = collections.deque(maxlen=HISTORY)
        self._cadence: Optional[int] = None
        self._late95 = self._late50 = 0
        self._timer_late: Deque[int] = collections.deque(maxlen=HISTORY)
        self._timer95 = self._timer50 = 0
        self._early = UNTRAINED_TIMER_NS + WARM_UP_NS
        self._seen_late: Deque[bool] = collections.deque(maxlen=CONTENTION_WINDOW)
        self._seen_ns: Optional[int] = None
        self._waited_by: Optional[str] = None  # how the reader waited for the next frame
        self._delays: dict[str, Deque[int]] = {
            "watch": collections.deque(maxlen=HISTORY),
            "futex": collections.deque(maxlen=HISTORY),
        }  # publish to handed out, of frames the reader waited for, by how it waited
        self._backoff = 0
        self._next_backoff = BACKOFF_FRAMES
        self._watched_in_a_row = 0
        self.watched = 0
        """Frames this reader was awake for (the others woke it in FUTEX_WAIT)."""
        self.backoffs = 0
        """Times a busy CPU sent this reader back to FUTEX_WAIT for a while."""
        self.futex_waits: dict[str, int] = {}
        """Why the reader waited in FUTEX_WAIT instead, by reason (a wait can follow a
        watch that timed out: ``late``)."""
        self._tight_threads: set[int] = set()

    def reset(self) -> None:
        """Starts over (a discontinuity, a new engine)."""
        self._pending.clear()
        self._restart = True

    def observe(self, publish_ns: int, discontinuity: bool, now_ns: int) -> None:
        """Takes the publish time of each frame handed out, in order.

        Only notes it: this runs between the frame landing and the caller holding it,
        so the arithmetic waits for :meth:`plan`, which runs while the reader waits."""
        if self._waited_by is not None:
            self._delays[self._waited_by].append(now_ns - publish_ns)
            self._waited_by = None
        if discontinuity:
            self.reset()
        self._pending.append(publish_ns)
        if self._backoff:
            self._backoff -= 1
        self._seat_checked_frames += 1
        if self._seen_ns is not None:
            self._seen_late.append(self._seen_ns - publish_ns > SEEN_LATE_NS)
            self._seen_ns = None

    def timer_woke(self, late_ns: int) -> None:
        """Takes how long after the planned ``wake_ns`` the reader was running again."""
        self._timer_late.append(late_ns)

    def missed(self) -> None:
        """The watch window ended before the frame landed (late, or not running)."""
        self._seen_late.append(True)

    def saw(self, seen_ns: int) -> None:
        """The watching reader saw ``write_seq`` move at ``seen_ns``."""
        self.watched += 1
        self._seen_ns = seen_ns
        self._watched_in_a_row += 1
        if self._watched_in_a_row == BACKOFF_FRAMES:
            self._next_backoff = BACKOFF_FRAMES

    def plan(self, now_ns: int) -> Optional[Plan]:
        """When to wake for the next frame; None: wait in FUTEX_WAIT."""
        plan = self._plan(now_ns)
        if plan is not None:
            self._waited_by = "watch"
        elif self._waited_by is None:
            self._waited_by = "futex"
        return plan

    def _judge_watching(self) -> None:
        """Watches keep failing: go on only if watching still delivers sooner."""
        watch, futex = self._delays["watch"], self._delays["futex"]
        if len(watch) < MIN_SAMPLES:
            return  # too early to tell: keep watching (and counting)
        self._seen_late.clear()
        if len(futex) >= MIN_SAMPLES and _percentile(watch, 0.9) <= _percentile(futex, 0.9):
            return
        self._back_off()

    def close(self) -> None:
        """Gives back the watch seat and presence (the reader closes)."""
        self._seats.close()

    def _back_off(self) -> None:
        self._seats.release()
        self._backoff = self._next_backoff
        self._next_backoff = min(MAX_BACKOFF_FRAMES, 2 * self._next_backoff)
        self._watched_in_a_row = 0
        self.backoffs += 1

    def _plan(self, now_ns: int) -> Optional[Plan]:
        # Cheap refusals first: a reader that will not watch spends nothing on learning
        # (it runs just after a frame, when other readers are being woken).
        if self._backoff:
            return self._futex("backoff")
        if self._seat_checked_frames >= SEAT_CHECK_FRAMES:
            self._seat_checked_frames = 0
            if self._seats.crowded():
                self._seats.release()
            else:
                self._seats.take()
        if not self._seats.held:
            return self._futex("no core to spare")
        if self._pending or self._restart:
            self._learn()
        if sum(self._seen_late) >= CONTENTION_LIMIT:
            self._judge_watching()
            if self._backoff:
                return self._futex("backoff")
        cadence, grid = self._cadence, self._grid
        if cadence is None or grid is None or not self._lateness:
            return self._futex("learning")
        if not MIN_CADENCE_NS <= cadence <= MAX_CADENCE_NS:
            return self._futex("cadence")
        self._early = self._early_for(cadence)
        if len(self._delays["futex"]) < MIN_SAMPLES:
            return self._futex("learning")
        # A typical watch runs from a typically late timer to a typically late frame;
        # the window stays open to twice the p95 lateness (a miss costs a FUTEX_WAIT).
        if self._early - self._timer50 + self._late50 > CPU_BUDGET * cadence:
            if self._watched_in_a_row:  # it was watching: frames came later meanwhile
                self._back_off()
            return self._futex("budget")
        window = max(MIN_LATE_NS, 2 * self._late95)
        thread = threading.get_ident()
        if thread not in self._tight_threads:  # slack is per thread: the one that waits
            _tighten_timer_slack()
            self._tight_threads.add(thread)
        due = grid + cadence
        give_up = due + window
        if now_ns > give_up:  # the frame is later than frames have been: a stall
            return self._futex("late")
        return Plan(due - self._early, give_up)

    def _early_for(self, cadence: int) -> int:
        """How long before the due time to be woken: the timer's lateness (learned, or
        ``UNTRAINED_TIMER_NS``) plus the warm-up, at this cadence."""
        share = int(WARM_UP_SHARE * cadence)
        if len(self._timer_late) >= MIN_TIMER_SAMPLES:
            timer = self._timer95
        else:
            timer = min(UNTRAINED_TIMER_NS, share)
        return timer + min(WARM_UP_NS, share)

    def _futex(self, why: str) -> Optional[Plan]:
        self.futex_waits[why] = self.futex_waits.get(why, 0) + 1
        return None

    def _learn(self) -> None:
        if self._restart:
            self._restart = False
            self._forget_cadence()
        while self._pending:
            self._take(self._pending.popleft())
        if self._lateness:
            self._late50 = _percentile(self._lateness, 0.5)
            self._late95 = _percentile(self._lateness, 0.95)
        if len(self._timer_late) >= MIN_TIMER_SAMPLES:
            self._timer50 = _percentile(self._timer_late, 0.5)
            self._timer95 = _percentile(self._timer_late, 0.95)

    def _take(self, publish_ns: int) -> None:
        last = self._last_publish
        self._last_publish = publish_ns
        if last is None or publish_ns <= last:
            return
        cadence = self._cadence
        if cadence is None or round((publish_ns - last) / cadence) == 1:
            self._intervals.append(publish_ns - last)
            self._off_cadence = 0
        else:  # a lost frame is not an interval; a run of them is a new cadence
            self._off_cadence += 1
            if self._off_cadence >= MIN_INTERVALS:
                self._forget_cadence()
                self._last_publish = publish_ns
                return
        if cadence is not None:
            self._follow_grid(publish_ns, cadence)
        if len(self._intervals) >= MIN_INTERVALS:
            self._cadence = int(statistics.median(self._intervals))
            if self._grid is None:
                self._grid = publish_ns

    def _forget_cadence(self) -> None:
        """Learns the cadence anew: a new engine, or frames on another cadence (a replay
        at another speed, a mirror whose source changed)."""
        self._last_publish, self._grid, self._cadence = None, None, None
        self._intervals.clear()
        self._lateness.clear()
        self._off_cadence = 0

    def _follow_grid(self, publish_ns: int, cadence: int) -> None:
        grid = self._grid if self._grid is not None else publish_ns
        steps = max(1, round((publish_ns - grid) / cadence))
        predicted = grid + steps * cadence
        lateness = publish_ns - predicted
        if lateness <= 0:  # earlier than the grid said: the grid is here
            self._grid = publish_ns
            lateness = 0
        else:
            self._grid = predicted + lateness // DRIFT_FOLLOW
        self._lateness.append(lateness)

    def stats(self) -> dict[str, int]:
        """What it learned and did, for monitoring and benchmarks (times in ns)."""
        return {
            "watched": self.watched,
            "backoffs": self.backoffs,
            "cadence_ns": self._cadence or 0,
            "early_ns": self._early,
            "late95_ns": self._late95,
            "timer95_ns": self._timer95,
            **{f"futex_{why}": count for why, count in self.futex_waits.items()},
        }

    @property
    def early_ns(self) -> int:
        """How long before a frame is due the reader asks to be woken."""
        return self._early

    @property
    def late95_ns(self) -> int:
        """How late after the grid point frames land (p95)."""
        return self._late95

    @property
    def cadence_ns(self) -> Optional[int]:
        """The learned cadence (None until trusted)."""
        return self._cadence


def _percentile(values: Deque[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def _tighten_timer_slack() -> None:
    """Asks for timed wake-ups to the microsecond for this thread (the default
    slack of 50 µs is as large as the whole gain)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_TIMERSLACK, ctypes.c_ulong(1000), 0, 0, 0)
    except (OSError, AttributeError):
        pass
