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

if TYPE_CHECKING:
    from typing_extensions import Unpack


class VadEventOptions(TypedDict, total=False):
    """How :meth:`v2m.Reader.vad_events` decides; every key is optional (``VADIterator``'s
    defaults)."""

    threshold: Optional[float]
    """Probability at which speech starts (None: the engine's, from the header)."""
    min_silence_ms: float
    """Silence after which speech ends (100)."""
    speech_pad_ms: float
    """Moves each start earlier and each end later by this much (30)."""


DEFAULTS: VadEventOptions = {"threshold": None, "min_silence_ms": 100, "speech_pad_ms": 30}


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
    def __iter__(self) -> Iterator[Frame]: ...

    @property
    def frame_samples(self) -> int: ...

    @property
    def sample_rate(self) -> int: ...

    @property
    def default_threshold(self) -> float: ...

    def keep_from(self, index: Optional[int]) -> None: ...


def vad_events(reader: _Frames, **options: Unpack[VadEventOptions]) -> Iterator[VadEvent]:
    """The events of ``reader``'s frames (see :meth:`v2m.Reader.vad_events`)."""
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TypeError(
            f"unknown event option(s) {', '.join(sorted(unknown))}; the options are "
            f"{', '.join(DEFAULTS)}"
        )
    o: VadEventOptions = {**DEFAULTS, **options}
    checks.number("min_silence_ms", o["min_silence_ms"], unit="milliseconds", low=0)
    checks.number("speech_pad_ms", o["speech_pad_ms"], unit="milliseconds", low=0)
    if o["threshold"] is not None:
        checks.probability("threshold", o["threshold"])
    return _events(reader, o)


def _events(reader: _Frames, o: VadEventOptions) -> Iterator[VadEvent]:
    threshold = o["threshold"]
    thr = reader.default_threshold if threshold is None else threshold
    neg = thr - 0.15
    rate, size = reader.sample_rate, reader.frame_samples
    pad = int(rate * o["speech_pad_ms"] / 1000)
    min_silence = rate * o["min_silence_ms"] / 1000
    pad_frames = -(-pad // size)
    triggered, temp_end, speech_from = False, 0, 0

    def event(kind: str, sample: int, frame: Frame) -> VadEvent:
        sample = max(0, sample)
        return VadEvent(kind, sample, sample / rate, frame.index, frame.publish_ns)

    for frame in reader:
        end_of_frame = (frame.index + 1) * size  # VADIterator's current_sample
        if frame.discontinuity and triggered:
            # Audio before this frame is missing: what was speech ended at the gap.
            yield event("end", frame.index * size, frame)
            triggered, temp_end = False, 0
        p = frame.vad_prob
        if p >= thr and temp_end:
            temp_end = 0
        if p >= thr and not triggered:
            triggered = True
            start = event("start", end_of_frame - pad - size, frame)
            speech_from = start.sample // size
            yield start
        elif p < neg and triggered:
            if not temp_end:
                temp_end = end_of_frame
            if end_of_frame - temp_end >= min_silence:
                # Until the loop asks for the next event, the speech's frames stay:
                # a consumer may take them with reader.window().
                yield event("end", temp_end + pad - size, frame)
                triggered, temp_end = False, 0
        # A pacing reader keeps the speech under way, or the pre-roll of speech that
        # may start with the next frame, from being overwritten.
        reader.keep_from(speech_from if triggered else max(0, frame.index + 1 - pad_frames))
    reader.keep_from(None)
