"""A WAV file written as a stream and valid at every moment: the header's sizes are
rewritten after each block, so a recorder stopped by anything (Ctrl-C, SIGTERM, its
engine dying, even ``kill -9`` of the recorder itself) leaves a file every reader opens.
16-bit integer PCM or 32-bit IEEE float, mono."""

from __future__ import annotations

import os
import struct
from types import TracebackType
from typing import Optional, Type

import numpy as np
import numpy.typing as npt

FORMATS = ("int16", "float32")


class WavWriter:
    """Appends float32 samples in [-1, 1] to a mono WAV file of ``rate`` Hz."""

    def __init__(self, path: str, rate: int, sample_format: str = "int16") -> None:
        if sample_format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {sample_format!r}")
        self.path, self.rate, self.format = path, rate, sample_format
        self.samples = 0
        floating = sample_format == "float32"
        self._width = 4 if floating else 2
        block = self._width
        if floating:  # WAVE_FORMAT_IEEE_FLOAT: an 18-byte fmt chunk and a fact chunk
            fmt = struct.pack("<HHIIHHH", 3, 1, rate, rate * block, block, 32, 0)
            extra = b"fact" + struct.pack("<II", 4, 0)
        else:
            fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * block, block, 16)
            extra = b""
        header = b"RIFF\0\0\0\0WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
        self._fact_at = len(header) - 4 if floating else None
        self._size_at = len(header) + 4  # the data chunk's size field
        self._payload_at = len(header) + 8
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        os.write(self._fd, header + b"data\0\0\0\0")
        self._sync_sizes()

    @property
    def seconds(self) -> float:
        """Audio written so far."""
        return self.samples / self.rate

    def write(self, samples: npt.NDArray[np.float32]) -> None:
        """Appends ``samples`` and makes the header say so."""
        if self.format == "float32":
            data = np.asarray(samples, "<f4").tobytes()
        else:
            scaled = np.rint(np.clip(samples, -1.0, 1.0) * 32767.0)
            data = scaled.astype("<i2").tobytes()
        os.write(self._fd, data)
        self.samples += len(data) // self._width
        self._sync_sizes()

    def write_silence(self, count: int) -> None:
        """Appends ``count`` zero samples (a gap in the stream keeps its place in time)."""
        self.write(np.zeros(count, np.float32))

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
