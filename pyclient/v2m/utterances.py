"""VAD-gated speech segments, ready for a recognizer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional, Protocol, TypedDict

import numpy as np
import numpy.typing as npt

from . import checks
from .frame import Frame
from .layout import HeaderInfo
from .segmenter import Segmenter
from .speech import thresholds

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
    """Probability below which speech may end (None: the engine's, or ``threshold -
    0.15`` when ``threshold`` is given)."""
    channel: Optional[int]
    """In a multi-channel ring, one channel's audio (1-D, for a recognizer); None: every
    channel, shape ``(n, channels)``."""


DEFAULTS: UtteranceOptions = {
    "min_speech_ms": 250,
    "min_silence_ms": 500,
    "speech_pad_ms": 300,
    "max_utterance_s": 30,
    "threshold": None,
    "neg_threshold": None,
    "channel": None,
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

    @property
    def next_index(self) -> int: ...

    def keep_from(self, index: Optional[int]) -> None: ...

    def peek(self, index: int) -> Optional[Frame]: ...

    def window(self, first_index: int, count: int) -> npt.NDArray[np.float32]: ...

    def frames_valid(self, first_index: int, count: int) -> bool: ...


@dataclass(eq=False)  # identity equality: comparing audio arrays element-wise is not equality
class Utterance:
    """One stretch of speech with its padding.

    Attributes
    ----------
    audio
        ``float32`` samples at the ring rate, shape ``(n,)`` from a mono ring or with
        ``channel=``, else ``(n, channels)``: a read-only view of the ring when the
        utterance does not wrap its end (valid until the writer laps the ring; see
        :meth:`valid`), a private copy otherwise.
    start_ns, end_ns
        CLOCK_MONOTONIC capture times of the first sample and just after the last.
    start_s, end_s
        Positions in the stream, in seconds of audio: for a file, its position in
        the file, whatever the replay speed (``start_ns`` is wall-clock time).
    first_index
        Index of the first frame (padding included).
    frames
        Frames in the utterance.
    dropped
        Frames inside it that were lost (overwritten before they could be read); their
        samples are zeros in ``audio``.
    complete
        True only when ``audio`` holds the speech and both pads exactly as the stream had
        them. False when cut by ``max_utterance_s``, a discontinuity or the ring closing,
        when a frame was lost (``dropped > 0``), or when a pad reaches audio the reader
        never saw (speech already under way when it attached, or a gap).
    """

    audio: npt.NDArray[np.float32]
    start_ns: int
    end_ns: int
    first_index: int
    frames: int
    dropped: int
    complete: bool
    _reader: Optional[FrameSource] = None

    start_s: float = 0.0
    end_s: float = 0.0

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return self.end_s - self.start_s

    def audio_copy(self) -> npt.NDArray[np.float32]:
        """A private, writable copy of ``audio`` (``audio`` itself may be a read-only
        view of the ring): for ``torch.from_numpy``, in-place normalising, or keeping."""
        return np.array(self.audio, np.float32, copy=True)

    def audio_int16(self) -> npt.NDArray[np.int16]:
        """``audio`` as 16-bit PCM, what Vosk and many recognizers take."""
        return np.asarray(np.rint(np.clip(self.audio, -1.0, 1.0) * 32767), np.int16)

    def valid(self) -> bool:
        """True while the ring still holds every frame of a zero-copy ``audio``."""
        if self.audio.flags.owndata or self._reader is None:
            return True
        return self._reader.frames_valid(self.first_index, self.frames)


def checked(options: UtteranceOptions, info: HeaderInfo) -> UtteranceOptions:
    """``options`` over the defaults, each checked (for the ring ``info`` describes): an
    unknown name or a wrong type is a TypeError, a value out of range a ValueError. The
    thresholds are made explicit (:func:`v2m.speech.thresholds`)."""
    frame_s = info.frame_samples / info.sample_rate
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TypeError(
            f"unknown utterance option(s) {', '.join(sorted(unknown))}; "
            f"the options are {', '.join(DEFAULTS)}"
        )
    o: UtteranceOptions = {**DEFAULTS, **options}
    for key in ("min_speech_ms", "min_silence_ms", "speech_pad_ms"):
        checks.number(key, o[key], unit="milliseconds", low=0)
    checks.number(
        "max_utterance_s", o["max_utterance_s"], unit="seconds", low=frame_s, infinite=True
    )
    o["threshold"], o["neg_threshold"] = thresholds(info, o["threshold"], o["neg_threshold"])
    if o["channel"] is not None:
        o["channel"] = checks.integer("channel", o["channel"], low=0, high=info.channels - 1)
    return o


def utterances(reader: FrameSource, **options: Unpack[UtteranceOptions]) -> Iterator[Utterance]:
    """Speech segments from ``reader``'s frames, as Silero's ``get_speech_timestamps``
    cuts them (see :meth:`v2m.Reader.utterances` for the options). The options are
    checked here, not when the iteration starts."""
    o = checked(options, reader.info)
    return _segments(reader, o)


def segmenter(info: HeaderInfo, **options: Unpack[UtteranceOptions]) -> Segmenter:
    """The segmenter ``utterances(**options)`` cuts a ring's frames with (the recorder's
    labels use it too)."""
    return _segmenter(info, checked(options, info))


def _segmenter(info: HeaderInfo, o: UtteranceOptions) -> Segmenter:
    threshold, neg_threshold = o["threshold"], o["neg_threshold"]
    assert threshold is not None and neg_threshold is not None  # checked() made them explicit
    return Segmenter.for_frames(
        1000 * info.frame_samples / info.sample_rate,
        threshold,
        neg_threshold,
        o["min_speech_ms"],
        o["min_silence_ms"],
        o["speech_pad_ms"],
        o["max_utterance_s"],
    )


def _segments(reader: FrameSource, o: UtteranceOptions) -> Iterator[Utterance]:
    segmenter = _segmenter(reader.info, o)
    gap = _catch_up(reader, segmenter)
    # A pacing reader keeps every frame a segment may still take (its pre-roll, the
    # speech under way, the utterance just handed out until the loop asks for the
    # next): the engine does not overwrite them. No effect on other readers.
    reader.keep_from(segmenter.oldest_needed())
    for frame in reader:
        for span in segmenter.feed(frame.index, frame.vad_prob, gap or frame.discontinuity):
            yield _build(reader, span.first, span.end, span.complete, o["channel"])
        gap = False
        reader.keep_from(segmenter.oldest_needed())
    for span in segmenter.finish():
        yield _build(reader, span.first, span.end, span.complete, o["channel"])
    reader.keep_from(None)


def _catch_up(reader: FrameSource, segmenter: Segmenter) -> bool:
    """Feeds ``segmenter`` the ring's history before the reader's next frame, so speech
    already under way when the reader attached keeps its true start and pre-roll (what
    ended before then is not handed out). Speech that began before the oldest frame
    still in the ring is marked incomplete. True if the history's last frames were
    lost (the next frame follows a gap)."""
    first = reader.next_index
    horizon = min(reader.slots, segmenter.max_frames + segmenter.min_silence + segmenter.pad)
    oldest = max(reader.info.first_index, first - horizon, reader.write_seq - reader.slots)
    segmenter.begin_at(oldest)
    gap = False
    for index in range(oldest, first):
        frame = reader.peek(index)
        if frame is None:  # overwritten meanwhile: the audio before the next one is unknown
            gap = True
            continue
        segmenter.feed(index, frame.vad_prob, gap or frame.discontinuity)
        gap = False
    return gap


def _build(
    reader: FrameSource, first: int, end: int, complete: bool, channel: Optional[int]
) -> Utterance:
    """The utterance of frames ``first .. end-1``, all channels or ``channel``'s:
    zero-copy when they do not wrap."""
    count = max(1, end - first)
    channels = reader.info.channels
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
        audio = np.zeros((count * size, channels) if channels > 1 else count * size, np.float32)
        for k, frame in enumerate(frames):
            if frame is not None:
                audio[k * size : (k + 1) * size] = frame.samples
                if not frame.valid():
                    audio[k * size : (k + 1) * size] = 0
                    frames[k] = None
    dropped = sum(f is None for f in frames)
    complete = complete and dropped == 0
    known = next((f for f in frames if f is not None), None)
    frame_ns = round(reader.frame_duration * 1e9)
    start_ns = 0 if known is None else known.capture_ns - (known.index - first) * frame_ns
    last = frames[-1]
    if last is not None and last.padded:  # the source ended inside the last frame
        audio = audio[: (count - 1) * size + last.valid_samples]
    if channel is not None and channels > 1:
        audio = audio[:, channel]  # a strided view of one channel; audio_copy() packs it
    end_ns = start_ns + round(len(audio) / reader.sample_rate * 1e9)
    start_s = first * reader.frame_duration
    return Utterance(
        audio,
        start_ns,
        end_ns,
        first,
        count,
        dropped,
        complete,
        reader,
        start_s=start_s,
        end_s=start_s + len(audio) / reader.sample_rate,
    )
