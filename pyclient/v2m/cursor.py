"""A pacing reader's cursor, for engines started with ``--pace-to-readers``: a
64-byte file of the reader's own (``/dev/shm/.v2m-NAME.cursor.PID.N``) saying which
frame it still needs, locked while the reader lives (``LAYOUT.md`` §11). The
engine reads it and never overwrites a frame the reader still needs; the ring
itself stays read-only to readers."""

from __future__ import annotations

import fcntl
import itertools
import logging
import mmap
import os
import struct
from typing import Optional

import numpy as np
import numpy.typing as npt

LOG = logging.getLogger("v2m")
MAGIC = b"V2MCURS\x00"
SIZE = 64
_ids = itertools.count()


class Cursor:
    """The cursor of one reader of ring ``name`` (generation ``generation``).

    It is built under a private name (``.v2m-NAME-cursor-N.PID.init``, the form of
    every unfinished file; engines remove such files whose creator died) and renamed
    into place complete and locked: the engine, which notices new cursor files before
    every overwrite, never finds one half-written or unlocked and takes it for a dead
    reader's."""

    def __init__(self, name: str, generation: int, needed: int) -> None:
        number, pid = next(_ids), os.getpid()
        self.path = f"/dev/shm/.v2m-{name}.cursor.{pid}.{number}"
        private = f"/dev/shm/.v2m-{name}-cursor-{number}.{pid}.init"
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        self._fd = os.open(private, flags, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            os.pwrite(self._fd, MAGIC + struct.pack("<QQ", generation, needed) + bytes(40), 0)
            self._map = mmap.mmap(self._fd, SIZE)
            self._needed: npt.NDArray[np.uint64] = np.ndarray(
                (1,), np.uint64, buffer=self._map, offset=16
            )
            os.rename(private, self.path)
        except BaseException:
            os.close(self._fd)
            os.unlink(private)
            raise

    def need(self, index: int) -> None:
        """Frames before ``index`` may be overwritten; ``index`` and later may not."""
        self._needed[0] = index

    def close(self) -> None:
        """Removes the cursor: the engine no longer waits for this reader."""
        if self._fd < 0:
            return
        del self._needed
        self._map.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = -1


class Pacing:
    """What a ``pace=True`` reader of ring ``name`` tells its engine through its cursor:
    the oldest frame it still needs. That is the frame it last handed out, or the index
    given to :meth:`keep_from` if older, but never so old that the engine could not
    publish the frame the reader waits for (the ring would stall)."""

    def __init__(self, name: str, generation: int, next_index: int, slots: int) -> None:
        self.name, self.slots = name, slots
        self._keep: Optional[int] = None
        self._next = next_index
        self._clamped = False  # said once that a hold outgrew the ring
        self._handed_out = False
        self._cursor = Cursor(name, generation, next_index)

    def keep_from(self, index: Optional[int]) -> None:
        """Frames from ``index`` on stay (None: only the frame last handed out)."""
        self._keep = index
        self._tell()

    @property
    def before_first(self) -> bool:
        """Nothing handed out yet: the engine may have overwritten this reader's first
        frames before it saw the cursor (an engine checks the cursors before each frame,
        so no frame after the first one handed out)."""
        return not self._handed_out

    def start_at(self, index: int) -> None:
        """The reader will begin with frame ``index`` (nothing handed out yet)."""
        self._next = index
        self._cursor.need(index)

    def handed_out(self, index: int) -> None:
        """The reader handed out frame ``index``; it reads ``index + 1`` next."""
        self._handed_out = True
        self._next = index + 1
        self._tell()

    def _tell(self) -> None:
        last = self._next - 1
        needed = last if self._keep is None else min(self._keep, last)
        lowest = self._next + 1 - self.slots
        if needed < lowest and not self._clamped:
            self._clamped = True
            LOG.warning(
                "ring %r: keeping frames from %d needs more than the ring's %d slots; the "
                "oldest go (start the engine with more --slots)",
                self.name,
                needed,
                self.slots,
            )
        self._cursor.need(max(needed, lowest, 0))

    def close(self) -> None:
        self._cursor.close()
