"""The ring reader: attaches to ``/dev/shm/v2m-NAME`` read-only and yields frames.

A :class:`Reader` combines three parts: :mod:`v2m.attach` finds and maps the ring,
:class:`v2m.slots.SlotReader` takes frames out of it under the seqlock and counts what
was lost, and a :mod:`v2m.waiting` strategy waits for the next frame. What is left here
is what a user sees: positions, liveness, reattaching, deadlines, pacing, priority, and
the iterators built on frames.
"""

from __future__ import annotations

import logging
import re
import time
from types import TracebackType
from typing import Iterator, Optional, Tuple, Type

import numpy as np
import numpy.typing as npt

from . import checks, layout
from .attach import attach, next_engine, writer_gone
from .cursor import Pacing
from .frame import Frame
from .losses import LossLog
from .mapping import RingMapping
from .ordering import reader_fence
from .priority import Priority, SavedScheduling, raise_priority
from .ring_facts import RingFacts
from .slots import SlotReader
from .speech_iterators import SpeechIterators
from .waiting import WAKES, strategy

SHM_DIR = "/dev/shm"
LOG = logging.getLogger("v2m")
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
LIVENESS_INTERVAL_S = 0.25
"""How long a wait sleeps before checking that the engine is still alive."""
__all__ = ["Reader", "ring_path", "WAKES"]


def ring_path(name: str) -> str:
    """The segment path for ring ``name``: ``/dev/shm/v2m-NAME``.

    >>> ring_path("default")
    '/dev/shm/v2m-default'
    """
    if not isinstance(name, str):
        raise TypeError(f"the ring name must be a str, not {type(name).__name__} {name!r}")
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"ring name {name!r} must be 1-64 characters of letters, digits, '.', '_' "
            "or '-', not starting with '.'"
        )
    return f"{SHM_DIR}/v2m-{name}"


