"""What a reader's frames become: utterances for a recognizer, speech events, and both
for asyncio. The methods of :class:`v2m.Reader` that build on its frames, kept apart
from the reading itself; each takes its options as typed keywords, checked at the call.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, AsyncIterator, Iterator, Protocol

from . import aio, events, utterances
from .frame import Frame

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .events import VadEvent, VadEventOptions
    from .utterances import Utterance, UtteranceOptions


class _SpeechSource(aio.Readable, Protocol):
    wait_for_vad: bool


class SpeechIterators:
    """The speech iterators of a reader (a base class of :class:`v2m.Reader`)."""

    def utterances(self: _SpeechSource, **options: Unpack[UtteranceOptions]) -> Iterator[Utterance]:
        """Speech segments, ready for a recognizer, cut from the engine's per-frame VAD
        probability the way Silero's ``get_speech_timestamps`` cuts them.

        Options (see :class:`v2m.UtteranceOptions`, checked at the call):
        ``min_speech_ms`` (250), ``min_silence_ms`` (500), ``speech_pad_ms`` (300),
        ``max_utterance_s`` (30), ``threshold`` and ``neg_threshold`` (the engine's, from
        the header), ``channel`` (of a multi-channel ring, one channel's audio, 1-D;
        default every channel, ``(n, channels)``).

        Speech starts and ends by :mod:`v2m.speech`'s rule; segments shorter than
        ``min_speech_ms`` are dropped; ``speech_pad_ms`` of audio is kept on each side
        (pads of neighbouring segments never overlap, and none crosses a
        discontinuity); a segment longer than ``max_utterance_s`` is split. The ring's
        history is read first, so speech under way when the reader attached keeps its
        start and pre-roll. A pacing reader keeps every frame an utterance may still
        take, and the one just yielded until the loop asks for the next.

        Yields :class:`v2m.Utterance` objects; ends when the ring closes.

        Example
        -------
        >>> for u in reader.utterances(min_silence_ms=300):  # doctest: +SKIP
        ...     text = model.transcribe(u.audio)
        """
        _need_vad(self, "utterances()")
        return utterances.utterances(self, **options)

    def vad_events(self: _SpeechSource, **options: Unpack[VadEventOptions]) -> Iterator[VadEvent]:
        """Speech start and end events as soon as each is decided, like silero-vad's
        ``VADIterator`` (same option meanings; see :class:`v2m.VadEventOptions`). By
        default with the engine's own thresholds and silence, so the events fall where
        the engine's speech flag rises and falls (:mod:`v2m.speech`); ``speech_pad_ms``
        30. A discontinuity ends speech, and no pad reaches across it.

        Example
        -------
        >>> for event in reader.vad_events():  # doctest: +SKIP
        ...     print(event.kind, round(event.time_s, 2))
        """
        _need_vad(self, "vad_events()")
        return events.vad_events(self, **options)

    def vad_events_async(
        self: _SpeechSource, **options: Unpack[VadEventOptions]
    ) -> AsyncIterator[VadEvent]:
        """``async for event in reader.vad_events_async()``: :meth:`vad_events` for asyncio
        apps (the options are checked at the call)."""
        _need_vad(self, "vad_events_async()")
        return aio.iterate(events.vad_events(self, **options))

    def avad_events(
        self: _SpeechSource, **options: Unpack[VadEventOptions]
    ) -> AsyncIterator[VadEvent]:
        """Deprecated name of :meth:`vad_events_async`."""
        _renamed("avad_events", "vad_events_async")
        _need_vad(self, "avad_events()")
        return aio.iterate(events.vad_events(self, **options))

    @property
    def default_threshold(self: _SpeechSource) -> float:
        """The engine's VAD threshold (from the header)."""
        return self.info.vad_threshold

    def aiter(self: _SpeechSource) -> AsyncIterator[Frame]:
        """``async for frame in reader.aiter()``: the frames of ``for frame in reader``,
        awaited without blocking the event loop (the futex wait runs on a worker
        thread) and without polling."""
        return aio.frames(self)

    def utterances_async(
        self: _SpeechSource, **options: Unpack[UtteranceOptions]
    ) -> AsyncIterator[Utterance]:
        """``async for u in reader.utterances_async()``: :meth:`utterances` for asyncio apps
        (the options are checked at the call)."""
        _need_vad(self, "utterances_async()")
        return aio.iterate(utterances.utterances(self, **options))

    def autterances(
        self: _SpeechSource, **options: Unpack[UtteranceOptions]
    ) -> AsyncIterator[Utterance]:
        """Deprecated name of :meth:`utterances_async`."""
        _renamed("autterances", "utterances_async")
        _need_vad(self, "autterances()")
        return aio.iterate(utterances.utterances(self, **options))


def _need_vad(reader: _SpeechSource, what: str) -> None:
    if not reader.wait_for_vad:
        raise ValueError(
            f"{what} cuts speech by the VAD result, which a reader opened with "
            "wait_for_vad=False does not wait for; open it with wait_for_vad=True"
        )


def _renamed(old: str, new: str) -> None:
    warnings.warn(
        f"Reader.{old}() is now Reader.{new}(); the old name will go in a later release",
        DeprecationWarning,
        stacklevel=3,
    )
