"""The interface the original v2m design promised, as a thin layer over :mod:`v2m`.

.. code-block:: python

    from v2m_engine import AudioCapture, VADProcessor

    capture = AudioCapture(sample_rate=16000, buffer_size=4096)
    vad = VADProcessor(threshold=0.5)
    async with capture.stream() as audio:          # the next 4096 samples
        if vad.contains_speech(audio):
            await transcriber.process(audio)

:class:`AudioCapture` starts the engine (``v2m.spawn``) and reads its ring. Its
``stream()`` hands out :class:`AudioBuffer` objects, ``buffer_size`` float32 samples
each, consecutive, as zero-copy read-only views of the ring wherever they do not wrap
its end: ``async with capture.stream() as audio`` waits for the next buffer,
``async for audio in capture.stream()`` and ``for audio in capture.stream()`` go
through them all. The VAD already ran in the engine, before Python: a buffer carries
the speech probability of every frame it overlaps, and :class:`VADProcessor` decides
from those.
"""

from __future__ import annotations

import asyncio
import os
from types import TracebackType
from typing import TYPE_CHECKING, AsyncIterator, Iterator, List, Optional, Type, Union

import numpy as np
import numpy.typing as npt

import v2m
from v2m.spawn import EngineOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["AudioCapture", "AudioBuffer", "AudioStream", "VADProcessor"]


class AudioBuffer(np.ndarray):
    """``buffer_size`` float32 mono samples (a plain NumPy array to everything else),
    with the engine's VAD verdicts of the frames the buffer overlaps.

    Attributes
    ----------
    vad_probs
        Speech probability of each overlapped frame, float32.
    speech
        The engine's speech flag (after hysteresis) of each overlapped frame.
    first_frame
        Index of the first overlapped frame.
    start_s
        Position of the first sample in the stream, in seconds.
    lost
        Frames lost to overrun inside the buffer (their samples are zeros).
    """

    vad_probs: npt.NDArray[np.float32]
    speech: npt.NDArray[np.bool_]
    first_frame: int
    start_s: float
    lost: int

    def __array_finalize__(self, obj: Optional[npt.NDArray[np.float32]]) -> None:
        for name, default in (
            ("vad_probs", np.zeros(0, np.float32)),
            ("speech", np.zeros(0, np.bool_)),
            ("first_frame", 0),
            ("start_s", 0.0),
            ("lost", 0),
        ):
            setattr(self, name, getattr(obj, name, default))


