"""Where a waiting reader sleeps: each on a CPU of its own, the readers of this user
taking the CPUs in turn.

A frame wakes every waiting reader at once, and where the scheduler then runs them
decides how long the last one waits. On this project's 2-vCPU machines the kernel
packs woken tasks onto one vCPU: four readers of one frame ran on the same CPU in 99 %
of frames, one after another, the fourth holding its frame some 300 µs after the
first (``bench/latency_suite.py``). So a reader lets its thread sleep only on "its"
CPU and, once woken, run anywhere again: two system calls around each sleep. Spread
this way, the readers of a frame share the CPUs and the slowest of four is served
about twice as soon, on an idle machine and on a busy one alike.

The CPU is a seat (:mod:`v2m.seats`) among the CPUs the thread may use, taken when the
reader is made and given back when it closes; with one CPU, or when the thread's
affinity is changed from outside, nothing is done.
"""

from __future__ import annotations

import os
import socket
from typing import Optional, Set

from . import seats

MAX_SEATS = 256
"""Readers counted for the turn; past that, CPUs are taken again from the first."""


class SleepPlacement:
    """The CPU one reader sleeps on."""

    def __init__(self) -> None:
        self._cpu: Optional[Set[int]] = None
        self._seat: Optional[socket.socket] = None
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) < 2:
            return
        names = [f"\0v2m-{os.getuid()}-sleep-{k}" for k in range(MAX_SEATS)]
        seat = seats.take_first(names)
        if seat is not None:
            position, self._seat = seat
            self._cpu = {allowed[position % len(allowed)]}

    def before_sleep(self) -> Optional[Set[int]]:
        """Moves the calling thread's sleep to its CPU; the mask to give back after."""
        if self._cpu is None:
            return None
        try:
            mask = os.sched_getaffinity(0)
            if mask == self._cpu or not self._cpu <= mask:
                return None  # placed already, or the CPU is not the thread's to use
            os.sched_setaffinity(0, self._cpu)
            return mask
        except OSError:
            self._cpu = None  # the CPU went offline, or a cpuset forbids it
            return None

    @staticmethod
    def after_sleep(mask: Optional[Set[int]]) -> None:
        """Lets the woken thread run anywhere it could before."""
        if mask is not None:
            os.sched_setaffinity(0, mask)

    def close(self) -> None:
        if self._seat is not None:
            self._seat.close()
            self._seat = None
        self._cpu = None
