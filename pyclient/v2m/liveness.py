"""Is the engine that owns a ring still alive? Asked of the kernel via ``flock``.

The engine holds an exclusive lock on the segment for its whole life and the
kernel drops it when the process dies, even on ``kill -9``. A reader that can
take a *shared* lock without blocking knows the engine is gone. Shared, never
exclusive: readers testing at the same moment must not fail each other.
"""

from __future__ import annotations

import fcntl
import os


def writer_alive(fd: int) -> bool:
    """True while some process holds the exclusive lock on the segment ``fd``."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def pid_gone(pid: int) -> bool:
    """True if no process ``pid`` exists in this PID namespace. An engine in another
    namespace looks gone too, so a reader uses this only to wait a moment longer."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
