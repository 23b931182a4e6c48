"""A WAV file written as a stream and valid at every moment: the header's sizes are
rewritten after each block, so a recorder stopped by anything (Ctrl-C, SIGTERM, its
engine dying, even ``kill -9`` of the recorder itself) leaves a file every reader opens.
16-bit integer PCM or 32-bit IEEE float, mono.

Writing stops at the first error (a full disk): the file is cut back to the last
whole sample written and the header says exactly that, then :class:`WriteFailed`
tells why. Output paths are opened by :func:`open_output`, which never follows a
symbolic link, never blocks (a FIFO), and takes only a regular file."""

from __future__ import annotations

import errno
import os
import stat
import struct
from types import TracebackType
from typing import Optional, Type

import numpy as np
import numpy.typing as npt

FORMATS = ("int16", "float32")


class OutputRefused(OSError):
    """An output path cannot be written; the message says why and what to do."""


class WriteFailed(OSError):
    """Writing stopped (a full disk, an I/O error); what was written is valid."""


def open_output(path: str) -> int:
    """Opens ``path`` for writing (created 0644, or truncated): only a regular file, never
    through a symbolic link, never blocking; :class:`OutputRefused` otherwise."""
    parent = os.path.dirname(os.path.abspath(path))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise OutputRefused(f"cannot write {path}: {e.strerror}") from None
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise OutputRefused(
            f"{path} is a symbolic link; links at the output are not followed: "
            "give the path of the file itself"
        )
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputRefused(f"{path} is a directory; give the path of a file to write")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OutputRefused(f"{path} is {_kind(st.st_mode)}, not a regular file; give another path")
    if not os.path.isdir(parent):
        raise OutputRefused(f"cannot write {path}: the directory {parent} does not exist")
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OutputRefused(
                f"{path} is a symbolic link; give the path of the file itself"
            ) from None
        raise OutputRefused(f"cannot write {path}: {e.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the look and the open
        os.close(fd)
        raise OutputRefused(f"{path} is not a regular file; give another path")
    os.ftruncate(fd, 0)
    return fd


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


class WavWriter:
    """Appends float32 samples in [-1, 1] to a WAV file of ``rate`` Hz and ``channels``
    interleaved channels on ``fd`` (from :func:`open_output`; the writer closes it).
    ``samples`` counts sample frames (one sample of every channel)."""

    def __init__(
        self, fd: int, path: str, rate: int, sample_format: str = "int16", channels: int = 1
    ) -> None:
        if sample_format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {sample_format!r}")
        self.path, self.rate, self.format, self.channels = path, rate, sample_format, channels
        self.samples = 0
        floating = sample_format == "float32"
        self._width = (4 if floating else 2) * channels  # bytes per sample frame
        block = self._width
        bits = 32 if floating else 16
        if floating:  # WAVE_FORMAT_IEEE_FLOAT: an 18-byte fmt chunk and a fact chunk
            fmt = struct.pack("<HHIIHHH", 3, channels, rate, rate * block, block, bits, 0)
            extra = b"fact" + struct.pack("<II", 4, 0)
        else:
            fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
            extra = b""
        header = b"RIFF\0\0\0\0WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
        self._fact_at = len(header) - 4 if floating else None
        self._size_at = len(header) + 4  # the data chunk's size field
        self._payload_at = len(header) + 8
        self._fd = fd
        self._write_all(header + b"data\0\0\0\0", 0)
        self._sync_sizes()

    @property
    def seconds(self) -> float:
        """Audio written so far."""
        return self.samples / self.rate

    def write(self, samples: npt.NDArray[np.float32]) -> None:
        """Appends ``samples`` and makes the header say so; :class:`WriteFailed` when the
        file cannot take them (the header then says what it holds)."""
        if self.format == "float32":
            data = np.asarray(samples, "<f4").tobytes()
        else:
            scaled = np.rint(np.clip(samples, -1.0, 1.0) * 32767.0)
            data = scaled.astype("<i2").tobytes()
        at = self._payload_at + self.samples * self._width
        try:
            self._write_all(data, at)
        except OSError as e:
            self._sync_sizes()
            os.ftruncate(self._fd, self._payload_at + self.samples * self._width)
            raise WriteFailed(e.errno, f"cannot write {self.path}: {e.strerror}") from None
        self._sync_sizes()

    def _write_all(self, data: bytes, at: int) -> None:
        """Writes all of ``data`` at offset ``at``; a short write goes on where it stopped,
        and whole samples written before an error are counted."""
        view, done = memoryview(data), 0
        try:
            while done < len(view):
                done += os.pwrite(self._fd, view[done:], at + done)
        finally:
            if at >= self._payload_at:
                self.samples += done // self._width

    def write_silence(self, count: int) -> None:
        """Appends ``count`` zero sample frames (a gap in the stream keeps its place in
        time)."""
        self.write(np.zeros(count * self.channels, np.float32))

    def _sync_sizes(self) -> None:
        data = self.samples * self._width
        os.pwrite(self._fd, struct.pack("<I", self._payload_at + data - 8), 4)
        os.pwrite(self._fd, struct.pack("<I", data), self._size_at)
        if self._fact_at is not None:
            os.pwrite(self._fd, struct.pack("<I", self.samples), self._fact_at)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "WavWriter":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()
