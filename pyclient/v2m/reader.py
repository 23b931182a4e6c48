"""The ring reader: attaches to ``/dev/shm/v2m-NAME`` read-only and yields frames."""

from __future__ import annotations

import mmap
import os
import re
import time
from types import TracebackType
from typing import TYPE_CHECKING, AsyncIterator, Iterator, Optional, Tuple, Type

import numpy as np
import numpy.typing as npt

from . import layout
from .errors import LayoutError, NotFound, WriterGone
from .frame import Frame
from .futex import check_platform, futex_wait
from .liveness import writer_alive

if TYPE_CHECKING:
    from .utterances import Utterance

SHM_DIR = "/dev/shm"
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
LIVENESS_INTERVAL_S = 0.25
"""How long a wait sleeps before checking that the engine is still alive."""


def ring_path(name: str) -> str:
    """The segment path for ring ``name``: ``/dev/shm/v2m-NAME``.

    >>> ring_path("default")
    '/dev/shm/v2m-default'
    """
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"ring name {name!r} must be 1-64 characters of letters, digits, '.', '_' "
            "or '-', not starting with '.'"
        )
    return f"{SHM_DIR}/v2m-{name}"


class _Closed:
    """Sentinel: the ring closed and every frame has been read."""


_CLOSED = _Closed()


