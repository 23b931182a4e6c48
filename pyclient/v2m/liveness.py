"""Is the engine that owns a ring still alive? Asked of the kernel via ``flock``.

The engine holds an exclusive lock on the segment for its whole life and the
kernel drops it when the process dies, even on ``kill -9``. A reader that can
take a *shared* lock without blocking knows the engine is gone. Shared, never
exclusive: readers testing at the same moment must not fail each other.
"""

from __future__ import annotations

import fcntl
import os
import time


def writer_alive(fd: int) -> bool:
    """True while some process holds the exclusive lock on the segment ``fd``."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def engine_alive(fd: int, writer_pid: int, grace_s: float) -> bool:
    """:func:`writer_alive`, unless the lock is not the engine's: while a new engine
    removes a dead engine's ring it holds that ring's lock for a moment (LAYOUT.md §1).
    A lock held while ``writer_pid`` is gone is waited out, up to ``grace_s``; a lock
    that lasts is believed (an engine in another PID namespace, which this process
    cannot see)."""
    if not writer_alive(fd):
        return False
    if not _pid_gone(writer_pid):
        return True
    until = time.monotonic() + grace_s
    while time.monotonic() < until:
        time.sleep(0.005)
        if not writer_alive(fd):
            return False
    return True


def _pid_gone(pid: int) -> bool:
    """True if no process ``pid`` exists in this PID namespace."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
