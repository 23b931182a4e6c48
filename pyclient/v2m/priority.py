"""Opt-in scheduling for the thread that waits for frames.

On a busy machine a reader woken by the engine waits for its turn on a CPU (the
latency suite measures how long: ``bench/latency_suite.py``). A real-time thread
(``SCHED_FIFO``) runs as soon as it is woken. Risks, which is why it is opt-in: a
real-time thread that never blocks starves everything of lower priority on its CPU
(the kernel's real-time throttling still leaves others 5 % of each second), so only
the thread that waits for frames and hands them on should ask, never one that
computes (a recognizer); and ``fork()`` children do not inherit it.

Permission: root, ``CAP_SYS_NICE``, or an ``RLIMIT_RTPRIO`` above zero (for example
``@audio - rtprio 20`` in ``/etc/security/limits.conf``). Without it a nice level is
tried, which needs ``RLIMIT_NICE`` or the same capability.

A reader puts its thread back as it found it when the stream ends or the reader
closes (:class:`SavedScheduling`): what the thread does next, say summing up what it
read, must not run at real-time priority. Readers that kept ``SCHED_FIFO`` after their
stream ended held their CPU through that work ahead of other real-time readers, whose
last frames then waited 36 to 141 ms (``bench/latency_suite.py``, 4 and 8 readers).

The GIL: a frame reaches Python code only when the waiting thread holds the GIL. A
CPU-bound pure-Python thread in the same process keeps it for up to
``sys.getswitchinterval()`` (5 ms) at a time; :func:`shorten_gil_switch_interval`
lowers that for the whole process.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass

REALTIME_PRIORITY = 5
"""``SCHED_FIFO`` priority of a reader thread: below the engine's threads (10, 11),
which must run first for there to be a frame to read."""
NICE_LEVEL = -10
GIL_SWITCH_INTERVAL_S = 0.0005


@dataclass(frozen=True)
class Priority:
    """What :func:`raise_priority` got: ``"realtime"``, ``"nice"`` or ``"normal"``."""

    policy: str
    level: int
    reason: str = ""


def raise_priority(realtime_priority: int = REALTIME_PRIORITY) -> Priority:
    """Raises the calling thread: ``SCHED_FIFO`` at ``realtime_priority`` where
    permitted, else nice ``NICE_LEVEL``, else nothing (the result says why).

    Call it from the thread that reads frames (``Reader(..., priority=True)`` does, on
    its first read)."""
    flags = getattr(os, "SCHED_RESET_ON_FORK", 0)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO | flags, os.sched_param(realtime_priority))
        return Priority("realtime", realtime_priority)
    except (PermissionError, OSError) as e:
        refused = e.strerror or str(e)
    try:
        # Linux applies PRIO_PROCESS with a thread id to that thread alone.
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE_LEVEL)
        return Priority("nice", NICE_LEVEL, f"real-time: {refused}")
    except OSError as e:
        return Priority("normal", 0, f"real-time: {refused}; nice: {e.strerror or e}")


@dataclass(frozen=True)
class SavedScheduling:
    """A thread's scheduling policy, real-time priority and nice level, to put back
    (:meth:`restore` may be called from any thread)."""

    thread: int
    policy: int
    priority: int
    nice: int

    @classmethod
    def of_this_thread(cls) -> "SavedScheduling":
        thread = threading.get_native_id()
        return cls(
            thread,
            os.sched_getscheduler(thread),
            os.sched_getparam(thread).sched_priority,
            os.getpriority(os.PRIO_PROCESS, thread),
        )

    def restore(self) -> None:
        """Puts the thread back; a thread that has ended is left alone."""
        try:
            os.sched_setscheduler(self.thread, self.policy, os.sched_param(self.priority))
            os.setpriority(os.PRIO_PROCESS, self.thread, self.nice)
        except OSError:
            pass  # gone, or (leaving real-time never needs a permission) nothing to undo


def shorten_gil_switch_interval(seconds: float = GIL_SWITCH_INTERVAL_S) -> float:
    """Makes a CPU-bound Python thread hand over the GIL every ``seconds`` instead of
    every 5 ms, so a woken reader thread gets it sooner; returns the old interval.

    It applies to the whole process and costs the busy thread a little throughput
    (more switches). It does nothing for a thread that holds the GIL inside a C
    extension that does not release it."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    return old