class Reader:
    """A read-only view of one engine's frame ring.

    Parameters
    ----------
    name
        Ring name; the segment is ``/dev/shm/v2m-NAME``.
    start
        ``"latest"``: begin with the next frame published. ``"oldest"``: begin
        with the oldest frame still in the ring.
    wait
        Seconds to wait for the ring to appear and be running before raising
        ``NotFound`` (0: fail at once).
    copy
        Hand out private copies of each frame's samples (verified untorn)
        instead of zero-copy views.
    reattach
        Survive an engine crash: when the engine dies, wait for the next engine
        under the same name and continue with its frames; the first frame after
        the gap carries ``FLAG_DISCONTINUITY`` and :attr:`reattached` counts the
        moves. (A ring closed cleanly still ends the iteration.) Without it, a dead
        engine raises ``WriterGone`` within a second.

    Raises
    ------
    NotFound
        No ring under that name.
    LayoutError
        The segment is not a version-1 ring, or its header is inconsistent.
    WriterGone
        The engine died without closing the ring.

    Example
    -------
    >>> with Reader("default", start="latest") as reader:  # doctest: +SKIP
    ...     for frame in reader:
    ...         print(frame.index, frame.vad_prob, frame.samples.shape)
    """

    def __init__(
        self,
        name: str = "default",
        start: str = "latest",
        *,
        wait: float = 0.0,
        copy: bool = False,
        reattach: bool = False,
    ) -> None:
        self._fd = -1
        self._map: Optional[mmap.mmap] = None
        check_platform()
        if start not in ("latest", "oldest"):
            raise ValueError(f"start must be 'latest' or 'oldest', not {start!r}")
        self.name = name
        self.path = ring_path(name)
        self.copy = copy
        self.reattach = reattach
        self.dropped = 0
        """Frames this reader lost because the writer overwrote them first."""
        self.reattached = 0
        """Times this reader moved to a restarted engine's ring (``reattach=True``)."""
        self._gap = False
        self._detached = False  # between engines, with reattach=True
        self._attach(time.monotonic() + wait)
        write_seq = self.write_seq
        self.start_index = write_seq if start == "latest" else max(0, write_seq - self.slots)
        """The index of the first frame this reader was positioned at."""
        self._next = self.start_index

    # ---- geometry ------------------------------------------------------------------------

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

    # ---- live state ------------------------------------------------------------------------

    @property
    def write_seq(self) -> int:
        """Frames published so far (the newest has index ``write_seq - 1``)."""
        return int(self._write_seq[0])

    @property
    def closed(self) -> bool:
        """The engine closed the ring: no frame will follow the last one."""
        return int(self._state[0]) == layout.STATE_CLOSED

    @property
    def next_index(self) -> int:
        """Index of the frame the next read returns."""
        return self._next

    def writer_alive(self) -> bool:
        """True while the engine process holds the ring."""
        return writer_alive(self._fd)

    def stats(self) -> dict[str, int]:
        """The engine's statistics counters (device overruns, VAD time, …)."""
        if self._map is None:
            raise ValueError("the reader is closed")
        return {name: int(layout.read_field(self._map, name)) for name in layout.STATS_FIELDS}

    @property
    def address_range(self) -> Tuple[int, int]:
        """``(start, end)`` addresses of the mapping, for checking zero-copy views."""
        start = int(self._bytes.ctypes.data)
        return start, start + len(self._bytes)

    # ---- reading ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        frame = self._read(None)
        if isinstance(frame, Frame):
            return frame
        raise StopIteration

    def read(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """The next frame, waiting up to ``timeout`` seconds (None: no limit).

        Returns None on timeout or when the ring has closed and is drained
        (check :attr:`closed` to tell them apart).
        """
        frame = self._read(timeout)
        return frame if isinstance(frame, Frame) else None

    def _read(self, timeout: Optional[float]) -> Frame | _Closed | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._map is None:
            if not (self.reattach and self._detached):
                raise ValueError("the reader is closed")
            # A reattaching reader whose last wait for the new engine timed out.
            if not self._move_to_new_ring(deadline):
                return None
        mask = self.slots - 1
        while True:
            # Load order matters: futex word, then write_seq, then state. A
            # publish or close after any of these loads changes the futex word,
            # so the wait below returns at once instead of missing it.
            word = int(self._futex[0])
            published = int(self._write_seq[0])
            index = self._next
            if index < published:
                if published - index > self.slots:
                    # Lapped: everything before the oldest slot is gone.
                    self.dropped += published - self.slots - index
                    index = published - self.slots
                self._next = index + 1
                frame = self._take(index, index & mask)
                if frame is not None:
                    if self._gap:
                        frame.flags |= layout.FLAG_DISCONTINUITY
                        self._gap = False
                    return frame
                self.dropped += 1
                continue
            if int(self._state[0]) == layout.STATE_CLOSED:
                if int(self._write_seq[0]) > index:
                    continue  # the final frames were published just before closing
                return _CLOSED
            wait = LIVENESS_INTERVAL_S
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return None
            futex_wait(self._futex_address, word, wait)
            if int(self._futex[0]) == word and not self.writer_alive():
                if int(self._state[0]) != layout.STATE_CLOSED:
                    if not self.reattach:
                        raise WriterGone(
                            f"the engine (pid {self.info.writer_pid}) of ring {self.name!r} died "
                            "without closing it; restart the engine"
                        )
                    if not self._move_to_new_ring(deadline):
                        return None

    def _take(self, index: int, slot: int) -> Optional[Frame]:
        """Reads frame ``index`` from ``slot`` under the seqlock; None if overwritten."""
        expected = 2 * index + 2
        if int(self._stamps[slot]) != expected:
            return None
        meta = layout.SLOT_STRUCT.unpack_from(self._map, self._meta_offsets[slot])  # type: ignore[arg-type]
        samples = self._samples[slot]
        if self.copy:
            samples = samples.copy()
        # Second stamp load after the copies: on x86-64 loads are not reordered
        # with loads, and the calls in between keep the interpreter's order.
        if int(self._stamps[slot]) != expected:
            return None
        return Frame(meta, samples, self._stamps, slot)

    def peek(self, index: int) -> Optional[Frame]:
        """Frame ``index`` if it is still in the ring (history or not yet read),
        without moving this reader; None if not published yet or overwritten."""
        if index < 0 or index >= self.write_seq:
            return None
        return self._take(index, index & (self.slots - 1))

    def utterances(
        self,
        min_speech_ms: float = 250,
        min_silence_ms: float = 500,
        speech_pad_ms: float = 300,
        max_utterance_s: float = 30,
        threshold: Optional[float] = None,
        neg_threshold: Optional[float] = None,
    ) -> Iterator["Utterance"]:
        """Speech segments, ready for a recognizer, cut from the engine's per-frame VAD
        probability the way Silero's ``get_speech_timestamps`` cuts them.

        Speech starts at a frame whose probability reaches ``threshold`` and ends once
        it has stayed below ``neg_threshold`` for ``min_silence_ms`` (defaults: the
        engine's thresholds from the header); segments shorter than ``min_speech_ms``
        are dropped; ``speech_pad_ms`` of audio is kept on each side (the leading pad
        comes from the ring's history, so the first word is never cut off even when
        the reader attached at speech onset; pads of neighbouring segments never
        overlap); a segment longer than ``max_utterance_s`` is split.

        Yields :class:`v2m.Utterance` objects; ends when the ring closes.

        Example
        -------
        >>> for u in reader.utterances(min_silence_ms=300):  # doctest: +SKIP
        ...     text = model.transcribe(u.audio)
        """
        from .utterances import utterances

        return utterances(
            self,
            min_speech_ms,
            min_silence_ms,
            speech_pad_ms,
            max_utterance_s,
            threshold,
            neg_threshold,
        )

    def aiter(self) -> AsyncIterator[Frame]:
        """``async for frame in reader.aiter()``: the frames of ``for frame in reader``,
        awaited without blocking the event loop (the futex wait runs on a worker
        thread) and without polling."""
        from .aio import frames

        return frames(self)

    def autterances(self, **options: float) -> AsyncIterator["Utterance"]:
        """``async for u in reader.autterances()``: :meth:`utterances` for asyncio apps."""
        from .aio import utterances

        return utterances(self, **options)

    def window(self, first_index: int, count: int) -> npt.NDArray[np.float32]:
        """One zero-copy, read-only view of ``count`` consecutive frames' samples.

        The frames must still be in the ring and must not wrap around its end;
        the view has shape ``(count * frame_samples,)`` (mono). Check
        :meth:`frames_valid` after using it.

        Raises
        ------
        ValueError
            The run wraps the ring, is not yet published, or was overwritten.
        """
        if count < 1 or count > self.slots:
            raise ValueError(f"count must be 1..{self.slots}, not {count}")
        first_slot = first_index & (self.slots - 1)
        if first_slot + count > self.slots:
            raise ValueError(
                f"frames {first_index}..{first_index + count - 1} wrap the ring's end; "
                "split the run at the wrap or copy it"
            )
        if not self.frames_valid(first_index, count):
            raise ValueError(
                f"frames {first_index}..{first_index + count - 1} are not all in the ring"
            )
        view = self._samples[first_slot : first_slot + count]
        return view.reshape(-1) if self.channels == 1 else view.reshape(-1, self.channels)

    def frames_valid(self, first_index: int, count: int) -> bool:
        """True if frames ``first_index .. first_index+count-1`` are all complete in the ring
        (False once the reader is closed)."""
        if self._map is None:
            return False
        if first_index < 0 or first_index + count > self.write_seq:
            return False
        for index in range(first_index, first_index + count):
            if int(self._stamps[index & (self.slots - 1)]) != 2 * index + 2:
                return False
        return True

    # ---- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Unmaps the ring. Frames still referenced keep their memory alive."""
        self._detached = False
        self._release_mapping()

    def _release_mapping(self) -> None:
        for attr in ("_write_seq", "_futex", "_state", "_stamps", "_samples", "_bytes"):
            if hasattr(self, attr):
                delattr(self, attr)
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass  # views are still out there; the mapping goes when they do
            self._map = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "Reader":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    # ---- setup -----------------------------------------------------------------------------

    def _attach(self, deadline: float) -> None:
        """Maps the ring once it exists, runs, and has a live (or finished) engine.

        A ring left by a dead engine is waited out until ``deadline``: the next
        engine under the same name replaces it.
        """
        while True:
            self._fd, self._map = _open_mapping(self.path, self.name, deadline)
            try:
                self.info = layout.parse_header(self._map)
                state = np.frombuffer(
                    self._map, np.uint32, count=1, offset=layout.HEADER_FIELDS["state"][0]
                )
                while int(state[0]) == layout.STATE_STARTING and time.monotonic() < deadline:
                    time.sleep(0.001)
                del state
                if self._ready() or time.monotonic() >= deadline:
                    break
            except BaseException:
                self._release_mapping()
                raise
            self._release_mapping()
            time.sleep(0.005)
        try:
            self._check_ready()
            self._make_views()
        except BaseException:
            self._release_mapping()
            raise

    def _move_to_new_ring(self, deadline: Optional[float]) -> bool:
        """After the engine died: waits for a new engine's ring under the same name and
        continues with its oldest frame. False if ``deadline`` passed first."""
        old_generation = self.info.generation
        self._detached = True
        while True:
            self._release_mapping()
            try:
                self._attach(time.monotonic() + LIVENESS_INTERVAL_S)
                if self.info.generation != old_generation:
                    break
            except (NotFound, WriterGone):
                pass
            if deadline is not None and time.monotonic() >= deadline:
                self._release_mapping()
                return False
        self._detached = False
        self._next = self.start_index = max(0, self.write_seq - self.slots)
        self._gap = True
        self.reattached += 1
        return True

    def _ready(self) -> bool:
        assert self._map is not None
        state = layout.read_field(self._map, "state")
        if state == layout.STATE_STARTING:
            return False
        return state == layout.STATE_CLOSED or writer_alive(self._fd)

    def _check_ready(self) -> None:
        assert self._map is not None
        state = layout.read_field(self._map, "state")
        if state == layout.STATE_STARTING:
            raise NotFound(f"ring {self.name!r} exists but its engine has not started running")
        if state != layout.STATE_CLOSED and not writer_alive(self._fd):
            raise WriterGone(
                f"the engine (pid {self.info.writer_pid}) of ring {self.name!r} died without "
                "closing it; restart the engine (it removes the stale ring)"
            )

    def _make_views(self) -> None:
        info, mapping = self.info, self._map
        assert mapping is not None

        def header_word(name: str, dtype: type) -> npt.NDArray[np.generic]:
            return np.frombuffer(mapping, dtype, count=1, offset=layout.HEADER_FIELDS[name][0])

        # Every view derives from one np.frombuffer array: it holds a buffer export on
        # the mmap, so the mapping cannot be closed (unmapped) while any frame, window
        # or utterance still points into it. (np.ndarray(buffer=mmap) holds none.)
        self._bytes = np.frombuffer(mapping, np.uint8)
        self._write_seq = header_word("write_seq", np.uint64)
        self._futex = header_word("futex", np.uint32)
        self._futex_address = int(self._futex.ctypes.data)
        self._state = header_word("state", np.uint32)
        self._stamps: npt.NDArray[np.uint64] = np.ndarray(
            (info.slot_count,),
            np.uint64,
            buffer=self._bytes,
            offset=info.meta_offset,
            strides=(info.meta_stride,),
        )
        self._meta_offsets = [
            info.meta_offset + s * info.meta_stride for s in range(info.slot_count)
        ]
        shape: Tuple[int, ...] = (info.slot_count, info.frame_samples)
        strides: Tuple[int, ...] = (info.slot_bytes, 4)
        if info.channels > 1:
            shape, strides = shape + (info.channels,), (info.slot_bytes, 4 * info.channels, 4)
        self._samples: npt.NDArray[np.float32] = np.ndarray(
            shape, np.float32, buffer=self._bytes, offset=info.samples_offset, strides=strides
        )


def _open_mapping(path: str, name: str, deadline: float) -> Tuple[int, mmap.mmap]:
    """Opens and maps the segment read-only, waiting for it until ``deadline``."""
    while True:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            break
        except FileNotFoundError:
            if time.monotonic() >= deadline:
                raise NotFound(
                    f"no ring named {name!r} ({path}); is the engine running? "
                    f"start it with `v2m-engine run --name {name}`"
                ) from None
            time.sleep(0.005)
    try:
        size = os.fstat(fd).st_size
        if size < layout.HEADER_USED:
            head = os.pread(fd, 8, 0)
            if len(head) == 8 and head != layout.MAGIC:
                raise LayoutError(f"{path} is not a v2m ring (bad magic)")
            raise LayoutError(
                f"{path} is truncated: {size} bytes, the header alone needs {layout.HEADER_USED}"
            )
        return fd, mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    except BaseException:
        os.close(fd)
        raise