class Reader(RingFacts, SpeechIterators):
    """A read-only view of one engine's frame ring.

    Parameters
    ----------
    name
        Ring name; the segment is ``/dev/shm/v2m-NAME``.
    start
        ``"latest"``: begin with the next frame published (when the ring appears
        only while the reader waits for it, with its first frame). ``"oldest"``:
        begin with the oldest frame still in the ring.
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
    owner
        The uid the ring must belong to; by default this process's own. Give the
        engine's uid to read a ``--group-readable`` ring of another user.
    wait_for_vad
        True (the default): hand out each frame once its VAD result is in. False: as
        soon as its samples are published, before the VAD runs (sooner by the VAD's
        time): for readers of audio (monitors, recorders, latency
        measurement). Such frames have ``vad_pending`` true, ``vad_prob`` NaN and
        ``speech`` False; :meth:`peek`, :meth:`window` and :meth:`utterances` still
        work on whole frames. An engine older than layout 1.2 publishes whole
        frames only; the reader then waits for them (``samples_first`` is False).
    priority
        Raise the thread that reads to real-time scheduling where permitted (else a
        nice level) on its first read: a busy machine then delays its wake-ups far
        less. See :mod:`v2m.priority` for the risks and how to permit it;
        :attr:`priority_result` says what it got.
    wake
        How a waiting reader wakes for the next frame: ``"futex"`` (the kernel wakes it
        when the frame is published) or ``"adaptive"`` (it sleeps until shortly before
        the frame is due, learned from the stream's cadence and jitter, and watches for
        the last stretch: lower and steadier latency for a little CPU; see
        :mod:`v2m.wake`). It falls back to ``"futex"`` whenever the stream is
        irregular, fast, stalled or restarting.
    pace
        Hold the engine back: an engine started with ``--pace-to-readers`` (a file or
        synthetic source) never overwrites a frame this reader still needs, so a slow
        consumer of a file loses nothing (the replay slows down instead). It needs the
        frame last returned (until the next read) and every frame from
        :meth:`keep_from`'s index on: :meth:`utterances` and :meth:`vad_events` keep what
        they still need that way. No effect on other engines.

    Raises
    ------
    NotFound
        No ring under that name.
    NotARing
        Something that is not a ring (a directory, FIFO, link, …) is at the name.
    PermissionDenied
        The ring belongs to another user.
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
        owner: Optional[int] = None,
        pace: bool = False,
        wake: str = "futex",
        wait_for_vad: bool = True,
        priority: bool = False,
    ) -> None:
        self._ring: Optional[RingMapping] = None
        self._pacing: Optional[Pacing] = None
        _check_options(start, wake, wait, owner, copy, reattach, pace, wait_for_vad, priority)
        self._fence = reader_fence()
        self.wake = wake
        self.wait_for_vad = wait_for_vad
        self._raise_priority = priority
        self.priority_result: Optional[Priority] = None
        """With ``priority=True``: what the reading thread got (after the first read)."""
        self._scheduling_before: Optional[SavedScheduling] = None
        self._waiting = strategy(wake, name)
        self.name = name
        self.path = ring_path(name)
        self.copy = copy
        self.reattach = reattach
        self.owner = owner
        self.dropped = 0
        """Frames this reader lost because the writer overwrote them first."""
        self.reattached = 0
        """Times this reader moved to a restarted engine's ring (``reattach=True``)."""
        self._gap = False
        self._detached = False  # between engines, with reattach=True
        self._ended = False
        self._alive_checked = time.monotonic()
        called_ns = time.monotonic_ns()
        self._ring = self._attach(time.monotonic() + wait)
        self._slots = SlotReader(self._ring, self._fence, copy)
        self.info = self._ring.info
        self._losses = LossLog(name, self.slots, self.frame_duration)
        write_seq = int(self._ring.seq[0])
        # A ring created while this reader waited holds only frames published after the
        # call: "latest" keeps them (a recorder started before its engine misses nothing).
        fresh = self.info.created_mono_ns >= called_ns
        latest = start == "latest" and not fresh
        self.start_index = write_seq if latest else self._oldest(write_seq)
        """The index of the first frame this reader was positioned at."""
        self._next = self.start_index
        self.pace = pace
        if pace:
            self._pacing = Pacing(name, self.generation, self._next, self.slots)

    # ---- live state ------------------------------------------------------------------------

    def _mapped(self) -> RingMapping:
        if self._ring is None:
            raise ValueError("the reader is closed")
        return self._ring

    @property
    def write_seq(self) -> int:
        """Frames published so far (the newest has index ``write_seq - 1``)."""
        return int(self._mapped().write_seq[0])

    @property
    def samples_first(self) -> bool:
        """Frames are handed out as soon as their samples are published, before their
        VAD result (``wait_for_vad=False`` on a layout-1.2 ring)."""
        return not self.wait_for_vad and self.info.samples_first

    @property
    def closed(self) -> bool:
        """The engine closed the ring: no frame will follow the last one."""
        return int(self._mapped().state[0]) == layout.STATE_CLOSED

    @property
    def ended(self) -> bool:
        """The ring closed and this reader has returned every frame (iteration is over)."""
        return self._ended

    @property
    def next_index(self) -> int:
        """Index of the frame the next read returns."""
        return self._next

    def keep_from(self, index: Optional[int]) -> None:
        """Keeps frames from ``index`` on in the ring, for a reader opened with
        ``pace=True`` on an engine run with ``--pace-to-readers``: the engine does not
        overwrite them until ``keep_from`` is called again with a later index (or None,
        back to keeping only the frame last returned). A frame already overwritten is
        not brought back, and a hold never stops the engine from publishing the frame
        this reader waits for: on a ring too small for it, the oldest held frames go
        (and are counted lost by whoever peeks them). No effect without ``pace``."""
        if self._pacing is not None:
            self._pacing.keep_from(index)

    def writer_alive(self) -> bool:
        """True while the engine process holds the ring."""
        return self._mapped().writer_alive()

    def stats(self) -> dict[str, int]:
        """The engine's statistics counters (device overruns, VAD time, …)."""
        return self._mapped().stats()

    @property
    def wake_stats(self) -> Optional[dict[str, int]]:
        """For ``wake="adaptive"``: frames it was awake for (``watched``), times a busy
        CPU sent it back to FUTEX_WAIT (``backoffs``) and what it learned (cadence, how
        early it wakes, p95 lateness of frames and of its timer, in ns); else None."""
        return self._waiting.stats()

    @property
    def address_range(self) -> Tuple[int, int]:
        """``(start, end)`` addresses of the mapping, for checking zero-copy views."""
        ring = self._mapped()
        start = int(ring.bytes.ctypes.data)
        return start, start + len(ring.bytes)

    # ---- reading ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        frame = self.read(None)
        if frame is None:
            raise StopIteration
        return frame

    def read(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """The next frame, waiting up to ``timeout`` seconds (None: no limit).

        Returns None on timeout or when the ring has closed and every frame was
        read; :attr:`ended` tells the two apart.
        """
        if timeout is not None:
            checks.number("timeout", timeout, unit="seconds", low=0, infinite=True)
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._raise_priority:
            self._raise_priority = False
            self._scheduling_before = SavedScheduling.of_this_thread()
            self.priority_result = raise_priority()
            LOG.info("ring %r: reader thread at %s", self.name, self.priority_result)
        if self._ring is None:
            if not (self.reattach and self._detached):
                raise ValueError("the reader is closed")
            # A reattaching reader whose last wait for the new engine timed out.
            if not self._move_to_new_ring(deadline):
                return None
        while True:
            slots, index = self._slots, self._next
            ring = slots.ring
            word, published = slots.published(index)
            if index < published:
                index, lost = slots.catch_up(index, published)
                frame = slots.take(index)
                if self._pacing is not None and self._pacing.before_first and (lost or not frame):
                    # Another pacing reader let the engine on before it saw this one's
                    # cursor: this reader begins with the oldest frame it can hold.
                    self._next = self.start_index = index + (frame is None)
                    self._pacing.start_at(self._next)
                    continue
                self.dropped += lost + (frame is None)
                self._next = index + 1
                if lost or frame is None:
                    self._losses.note(self.dropped)
                if frame is None:
                    continue
                if self._gap:
                    frame.flags |= layout.FLAG_DISCONTINUITY
                    self._gap = False
                self._waiting.handed_out(frame)
                if self._pacing is not None:
                    self._pacing.handed_out(index)
                return frame
            if int(ring.state[0]) == layout.STATE_CLOSED:
                slots.fence()  # closed is stored after the last frame count
                if int(ring.seq[0]) > index:
                    continue  # the final frames were published just before closing
                self._ended = True
                self._lower_priority()
                return None
            wait = LIVENESS_INTERVAL_S
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    # Polling readers (timeout 0) learn of a dead engine too, at the
                    # same pace as waiting ones.
                    if time.monotonic() - self._alive_checked >= LIVENESS_INTERVAL_S:
                        if not self._writer_lives(ring) and not self._move_to_new_ring(deadline):
                            return None
                        if self._ring is not ring:
                            continue
                    return None
            slept = self._waiting.wait(slots, word, published, wait)
            if slept and int(ring.word[0]) == word and not self._writer_lives(ring):
                if not self._move_to_new_ring(deadline):
                    return None

    def _writer_lives(self, ring: RingMapping) -> bool:
        """False if the engine died without closing the ring (a reattaching reader
        then moves on); raises ``WriterGone`` for a reader that does not reattach."""
        self._alive_checked = time.monotonic()
        if int(ring.state[0]) == layout.STATE_CLOSED or ring.writer_alive():
            return True
        if not self.reattach:
            raise writer_gone(self.name, self.info.writer_pid)
        return False

    def peek(self, index: int) -> Optional[Frame]:
        """Frame ``index`` if it is still in the ring (history or not yet read),
        without moving this reader; None if not published yet or overwritten."""
        if index < 0 or index >= self.write_seq:
            return None
        return self._slots.take(index)

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
        self._mapped()
        return self._slots.window(first_index, count)

    def frames_valid(self, first_index: int, count: int) -> bool:
        """True if frames ``first_index .. first_index+count-1`` are all complete in the ring
        (False once the reader is closed)."""
        if self._ring is None:
            return False
        return self._slots.frames_valid(first_index, count)

    # ---- lifecycle -------------------------------------------------------------------------

    def _lower_priority(self) -> None:
        """Puts a thread raised by ``priority=True`` back as it was (see
        :mod:`v2m.priority`): the stream ended, or the reader closes."""
        if self._scheduling_before is not None:
            self._scheduling_before.restore()
            self._scheduling_before = None

    def close(self) -> None:
        """Unmaps the ring. Frames still referenced keep their memory alive; a thread
        raised by ``priority=True`` is put back as it was."""
        self._lower_priority()
        self._detached = False
        self._waiting.close()
        if self._pacing is not None:
            self._pacing.close()
            self._pacing = None
        if self._ring is not None:
            self._ring.close()
            self._ring = None

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
        if getattr(self, "_ring", None) is not None:
            self.close()

    # ---- attaching -------------------------------------------------------------------------

    def _oldest(self, write_seq: int) -> int:
        """The oldest frame the ring can still hold when ``write_seq`` frames are out
        (a mirror's ring starts at the frame where it joined, ``first_index``)."""
        return max(self.info.first_index, write_seq - self.slots)

    def _attach(self, deadline: float) -> RingMapping:
        """The ring, once it exists, runs and has a live (or finished) engine."""
        return attach(self.path, self.name, self.owner, deadline, not self.wait_for_vad)

    def _move_to_new_ring(self, deadline: Optional[float]) -> bool:
        """After the engine died: waits for a new engine's ring under the same name and
        continues with its oldest frame. False if ``deadline`` passed first."""
        old_generation = self.info.generation
        self.close()
        self._detached = True
        found = next_engine(
            self.path, self.name, self.owner, old_generation, not self.wait_for_vad, deadline
        )
        if found is None:
            return False
        self._ring = ring = found
        self.info = ring.info
        self._slots = SlotReader(ring, self._fence, self.copy)
        self._detached = False
        self._next = self.start_index = self._oldest(int(ring.seq[0]))
        self._waiting.restart()
        if self.pace:  # a new cursor: the frames the old one held were the old engine's
            self._pacing = Pacing(self.name, self.generation, self._next, self.slots)
        self._gap = True
        self.reattached += 1
        return True


def _check_options(
    start: object, wake: object, wait: object, owner: object, *flags: object
) -> None:
    """The checks of :class:`Reader`'s options (``flags``: its bools, in order)."""
    checks.one_of("start", start, ("latest", "oldest"))
    checks.one_of("wake", wake, WAKES)
    checks.number("wait", wait, unit="seconds", low=0, infinite=True)
    if owner is not None:
        checks.integer("owner", owner, low=0)
    for option, value in zip(("copy", "reattach", "pace", "wait_for_vad", "priority"), flags):
        checks.flag(option, value)
