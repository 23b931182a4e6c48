"""A pacing reader's cursor, for engines started with ``--pace-to-readers``: a
64-byte file of the reader's own (``/dev/shm/.v2m-NAME.cursor.PID.N``) saying which
frame it still needs, locked while the reader lives (``LAYOUT.md`` §11). The
engine reads it and never overwrites a frame the reader still needs; the ring
itself stays read-only to readers."""

from __future__ import annotations

import fcntl
import itertools
import mmap
import os
import struct

import numpy as np
import numpy.typing as npt

MAGIC = b"V2MCURS\x00"
SIZE = 64
_ids = itertools.count()


class Cursor:
    """The cursor of one reader of ring ``name`` (generation ``generation``)."""

    def __init__(self, name: str, generation: int, needed: int) -> None:
        self.path = f"/dev/shm/.v2m-{name}.cursor.{os.getpid()}.{next(_ids)}"
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            os.pwrite(self._fd, MAGIC + struct.pack("<QQ", generation, needed) + bytes(40), 0)
            self._map = mmap.mmap(self._fd, SIZE)
            self._needed: npt.NDArray[np.uint64] = np.ndarray(
                (1,), np.uint64, buffer=self._map, offset=16
            )
        except BaseException:
            os.close(self._fd)
            os.unlink(self.path)
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
