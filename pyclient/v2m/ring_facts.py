"""What a reader says of its ring, all from the validated header (:class:`v2m.layout.HeaderInfo`)."""

from __future__ import annotations

import time

from .layout import HeaderInfo


class RingFacts:
    """The ring's format and identity, read from ``info`` (a base class of
    :class:`v2m.Reader`)."""

    info: HeaderInfo

    @property
    def sample_rate(self) -> int:
        """Samples per second."""
        return self.info.sample_rate

    @property
    def frame_samples(self) -> int:
        """Samples per channel in a frame."""
        return self.info.frame_samples

    @property
    def channels(self) -> int:
        """Interleaved channels (1 for everything the engine writes today)."""
        return self.info.channels

    @property
    def slots(self) -> int:
        """Frames the ring holds."""
        return self.info.slot_count

    @property
    def frame_duration(self) -> float:
        """Seconds of audio in one frame."""
        return self.info.frame_samples / self.info.sample_rate

    @property
    def generation(self) -> int:
        """The engine start this ring belongs to."""
        return self.info.generation

    @property
    def uptime(self) -> float:
        """Seconds since the engine created the ring."""
        return (time.monotonic_ns() - self.info.created_mono_ns) / 1e9
