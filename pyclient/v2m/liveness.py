"""Is the engine that owns a ring still alive? Asked of the kernel, which drops a
process's locks when it dies, even on ``kill -9``.

Since layout 1.3 the engine holds an open-file-description *write* lock on its
segment (``F_OFD_SETLK``, ``F_WRLCK``). A write lock needs a descriptor open for
writing, which only the ring's owner can have: a reader of a ``--group-readable``
ring cannot take it, so no reader can make a dead engine look alive. Asking
(``F_OFD_GETLK``) takes no lock, so askers never get in anyone's way. Engines of
layout 1.0–1.2 hold an exclusive ``flock`` instead, tested with a non-blocking
*shared* lock (never an exclusive one: readers testing at the same moment must not
fail each other).
"""

from __future__ import annotations

import fcntl
import os
import struct
import time

WRITE_LOCK_SINCE = (1, 3)
"""The first layout version whose writers hold the write lock."""
_F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)  # the Linux value on every architecture
_FLOCK = struct.Struct("hh4xqqi4x")  # struct flock: l_type, l_whence, l_start, l_len, l_pid


def writer_alive(fd: int, version: tuple[int, int]) -> bool:
    """True while the engine of the segment open on ``fd`` (of layout ``version``)
    holds its liveness lock."""
    if version >= WRITE_LOCK_SINCE:
        return write_locked(fd)
    return flock_held(fd)


def write_locked(fd: int) -> bool:
    """True while some process holds a write lock on the file ``fd`` is open on."""
    probe = _FLOCK.pack(fcntl.F_RDLCK, os.SEEK_SET, 0, 0, 0)
    kind = _FLOCK.unpack(fcntl.fcntl(fd, _F_OFD_GETLK, probe))[0]
    return bool(kind == fcntl.F_WRLCK)  # only a write lock stops a read lock


def flock_held(fd: int) -> bool:
    """True while some process holds the exclusive ``flock`` on the file ``fd``."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def engine_alive(fd: int, version: tuple[int, int], writer_pid: int, grace_s: float) -> bool:
    """:func:`writer_alive`, also for a ring of a 1.0–1.2 engine whose ``flock`` may
    not be the engine's: while a new engine of that layout removes a dead engine's
    ring it holds that ring's lock for a moment. Such a lock held while
    ``writer_pid`` is gone is waited out, up to ``grace_s``; a lock that lasts is
    believed (an engine in another PID namespace, which this process cannot see).
    A 1.3 write lock is only ever its engine's."""
    if not writer_alive(fd, version):
        return False
    if version >= WRITE_LOCK_SINCE or not _pid_gone(writer_pid):
        return True
    until = time.monotonic() + grace_s
    while time.monotonic() < until:
        time.sleep(0.005)
        if not flock_held(fd):
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