class AudioCapture:
    """Starts the engine on ``source`` and reads ``buffer_size``-sample buffers from it.

    Parameters
    ----------
    sample_rate
        The ring's rate (the engine resamples the device or file to it).
    buffer_size
        Samples per buffer; any size (buffers are cut from the engine's frames).
    source
        The engine's ``--source``: ``default``, ``device:NAME``, ``file:PATH``, …
    engine, name, vad
        As for :func:`v2m.spawn`.
    **options
        Further engine options (:class:`v2m.spawn.EngineOptions`), e.g. ``frame=256``.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        buffer_size: int = 4096,
        source: str = "default",
        *,
        vad: Optional[str] = None,
        name: Optional[str] = None,
        engine: Union[str, "os.PathLike[str]", None] = None,
        **options: Unpack[EngineOptions],
    ) -> None:
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be a positive number of samples, not {buffer_size}")
        self.sample_rate, self.buffer_size = sample_rate, buffer_size
        options["rate"] = sample_rate
        self.engine = v2m.spawn(source, name, vad, engine=engine, **options)
        self.reader = self.engine.reader()
        self._frames: List[v2m.Frame] = []  # received, not yet wholly handed out
        self._position: Optional[int] = None  # stream sample of the next buffer's first sample

    def stream(self) -> "AudioStream":
        """The buffers: ``async with`` for the next one, ``async for``/``for`` for all."""
        return AudioStream(self)

    def read(self, timeout: Optional[float] = None) -> Optional[AudioBuffer]:
        """The next buffer, waiting up to ``timeout`` seconds (None: no limit); None on
        timeout or when the stream has ended."""
        size = self.reader.frame_samples
        if self._position is None:
            first = self.reader.read(timeout)
            if first is None:
                return None
            self._frames.append(first)
            self._position = first.index * size
        end = self._position + self.buffer_size
        while not self._frames or (self._frames[-1].index + 1) * size < end:
            frame = self.reader.read(timeout)
            if frame is None:
                return None
            self._frames.append(frame)
        buffer = self._cut(self._position, end)
        self._position = end
        self._frames = [f for f in self._frames if (f.index + 1) * size > end]
        return buffer

    def _cut(self, start: int, end: int) -> AudioBuffer:
        size = self.reader.frame_samples
        first, last = start // size, (end - 1) // size
        frames = {f.index: f for f in self._frames if first <= f.index <= last}
        count = last - first + 1
        audio: Optional[npt.NDArray[np.float32]] = None
        if len(frames) == count and all(f.valid() for f in frames.values()):
            try:
                audio = self.reader.window(first, count)[start - first * size : end - first * size]
            except ValueError:  # wraps the ring's end (or was just overwritten): copy
                audio = None
        if audio is None:
            audio = np.zeros(end - start, np.float32)
            for index, frame in frames.items():
                lo, hi = max(start, index * size), min(end, (index + 1) * size)
                audio[lo - start : hi - start] = frame.samples[
                    lo - index * size : hi - index * size
                ]
        buffer = audio.view(AudioBuffer)
        known = [frames.get(i) for i in range(first, last + 1)]
        buffer.vad_probs = np.array([f.vad_prob if f else 0.0 for f in known], np.float32)
        buffer.speech = np.array([bool(f and f.speech) for f in known])
        buffer.first_frame, buffer.start_s = first, start / self.reader.sample_rate
        buffer.lost = sum(f is None for f in known)
        return buffer

    def close(self) -> None:
        """Stops the engine and closes the ring."""
        self.reader.close()
        self.engine.stop()

    def __enter__(self) -> "AudioCapture":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()


class AudioStream:
    """The buffers of an :class:`AudioCapture`, consecutive across every use of it."""

    def __init__(self, capture: AudioCapture) -> None:
        self.capture = capture

    async def _next(self) -> Optional[AudioBuffer]:
        loop = asyncio.get_running_loop()
        # Waiting for the engine happens on a worker thread: the event loop keeps running.
        return await loop.run_in_executor(None, self.capture.read, None)

    async def __aenter__(self) -> AudioBuffer:
        buffer = await self._next()
        if buffer is None:
            raise EOFError("the audio stream has ended (the engine closed its ring)")
        return buffer

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        return None

    def __aiter__(self) -> AsyncIterator[AudioBuffer]:
        return self._buffers()

    async def _buffers(self) -> AsyncIterator[AudioBuffer]:
        while (buffer := await self._next()) is not None:
            yield buffer

    def __iter__(self) -> Iterator[AudioBuffer]:
        while (buffer := self.capture.read()) is not None:
            yield buffer


class VADProcessor:
    """Speech or not, from the engine's per-frame probabilities (the VAD already ran
    in the engine, on every frame, before Python saw it).

    ``contains_speech(buffer)`` is true when any frame the buffer overlaps reaches
    ``threshold``.
    """

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be a probability in [0, 1], not {threshold}")
        self.threshold = threshold

    def contains_speech(self, buffer: npt.NDArray[np.float32]) -> bool:
        """Whether ``buffer`` (from :meth:`AudioCapture.stream`) holds speech."""
        probs = getattr(buffer, "vad_probs", None)
        if probs is None:
            raise TypeError(
                "contains_speech needs a buffer from AudioCapture.stream(): the VAD ran in "
                "the engine and the verdicts travel with its buffers; a plain array carries "
                "none (to score arbitrary audio, run it through an engine: v2m.spawn(source="
                "'file:...'))"
            )
        return bool(np.any(np.asarray(probs) >= self.threshold))

    def speech_ratio(self, buffer: npt.NDArray[np.float32]) -> float:
        """The fraction of the buffer's frames at or above the threshold."""
        self.contains_speech(buffer)  # the same check of what was handed in
        probs = np.asarray(getattr(buffer, "vad_probs"))  # noqa: B009 (not in the type)
        return float(np.mean(probs >= self.threshold)) if len(probs) else 0.0
