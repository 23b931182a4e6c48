"""One published frame, as a reader hands it out."""

from __future__ import annotations

from typing import Tuple

import numpy as np
import numpy.typing as npt

from . import layout
from .ordering import Fence, no_fence


class Frame:
    """One published frame.

    ``samples`` is a read-only ``float32`` view of shape ``(frame_samples,)``
    (``(frame_samples, channels)`` for multichannel rings) into the ring
    itself: no copy. It stays valid until the writer laps the ring
    (``slots`` frames later); call :meth:`valid` after using it, or keep
    ``samples.copy()``. A reader opened with ``copy=True`` hands out private
    copies instead, checked untorn before they are returned.
    """

    __slots__ = (
        "index",
        "samples",
        "vad_prob",
        "speech",
        "capture_ns",
        "publish_ns",
        "rms",
        "peak",
        "flags",
        "valid_samples",
        "arrival_ns",
        "samples_ns",
        "stream_s",
        "_stamps",
        "_slot",
        "_stamp",
        "_fence",
    )

    def __init__(
        self,
        meta: Tuple[int, int, int, int, float, int, float, float, int, int, int],
        samples: npt.NDArray[np.float32],
        stamps: npt.NDArray[np.uint64],
        slot: int,
        frame_s: float = 0.0,
        samples_ns: int = 0,
        fence: Fence = no_fence,
    ) -> None:
        stamp, self.index, self.capture_ns, self.publish_ns = meta[0], meta[1], meta[2], meta[3]
        self.vad_prob: float = meta[4]
        self.speech: bool = bool(meta[5])
        self.rms: float = meta[6]
        self.peak: float = meta[7]
        self.flags: int = meta[8]
        self.valid_samples: int = meta[9]
        self.arrival_ns: int = meta[10]
        """When the engine received the frame's last sample (0 from a layout-1.0 engine)."""
        self.samples_ns: int = samples_ns
        """When the engine published the frame's samples, before its VAD result (0 from
        an engine older than layout 1.2). ``publish_ns`` is when the whole frame was."""
        self.samples = samples
        self.stream_s: float = self.index * frame_s
        """Position of the frame's first sample in the stream, in seconds of audio
        (a file's position, whatever the replay speed; counted from the engine's start)."""
        self._stamps = stamps
        self._slot = slot
        self._stamp = stamp
        self._fence = fence

    @property
    def vad_pending(self) -> bool:
        """Handed out before its VAD result (a reader with ``wait_for_vad=False``):
        ``vad_prob`` is NaN, ``speech`` False and ``publish_ns`` 0."""
        return self.publish_ns == 0

    def valid(self) -> bool:
        """True while the writer has not started overwriting this frame's slot: the
        reads of :attr:`samples` before this call were of this frame, untorn."""
        self._fence()  # the caller's reads of the view before the stamp's load
        return int(self._stamps[self._slot]) == self._stamp

    @property
    def discontinuity(self) -> bool:
        """Audio before this frame is missing: do not join it to the previous frame."""
        return bool(self.flags & layout.FLAG_DISCONTINUITY)

    @property
    def source_restart(self) -> bool:
        """The source started over before this frame: a device reopened (after a
        failure, or on the system's new default source) or a looped file."""
        return bool(self.flags & layout.FLAG_SOURCE_RESTART)

    @property
    def device_overrun(self) -> bool:
        """The capture device overran (an xrun) before this frame."""
        return bool(self.flags & layout.FLAG_DEVICE_OVERRUN)

    @property
    def padded(self) -> bool:
        """The source ended inside this frame; samples past ``valid_samples`` are zeros."""
        return bool(self.flags & layout.FLAG_PADDED)

    def __repr__(self) -> str:
        return (
            f"Frame(index={self.index}, vad_prob={self.vad_prob:.3f}, speech={self.speech}, "
            f"rms={self.rms:.4f}, flags={self.flags:#x})"
        )
