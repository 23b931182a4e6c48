"""Cutting a stream of per-frame VAD probabilities into padded speech segments.

A push-style state machine: feed it each frame's index, probability and
discontinuity flag; it hands back the frame ranges of finished segments. It
knows nothing of rings or audio, so :func:`v2m.Reader.utterances` builds
utterances from its output, and tools that see every frame anyway (the
recorder, VAD events) use it directly.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import List, Optional, Tuple

from .speech import SpeechHysteresis, silence_frames

SPLIT_PAUSE_MS = 100
"""A segment longer than ``max_utterance_s`` is split at its last pause of at least
this long (Silero's rule), or else at the limit."""


@dataclass(frozen=True)
class Span:
    """Frames ``first .. end-1`` of one segment, its padding included."""

    first: int
    end: int
    complete: bool
    """False when cut by the length limit, a discontinuity or the end of the stream, or
    when a pad is short because audio is missing there (a gap, or history before the
    first frame seen): True only when the speech and both pads are as the stream had
    them."""


@dataclass
class _Speech:
    start: int  # first speech frame
    end: int  # one past the last speech frame
    complete: bool
    continues: bool = False  # the rest of a segment split at the length limit


class Segmenter:
    """Speech segments with the parameter meanings of Silero's ``get_speech_timestamps``.

    Parameters are in frames: speech starts and ends by :mod:`v2m.speech`'s rule
    (``threshold``, ``neg_threshold``, ``min_silence``); speech shorter than
    ``min_speech`` frames is dropped; ``pad`` frames are added on
    each side (pads of neighbours never overlap); speech longer than
    ``max_frames`` is split at its last pause of ``min_pause`` frames or more,
    else at the limit. Nothing is joined across a discontinuity.
    """

    def __init__(
        self,
        threshold: float,
        neg_threshold: float,
        min_speech: int,
        min_silence: int,
        pad: int,
        max_frames: int,
        min_pause: int,
    ) -> None:
        self.min_speech, self.min_silence, self.pad = min_speech, min_silence, pad
        self.max_frames, self.min_pause = max_frames, min_pause
        self._speech = SpeechHysteresis(threshold, neg_threshold, min_silence)
        self._start: Optional[int] = None  # first frame of this segment's speech
        self._continued = False  # that speech continues a segment split at the limit
        self._pause: Optional[Tuple[int, int]] = None  # last pause (start, end) in the speech
        self._pending: Optional[_Speech] = None  # ended, waiting for its trailing pad
        # Frames before this are off limits: they belong to the previous
        # segment, or lie before a discontinuity.
        self._floor = 0
        # The floor is a gap (a discontinuity, or a past this segmenter never saw):
        # speech or a pad reaching it may have begun before it.
        self._floor_is_gap = False
        self._last = -1

    @classmethod
    def for_frames(
        cls,
        frame_ms: float,
        threshold: float,
        neg_threshold: float,
        min_speech_ms: float,
        min_silence_ms: float,
        speech_pad_ms: float,
        max_utterance_s: float,
    ) -> "Segmenter":
        """A segmenter with its durations given in milliseconds, for frames of
        ``frame_ms``, rounded the way ``get_speech_timestamps`` compares them: speech
        must last *more* than ``min_speech_ms``, silence at least ``min_silence_ms``
        past the first quiet frame."""
        max_frames = (
            sys.maxsize
            if math.isinf(max_utterance_s)
            else max(1, int(max_utterance_s * 1000 / frame_ms))
        )
        return cls(
            threshold,
            neg_threshold,
            min_speech=max(1, math.floor(min_speech_ms / frame_ms) + 1),
            min_silence=silence_frames(min_silence_ms, frame_ms),
            pad=math.ceil(speech_pad_ms / frame_ms),
            max_frames=max_frames,
            min_pause=max(1, math.ceil(SPLIT_PAUSE_MS / frame_ms)),
        )

    def begin_at(self, index: int) -> None:
        """The stream is seen from frame ``index`` on; before it (unless it is the
        stream's first frame, 0) there was audio this segmenter never saw."""
        self._floor, self._floor_is_gap, self._last = index, index > 0, index - 1

    def oldest_needed(self) -> int:
        """The oldest frame a segment not yet handed out may still take: the start of
        the pending or current speech's leading pad, or the pre-roll a speech starting
        at the next frame would take."""
        if self._pending is not None:
            return self._lead(self._pending.start, self._pending.continues)
        if self._start is not None:
            return self._lead(self._start, self._continued)
        return self._lead(self._last + 1, False)

    def _lead(self, start: int, continues: bool) -> int:
        """The first frame of the leading pad of speech starting at ``start``."""
        return self._floor if continues else max(start - self.pad, self._floor)

    @property
    def speaking(self) -> bool:
        """Speech is in progress (it may still turn out too short to keep)."""
        return self._start is not None

    def feed(self, index: int, probability: float, discontinuity: bool = False) -> List[Span]:
        """Takes frame ``index``; the segments it finished."""
        out: List[Span] = []
        self._last = index
        pending = self._pending
        if pending is not None and index >= pending.end + self.pad:
            out.append(self._emit(pending))
        if discontinuity:
            # Audio before this frame is missing: nothing is joined across the gap.
            if self._pending is not None:
                out.append(self._emit(self._pending, limit=index, gap=True))
            if self._start is not None:
                cut = self._heard_so_far(index)
                if cut is not None:
                    out.append(self._emit(cut, limit=index, gap=True))
                self._reset()
            self._speech.cut()
            self._floor, self._floor_is_gap = max(self._floor, index), True
        edge = self._speech.feed(index, probability)
        if edge == "start":
            self._start, self._continued, self._pause = index, False, None
            if self._pending is not None:
                out.append(self._emit(self._pending, limit=_shared(self._pending.end, index)))
            return out
        start = self._start
        if start is None:
            return out
        resumed = self._speech.resumed
        if resumed is not None and resumed[1] - resumed[0] >= self.min_pause:
            self._pause = resumed
        if edge == "end":
            silence_from = self._speech.ended_at
            assert silence_from is not None
            if silence_from - start >= self.min_speech or self._continued:
                self._pending = _Speech(start, silence_from, True, self._continued)
            self._reset()
        elif self._speech.silence_from is None and index - start + 1 >= self.max_frames:
            # Too long: split at the last pause, like Silero, or else right here.
            pause = self._pause
            if pause is not None and pause[0] - start >= self.min_speech:
                quiet, resumed_at = pause
                out.append(
                    self._emit(
                        _Speech(start, quiet, False, self._continued), _shared(quiet, resumed_at)
                    )
                )
                self._start = resumed_at
            else:
                out.append(self._emit(_Speech(start, index + 1, False, self._continued), index + 1))
                self._start = index + 1
            self._continued, self._pause = True, None
        return out

    def finish(self) -> List[Span]:
        """The stream ended after the last frame fed: what is still open."""
        out: List[Span] = []
        if self._pending is not None:
            out.append(self._emit(self._pending))
        if self._start is not None:
            cut = self._heard_so_far(self._last + 1)
            if cut is not None:
                out.append(self._emit(cut))
            self._reset()
            self._speech.cut()
        return out

    def _reset(self) -> None:
        self._start, self._continued, self._pause = None, False, None

    def _heard_so_far(self, end: int) -> Optional[_Speech]:
        """The speech in progress, cut short at ``end``; None if too short to keep."""
        assert self._start is not None
        start = self._start
        quiet_from = self._speech.silence_from
        speech_end = quiet_from if quiet_from is not None else end
        if speech_end > start and (speech_end - start >= self.min_speech or self._continued):
            return _Speech(start, speech_end, complete=False, continues=self._continued)
        return None

    def _emit(self, speech: _Speech, limit: float = math.inf, gap: bool = False) -> Span:
        """The span of ``speech`` with its pads; the trailing pad stops at ``limit``
        (the next speech's share of the silence, or a discontinuity: ``gap``) and at the
        newest frame. A pad cut short by missing audio makes the span incomplete."""
        if speech is self._pending:
            self._pending = None
        before = self._lead(speech.start, speech.continues)
        after = int(min(speech.end + self.pad, limit, self._last + 1))
        lead_missing = (
            not speech.continues
            and self._floor_is_gap
            and speech.start - max(self.pad, 1) < self._floor
        )
        trail_missing = gap and after < speech.end + self.pad
        self._floor, self._floor_is_gap = after, False
        return Span(before, after, speech.complete and not lead_missing and not trail_missing)


def _shared(end: int, next_start: int) -> int:
    """Neighbouring segments split the silence between them."""
    return end + (next_start - end) // 2
