"""Speech start and end events as they happen, like silero-vad's ``VADIterator``:
``reader.vad_events()``.

Where :meth:`v2m.Reader.utterances` hands out whole padded segments once they are
over, this reports each edge as soon as it is decided, for a UI, a "listening"
light, or a push-to-talk replacement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional, Protocol, TypedDict

from . import checks
from .frame import Frame
from .layout import HeaderInfo
from .speech import SpeechHysteresis, silence_frames, thresholds

if TYPE_CHECKING:
    from typing_extensions import Unpack


class VadEventOptions(TypedDict, total=False):
    """How :meth:`v2m.Reader.vad_events` decides; every key is optional. By default the
    engine's own settings (from the ring's header), so the events fall exactly where
    the engine's speech flag rises and falls; the meanings are ``VADIterator``'s."""

    threshold: Optional[float]
    """Probability at which speech starts (None: the engine's)."""
    neg_threshold: Optional[float]
    """Probability below which speech may end (None: the engine's, or
    ``threshold - 0.15`` when ``threshold`` is given)."""
    min_silence_ms: Optional[float]
    """Silence after which speech ends (None: the engine's ``--vad-min-silence-ms``)."""
    speech_pad_ms: float
    """Moves each start earlier and each end later by this much (30); never across a
    discontinuity."""


DEFAULTS: VadEventOptions = {
    "threshold": None,
    "neg_threshold": None,
    "min_silence_ms": None,
    "speech_pad_ms": 30,
}


@dataclass(frozen=True)
class VadEvent:
    """Speech started or ended.

    Attributes
    ----------
    kind
        ``"start"`` or ``"end"``.
    sample
        Position in the stream, in samples (padding applied).
    time_s
        The same in seconds.
    index
        The frame that decided it (its ``publish_ns`` says when).
    publish_ns
        When that frame was published (CLOCK_MONOTONIC).
    """

    kind: str
    sample: int
    time_s: float
    index: int
    publish_ns: int


class _Frames(Protocol):
    info: HeaderInfo

    def __iter__(self) -> Iterator[Frame]: ...

    @property
    def frame_samples(self) -> int: ...

    @property
    def sample_rate(self) -> int: ...

    @property
    def frame_duration(self) -> float: ...

    def keep_from(self, index: Optional[int]) -> None: ...


def vad_events(reader: _Frames, **options: Unpack[VadEventOptions]) -> Iterator[VadEvent]:
    """The events of ``reader``'s frames (see :meth:`v2m.Reader.vad_events`); the options
    are checked here, not when the iteration starts."""
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TypeError(
            f"unknown event option(s) {', '.join(sorted(unknown))}; the options are "
            f"{', '.join(DEFAULTS)}"
        )
    o: VadEventOptions = {**DEFAULTS, **options}
    checks.number("speech_pad_ms", o["speech_pad_ms"], unit="milliseconds", low=0)
    min_silence_ms = o["min_silence_ms"]
    if min_silence_ms is None:
        min_silence_ms = reader.info.vad_min_silence_ms
    checks.number("min_silence_ms", min_silence_ms, unit="milliseconds", low=0)
    threshold, neg_threshold = thresholds(reader.info, o["threshold"], o["neg_threshold"])
    speech = SpeechHysteresis(
        threshold, neg_threshold, silence_frames(min_silence_ms, 1000 * reader.frame_duration)
    )
    return _events(reader, speech, int(reader.sample_rate * o["speech_pad_ms"] / 1000))


def _events(reader: _Frames, speech: SpeechHysteresis, pad: int) -> Iterator[VadEvent]:
    rate, size = reader.sample_rate, reader.frame_samples
    pad_frames = -(-pad // size)
    floor = 0  # no pad reaches before the stream or a discontinuity

    def event(kind: str, sample: int, frame: Frame) -> VadEvent:
        return VadEvent(kind, sample, sample / rate, frame.index, frame.publish_ns)

    for frame in reader:
        if frame.discontinuity:
            # Audio before this frame is missing: what was speech ended at the gap.
            if speech.speaking:
                yield event("end", frame.index * size, frame)
            speech.cut()
            floor = frame.index * size
        edge = speech.feed(frame.index, frame.vad_prob)
        if edge == "start":
            yield event("start", max(floor, frame.index * size - pad), frame)
        elif edge == "end":
            assert speech.ended_at is not None
            # Until the loop asks for the next event, the speech's frames stay: a
            # consumer may take them with reader.window().
            yield event("end", speech.ended_at * size + pad, frame)
        # A pacing reader keeps the speech under way (from its start event), or the
        # pre-roll of speech that may start with the next frame, from being overwritten.
        if speech.start is not None:
            reader.keep_from(max(floor // size, speech.start - pad_frames))
        else:
            reader.keep_from(max(floor // size, frame.index + 1 - pad_frames))
    reader.keep_from(None)
