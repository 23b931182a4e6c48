"""The speech decision: when speech starts and ends, given each frame's probability.

One rule, Silero's (``get_speech_timestamps``, ``VADIterator``), in three layers that
build on it:

1. The engine's speech flag (``frame.speech``): the rule with the engine's settings
   (``--vad-threshold``, ``--vad-neg-threshold``, ``--vad-min-silence-ms``; the ring's
   header records them). The engine's ``SpeechGate`` implements it in Rust.
2. :meth:`v2m.Reader.vad_events`: the rule's edges as events, by default with the
   engine's settings, so its events fall exactly where the flag rises and falls.
3. :meth:`v2m.Reader.utterances`: the rule with its own defaults (500 ms of silence),
   then segments: too-short speech dropped, pads added, long speech split.

The rule: speech starts at a frame whose probability reaches ``threshold``. It ends
once ``min_silence`` frames have passed since the first frame below ``neg_threshold``
with no frame at ``threshold`` since; a frame between the thresholds neither ends nor
resumes it. A discontinuity (audio missing before a frame) ends speech at the gap.
``tests/test_speech_rule.py`` checks that this module and the engine agree frame by
frame.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

from . import checks
from .layout import HeaderInfo

NEG_THRESHOLD_GAP = 0.15
"""Without an explicit ``neg_threshold``, it is this much below ``threshold`` (Silero's
rule, and the engine's ``--vad-neg-threshold`` default: ``v2m-engine flags`` says so,
and a test checks the two agree)."""


def neg_threshold_for(threshold: float) -> float:
    """The end threshold that goes with ``threshold`` when none is given."""
    return max(0.0, threshold - NEG_THRESHOLD_GAP)


def silence_frames(min_silence_ms: float, frame_ms: float) -> int:
    """Frames of ``frame_ms`` that ``min_silence_ms`` of silence takes (at least one)."""
    return max(1, math.ceil(min_silence_ms / frame_ms))


class SpeechHysteresis:
    """The speech decision over a stream of frames (see the module's rule)."""

    def __init__(self, threshold: float, neg_threshold: float, min_silence: int) -> None:
        self.threshold, self.neg_threshold, self.min_silence = threshold, neg_threshold, min_silence
        self.start: Optional[int] = None
        """The first frame of the speech under way; None in silence."""
        self.silence_from: Optional[int] = None
        """The first frame of the quiet run that may end it; None while it goes on."""
        self.ended_at: Optional[int] = None
        """After an "end": the first quiet frame, one past the speech's last frame."""
        self.resumed: Optional[Tuple[int, int]] = None
        """After a frame at ``threshold`` ended a quiet run: ``(its first frame, this
        frame)``, the pause the speech had."""

    @property
    def speaking(self) -> bool:
        return self.start is not None

    def feed(self, index: int, probability: float) -> Optional[str]:
        """Takes frame ``index``; ``"start"`` if speech starts at it, ``"end"`` if it
        decides that speech ended (at :attr:`ended_at`), else None."""
        self.resumed = None
        if probability >= self.threshold:
            if self.start is None:
                self.start = index
                return "start"
            if self.silence_from is not None:
                self.resumed = (self.silence_from, index)
            self.silence_from = None
            return None
        if self.start is None:
            return None
        if probability < self.neg_threshold and self.silence_from is None:
            self.silence_from = index
        if self.silence_from is not None and index - self.silence_from >= self.min_silence:
            self.ended_at = self.silence_from
            self.start = self.silence_from = None
            return "end"
        return None

    def cut(self) -> None:
        """A discontinuity: whatever was speech is over; the next frame decides anew."""
        self.start = self.silence_from = self.resumed = None


def thresholds(
    info: HeaderInfo, threshold: Optional[float], neg_threshold: Optional[float]
) -> Tuple[float, float]:
    """The start and end thresholds options ask for: the engine's (from the header) when
    neither is given; ``neg_threshold_for(threshold)`` when only ``threshold`` is.
    Checked: probabilities, the end one not above the start one."""
    if threshold is None:
        threshold = info.vad_threshold
        if neg_threshold is None:
            neg_threshold = info.vad_neg_threshold
    checks.probability("threshold", threshold)
    if neg_threshold is None:
        neg_threshold = neg_threshold_for(threshold)
    checks.probability("neg_threshold", neg_threshold)
    if neg_threshold > threshold:
        raise ValueError(
            f"neg_threshold ({neg_threshold}) must not be above threshold ({threshold})"
        )
    return threshold, neg_threshold
