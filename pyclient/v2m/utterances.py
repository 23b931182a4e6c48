"""VAD-gated speech segments, ready for a recognizer."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional, Protocol, Tuple, TypedDict

import numpy as np
import numpy.typing as npt

from .frame import Frame
from .layout import HeaderInfo

if TYPE_CHECKING:
    from typing_extensions import Unpack


class UtteranceOptions(TypedDict, total=False):
    """How :meth:`v2m.Reader.utterances` cuts speech; every key is optional.

    Parameter meanings follow Silero's ``get_speech_timestamps``.
    """

    min_speech_ms: float
    """Speech shorter than this is dropped (250)."""
    min_silence_ms: float
    """Silence that ends an utterance (500)."""
    speech_pad_ms: float
    """Audio kept on each side of the speech (300)."""
    max_utterance_s: float
    """Longer speech is split into pieces of at most this (30)."""
    threshold: Optional[float]
    """Probability at which speech starts (None: the engine's, from the header)."""
    neg_threshold: Optional[float]
    """Probability below which speech may end (None: the engine's)."""


SPLIT_PAUSE_MS = 100
"""A segment longer than ``max_utterance_s`` is split at its last pause of at least
this long (Silero's rule), or else at the limit."""

DEFAULTS: UtteranceOptions = {
    "min_speech_ms": 250,
    "min_silence_ms": 500,
    "speech_pad_ms": 300,
    "max_utterance_s": 30,
    "threshold": None,
    "neg_threshold": None,
}


class FrameSource(Protocol):
    """What cutting utterances needs of a reader (:class:`v2m.Reader` is one)."""

    info: HeaderInfo

    def __iter__(self) -> Iterator[Frame]: ...

    @property
    def frame_duration(self) -> float: ...

    @property
    def write_seq(self) -> int: ...

    @property
    def slots(self) -> int: ...

    @property
    def frame_samples(self) -> int: ...

    @property
    def sample_rate(self) -> int: ...

    def peek(self, index: int) -> Optional[Frame]: ...

    def window(self, first_index: int, count: int) -> npt.NDArray[np.float32]: ...

    def frames_valid(self, first_index: int, count: int) -> bool: ...


@dataclass(eq=False)  # identity equality: comparing audio arrays element-wise is not equality
class Utterance:
    """One stretch of speech with its padding.

    Attributes
    ----------
    audio
        ``float32`` mono samples at the ring rate, shape ``(n,)``: a read-only view of the
        ring when the utterance does not wrap its end (valid until the writer laps the
        ring; see :meth:`valid`), a private copy otherwise.
    start_ns, end_ns
        CLOCK_MONOTONIC capture times of the first sample and just after the last.
    first_index
        Index of the first frame (padding included).
    frames
        Frames in the utterance.
    dropped
        Frames inside it that were lost (overwritten before they could be read); their
        samples are zeros in ``audio``.
    complete
        False when cut by ``max_utterance_s``, a discontinuity, or the ring closing.
    """

    audio: npt.NDArray[np.float32]
    start_ns: int
    end_ns: int
    first_index: int
    frames: int
    dropped: int
    complete: bool
    _reader: Optional[FrameSource] = None

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return (self.end_ns - self.start_ns) / 1e9

    def valid(self) -> bool:
        """True while the ring still holds every frame of a zero-copy ``audio``."""
        if self.audio.flags.owndata or self._reader is None:
            return True
        return self._reader.frames_valid(self.first_index, self.frames)


@dataclass
class _Segment:
    start: int  # first speech frame
    end: int  # one past the last speech frame
    complete: bool
    continues: bool = False  # the rest of a segment split at max_utterance_s


def checked(options: UtteranceOptions) -> UtteranceOptions:
    """``options`` over the defaults; an unknown name is a TypeError, as for a function."""
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TypeError(
            f"unknown utterance option(s) {', '.join(sorted(unknown))}; "
            f"the options are {', '.join(DEFAULTS)}"
        )
    merged: UtteranceOptions = {**DEFAULTS, **options}
    return merged


def utterances(reader: FrameSource, **options: Unpack[UtteranceOptions]) -> Iterator[Utterance]:
    """Speech segments from ``reader``'s frames, as Silero's ``get_speech_timestamps``
    cuts them (see :meth:`v2m.Reader.utterances` for the options)."""
    o = checked(options)
    return _segments(reader, o)


def _segments(reader: FrameSource, o: UtteranceOptions) -> Iterator[Utterance]:
    frame_ms = 1000 * reader.frame_duration
    threshold, neg_threshold = o["threshold"], o["neg_threshold"]
    thr = reader.info.vad_threshold if threshold is None else threshold
    neg = reader.info.vad_neg_threshold if neg_threshold is None else neg_threshold
    min_speech = max(1, math.ceil(o["min_speech_ms"] / frame_ms))
    min_silence = max(1, math.ceil(o["min_silence_ms"] / frame_ms))
    pad = math.ceil(o["speech_pad_ms"] / frame_ms)
    max_frames = max(1, int(o["max_utterance_s"] * 1000 / frame_ms))
    min_pause = max(1, math.ceil(SPLIT_PAUSE_MS / frame_ms))

    start: Optional[int] = None  # first frame of the speech being heard
    continued = False  # that speech continues a segment split at max_utterance_s
    silence_from: Optional[int] = None  # first frame of the current quiet run
    pause: Optional[Tuple[int, int]] = None  # (start, end) of the last pause in the speech
    pending: Optional[_Segment] = None  # ended, waiting for its trailing padding
    # Audio before this frame is off limits: it belongs to the previous
    # utterance, or lies before a discontinuity.
    floor = 0

    def emit(segment: _Segment, limit: float = math.inf) -> Utterance:
        """The utterance of ``segment`` with its padding; the trailing pad stops at
        ``limit`` (the next speech's share of the gap, or a discontinuity)."""
        nonlocal floor
        before = floor if segment.continues else max(segment.start - pad, floor)
        after = int(min(segment.end + pad, limit, reader.write_seq))
        floor = after
        return _build(reader, before, after, segment.complete)

    def shared_gap(end: int, next_start: int) -> int:
        """Neighbouring utterances split the silence between them."""
        return end + (next_start - end) // 2

    def heard_so_far(end: int) -> Optional[_Segment]:
        """The speech in progress, cut short at ``end`` (a discontinuity, the ring
        closing); None if it is too short to keep."""
        assert start is not None
        speech_end = silence_from if silence_from is not None else end
        if speech_end > start and (speech_end - start >= min_speech or continued):
            return _Segment(start, speech_end, complete=False, continues=continued)
        return None

    last_index = -1
    for frame in reader:
        index = frame.index
        last_index = index
        if pending is not None and index >= pending.end + pad:
            yield emit(pending)
            pending = None
        if frame.discontinuity:
            # Audio before this frame is missing: nothing is joined across the gap.
            if pending is not None:
                yield emit(pending, limit=index)
                pending = None
            if start is not None:
                cut = heard_so_far(index)
                if cut is not None:
                    yield emit(cut, limit=index)
                start, silence_from, continued, pause = None, None, False, None
            floor = max(floor, index)
        p = frame.vad_prob
        if start is None:
            if p >= thr:
                start, silence_from, pause = index, None, None
                if pending is not None:
                    yield emit(pending, limit=shared_gap(pending.end, start))
                    pending = None
            continue
        if p >= thr:
            if silence_from is not None and index - silence_from >= min_pause:
                pause = (silence_from, index)
            silence_from = None
        elif p < neg and silence_from is None:
            silence_from = index
        if silence_from is not None and index - silence_from + 1 >= min_silence:
            if silence_from - start >= min_speech or continued:
                pending = _Segment(start, silence_from, complete=True, continues=continued)
            start, silence_from, continued, pause = None, None, False, None
        elif silence_from is None and index - start + 1 >= max_frames:
            # Too long: split at the last pause, like Silero, or else right here.
            if pause is not None and pause[0] - start >= min_speech:
                quiet, resumed = pause
                yield emit(_Segment(start, quiet, False, continued), shared_gap(quiet, resumed))
                start = resumed
            else:
                yield emit(_Segment(start, index + 1, False, continued), limit=index + 1)
                start = index + 1
            continued, pause = True, None
    # The ring closed.
    if pending is not None:
        yield emit(pending)
    if start is not None:
        cut = heard_so_far(last_index + 1)
        if cut is not None:
            yield emit(cut)


def _build(reader: FrameSource, first: int, end: int, complete: bool) -> Utterance:
    """The utterance of frames ``first .. end-1``: zero-copy when they do not wrap."""
    count = max(1, end - first)
    slots, size = reader.slots, reader.frame_samples
    wraps = (first % slots) + count > slots
    frames = [reader.peek(first + k) for k in range(count)]
    audio: Optional[npt.NDArray[np.float32]] = None
    if not wraps and all(frames):
        try:
            audio = reader.window(first, count)
        except ValueError:  # overwritten meanwhile: copy what is left
            audio = None
    if audio is None:
        audio = np.zeros(count * size, np.float32)
        for k, frame in enumerate(frames):
            if frame is not None:
                audio[k * size : (k + 1) * size] = frame.samples
                if not frame.valid():
                    audio[k * size : (k + 1) * size] = 0
                    frames[k] = None
    dropped = sum(f is None for f in frames)
    known = next((f for f in frames if f is not None), None)
    frame_ns = round(reader.frame_duration * 1e9)
    start_ns = 0 if known is None else known.capture_ns - (known.index - first) * frame_ns
    last = frames[-1]
    if last is not None and last.padded:  # the source ended inside the last frame
        audio = audio[: (count - 1) * size + last.valid_samples]
    end_ns = start_ns + round(len(audio) / reader.sample_rate * 1e9)
    return Utterance(audio, start_ns, end_ns, first, count, dropped, complete, reader)
