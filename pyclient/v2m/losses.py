"""Saying that a reader lost frames: through ``logging`` (logger ``v2m``), summed, at
most once a second, each message counting the frames lost since the previous one."""

from __future__ import annotations

import logging
import time

LOG = logging.getLogger("v2m")
INTERVAL_S = 1.0
"""Losses are reported at most this often."""


class LossLog:
    """The loss warnings of one reader of ring ``name`` (``slots`` frames of ``frame_s``)."""

    def __init__(self, name: str, slots: int, frame_s: float) -> None:
        self.name, self.slots, self.frame_s = name, slots, frame_s
        self._reported = 0  # losses already said
        self._said_at = -INTERVAL_S

    def note(self, dropped: int) -> None:
        """The reader has lost ``dropped`` frames in all; says so unless it did less than
        :data:`INTERVAL_S` ago (the next message then sums them)."""
        now = time.monotonic()
        if dropped <= self._reported or now - self._said_at < INTERVAL_S:
            return
        LOG.warning(
            "ring %r: %d frames lost (%d in all): this reader fell more than %d frames "
            "(%.0f s) behind the engine; read faster, or replay files with "
            "--pace-to-readers and Reader(pace=True)",
            self.name,
            dropped - self._reported,
            dropped,
            self.slots,
            self.slots * self.frame_s,
        )
        self._reported, self._said_at = dropped, now
