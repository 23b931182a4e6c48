"""The ring reader: attaches to ``/dev/shm/v2m-NAME`` read-only and yields frames."""

from __future__ import annotations

import logging
import re
import time
from types import TracebackType
from typing import TYPE_CHECKING, AsyncIterator, Iterator, Optional, Tuple, Type

import numpy as np
import numpy.typing as npt

from . import aio, checks, events, layout, utterances
from .errors import NotFound, WriterGone
from .frame import Frame
from .liveness import engine_alive
from .futex import futex_wait
from .ordering import Fence, no_fence, reader_fence
from .cursor import Cursor
from .mapping import RingMapping
from .priority import Priority, raise_priority
from .wake import AdaptiveWake, Plan

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .events import VadEvent, VadEventOptions
    from .utterances import Utterance, UtteranceOptions

SHM_DIR = "/dev/shm"
LOG = logging.getLogger("v2m")
DROP_WARNING_INTERVAL_S = 1.0
"""Losses are reported through ``logging`` at most this often, summed."""
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
_NAN = float("nan")
WAKES = ("futex", "adaptive")
"""The wake strategies a reader can use (``Reader(..., wake=...)``)."""
LIVENESS_INTERVAL_S = 0.25
"""How long a wait sleeps before checking that the engine is still alive."""
REMOVER_GRACE_S = 0.25
"""How long a reader waits out a lock on a ring whose engine is gone (a new engine
removing it) before it believes the lock is a live engine's it cannot see."""


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


class Reader:
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
        soon as its samples are published, before the VAD runs (hundreds of µs
        sooner with Silero): for readers of audio (monitors, recorders, latency
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
        synthetic source) never overwrites a frame this reader has not read yet, so a
        slow consumer of a file loses nothing (the replay slows down instead). The
        frame last returned stays valid until the next read. No effect on other engines.

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
        self._cursor: Optional[Cursor] = None
        checks.one_of("start", start, ("latest", "oldest"))
        checks.one_of("wake", wake, WAKES)
        checks.number("wait", wait, unit="seconds", low=0, infinite=True)
        for option, value in (
            ("copy", copy),
            ("reattach", reattach),
            ("pace", pace),
            ("wait_for_vad", wait_for_vad),
            ("priority", priority),
        ):
            checks.flag(option, value)
        if owner is not None:
            checks.integer("owner", owner, low=0)
        self._keep: Optional[int] = None  # keep_from()'s index
        self._hold_clamped = False  # said once that a hold outgrew the ring
        self._fence = reader_fence()
        self.wake = wake
        self.wait_for_vad = wait_for_vad
        self._raise_priority = priority
        self.priority_result: Optional[Priority] = None
        """With ``priority=True``: what the reading thread got (after the first read)."""
        self._waker: Optional[AdaptiveWake] = AdaptiveWake(name) if wake == "adaptive" else None
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
        self._drops_reported = 0  # dropped frames already logged
        self._drop_logged_at = 0.0
        called_ns = time.monotonic_ns()
        self._ring = self._attach(time.monotonic() + wait)
        self.info = self._ring.info
        write_seq = int(self._ring.seq[0])
        # A ring created while this reader waited holds only frames published after the
        # call: "latest" keeps them (a recorder started before its engine misses nothing).
        fresh = self.info.created_mono_ns >= called_ns
        latest = start == "latest" and not fresh
        self.start_index = write_seq if latest else max(0, write_seq - self.slots)
        """The index of the first frame this reader was positioned at."""
        self._next = self.start_index
        self.pace = pace
        if pace:
            self._cursor = Cursor(name, self.generation, self._next)

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

    @property
    def uptime(self) -> float:
        """Seconds since the engine created the ring."""
        return (time.monotonic_ns() - self.info.created_mono_ns) / 1e9

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
        self._keep = index
        if self._cursor is not None:
            self._hold()

    def _hold(self) -> None:
        """Tells the engine the oldest frame this reader still needs: the one it last
        returned, or :meth:`keep_from`'s if older, but never so old that the engine
        could not publish the frame after it (the ring would then stall)."""
        assert self._cursor is not None
        needed = self._next - 1 if self._keep is None else min(self._keep, self._next - 1)
        lowest = self._next + 1 - self.slots
        if needed < lowest and not self._hold_clamped:
            self._hold_clamped = True
            LOG.warning(
                "ring %r: keeping frames from %d needs more than the ring's %d slots; the "
                "oldest go (start the engine with more --slots)",
                self.name,
                needed,
                self.slots,
            )
        self._cursor.need(max(needed, lowest, 0))

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
        return None if self._waker is None else self._waker.stats()

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
            self.priority_result = raise_priority()
            LOG.info("ring %r: reader thread at %s", self.name, self.priority_result)
        if self._ring is None:
            if not (self.reattach and self._detached):
                raise ValueError("the reader is closed")
            # A reattaching reader whose last wait for the new engine timed out.
            if not self._move_to_new_ring(deadline):
                return None
        while True:
            ring = self._mapped()
            # Load order matters: futex word, then write_seq, then state. A
            # publish or close after any of these loads changes the futex word,
            # so the wait below returns at once instead of missing it. (Samples
            # first: sample_futex and sample_seq, the same way.)
            word = int(ring.word[0])
            published = int(ring.seq[0])
            index = self._next
            if index >= published:
                # Before sleeping on that word: a weakly ordered CPU may have loaded
                # write_seq before it, so look again after a fence.
                self._fence()
                published = int(ring.seq[0])
            if index < published:
                slots = self.slots
                if published - index > slots:
                    # Lapped: everything before the oldest slot is gone.
                    self.dropped += published - slots - index
                    index = published - slots
                self._next = index + 1
                frame = self._take(index)
                if self.dropped > self._drops_reported:
                    self._report_drops()
                if frame is not None:
                    if self._gap:
                        frame.flags |= layout.FLAG_DISCONTINUITY
                        self._gap = False
                    if self._waker is not None:
                        landed = frame.samples_ns if frame.vad_pending else frame.publish_ns
                        self._waker.observe(landed, frame.discontinuity, time.monotonic_ns())
                    if self._cursor is not None:
                        self._hold()
                    return frame
                self.dropped += 1
                continue
            if int(ring.state[0]) == layout.STATE_CLOSED:
                self._fence()  # closed is stored after the last write_seq
                if int(ring.seq[0]) > index:
                    continue  # the final frames were published just before closing
                self._ended = True
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
            if self._waker is not None:
                plan = self._waker.plan(time.monotonic_ns())
                if plan is not None:
                    self._watch(ring, word, published, plan, wait)
                    continue
            futex_wait(ring.word_address, word, wait)
            if int(ring.word[0]) == word and not self._writer_lives(ring):
                if not self._move_to_new_ring(deadline):
                    return None

    def _watch(self, ring: RingMapping, word: int, published: int, plan: Plan, wait: float) -> None:
        """The adaptive wait: asleep until ``plan.wake_ns`` (a publish still wakes it),
        then awake, watching ``write_seq``, until the frame lands or ``plan.give_up_ns``."""
        waker = self._waker
        assert waker is not None
        now = time.monotonic_ns()
        if now < plan.wake_ns:
            futex_wait(ring.word_address, word, min(wait, (plan.wake_ns - now) / 1e9))
            woke = time.monotonic_ns()
            if woke >= plan.wake_ns:
                waker.timer_woke(woke - plan.wake_ns)
            return  # the caller looks again: a frame, the close, or time to watch
        give_up = min(plan.give_up_ns, now + int(wait * 1e9))
        seq, state = ring.seq, ring.state
        while int(seq[0]) == published and int(state[0]) != layout.STATE_CLOSED:
            # Re-reading the newest frame keeps the path the next one takes in the
            # caches: cold after a cadence of idleness, it costs ~40 µs, warm ~3 µs.
            self._take(published - 1, no_fence)
            if time.monotonic_ns() >= give_up:
                waker.missed()  # late beyond the jitter: the next look waits in FUTEX_WAIT
                return
        waker.saw(time.monotonic_ns())

    def _report_drops(self) -> None:
        """Says through ``logging`` that frames were lost (summed, at most once a second)."""
        now = time.monotonic()
        if now - self._drop_logged_at < DROP_WARNING_INTERVAL_S:
            return
        lost = self.dropped - self._drops_reported
        self._drops_reported, self._drop_logged_at = self.dropped, now
        LOG.warning(
            "ring %r: %d frames lost (%d in all): this reader fell more than %d frames "
            "(%.0f s) behind the engine; read faster, or replay files with "
            "--pace-to-readers and Reader(pace=True)",
            self.name,
            lost,
            self.dropped,
            self.slots,
            self.slots * self.frame_duration,
        )

    def _writer_lives(self, ring: RingMapping) -> bool:
        """False if the engine died without closing the ring (a reattaching reader
        then moves on); raises ``WriterGone`` for a reader that does not reattach."""
        self._alive_checked = time.monotonic()
        self._drops_reported = 0  # dropped frames already logged
        self._drop_logged_at = 0.0
        if int(ring.state[0]) == layout.STATE_CLOSED or ring.writer_alive():
            return True
        if not self.reattach:
            raise WriterGone(
                f"the engine (pid {self.info.writer_pid}) of ring {self.name!r} died "
                "without closing it; restart the engine"
            )
        return False

    def _take(self, index: int, fence: Optional[Fence] = None) -> Optional[Frame]:
        """Reads frame ``index`` (published: the caller saw ``seq > index``) under the
        seqlock; None if overwritten. ``fence`` orders the loads (LAYOUT.md §6): a
        no-op on x86-64, a full barrier on ARM64 (:mod:`v2m.ordering`)."""
        fence = self._fence if fence is None else fence
        ring = self._mapped()
        slot = index & (self.slots - 1)
        expected = 2 * index + 2
        stamps = ring.slot_stamps
        if not self._stamp_shows(stamps, slot, expected, fence):
            return None
        fence()  # the stamp before the copy
        meta = ring.slot_meta(slot)
        samples_ns = ring.samples_ns(slot)
        samples = ring.samples[slot]
        if self.copy:
            samples = samples.copy()
        fence()  # the copy before the stamp's second load
        if int(stamps[slot]) != expected:
            return None
        if stamps is not ring.stamps:  # samples first: the VAD fields are not ours
            meta = (expected, *meta[1:3], 0, _NAN, 0, *meta[6:])
        return Frame(meta, samples, stamps, slot, self.frame_duration, samples_ns, fence)

    @staticmethod
    def _stamp_shows(
        stamps: npt.NDArray[np.uint64], slot: int, expected: int, fence: Fence
    ) -> bool:
        """Whether a published frame's slot still holds it (stamp ``expected``).

        A stamp older than the frame cannot be what the slot holds once its frame is
        published; a weakly ordered CPU may still have loaded it before the ``seq``
        that said so, and after a fence it reads the slot's stamp as of that ``seq``
        or later (never counted as a loss for being early)."""
        stamp = int(stamps[slot])
        if stamp < expected:
            fence()
            stamp = int(stamps[slot])
        return stamp == expected

    def peek(self, index: int) -> Optional[Frame]:
        """Frame ``index`` if it is still in the ring (history or not yet read),
        without moving this reader; None if not published yet or overwritten."""
        if index < 0 or index >= self.write_seq:
            return None
        return self._take(index)

    def utterances(self, **options: Unpack[UtteranceOptions]) -> Iterator[Utterance]:
        """Speech segments, ready for a recognizer, cut from the engine's per-frame VAD
        probability the way Silero's ``get_speech_timestamps`` cuts them.

        Options (see :class:`v2m.UtteranceOptions`): ``min_speech_ms`` (250),
        ``min_silence_ms`` (500), ``speech_pad_ms`` (300), ``max_utterance_s`` (30),
        ``threshold`` and ``neg_threshold`` (the engine's, from the header).

        Speech starts at a frame whose probability reaches ``threshold`` and ends once
        it has stayed below ``neg_threshold`` for ``min_silence_ms``; segments shorter
        than ``min_speech_ms`` are dropped; ``speech_pad_ms`` of audio is kept on each
        side (the leading pad comes from the ring's history, so the first word is never
        cut off even when the reader attached at speech onset; pads of neighbouring
        segments never overlap); a segment longer than ``max_utterance_s`` is split.

        Yields :class:`v2m.Utterance` objects; ends when the ring closes.

        Example
        -------
        >>> for u in reader.utterances(min_silence_ms=300):  # doctest: +SKIP
        ...     text = model.transcribe(u.audio)
        """
        self._need_vad("utterances()")
        return utterances.utterances(self, **options)

    def vad_events(self, **options: Unpack[VadEventOptions]) -> Iterator[VadEvent]:
        """Speech start and end events as soon as each is decided, like silero-vad's
        ``VADIterator`` (same option meanings: ``threshold`` (the engine's),
        ``min_silence_ms`` 100, ``speech_pad_ms`` 30). A discontinuity ends speech.

        Example
        -------
        >>> for event in reader.vad_events():  # doctest: +SKIP
        ...     print(event.kind, round(event.time_s, 2))
        """
        self._need_vad("vad_events()")
        return events.vad_events(self, **options)

    def avad_events(self, **options: Unpack[VadEventOptions]) -> AsyncIterator[VadEvent]:
        """:meth:`vad_events` for asyncio apps."""
        return aio.iterate(self.vad_events(**options))

    @property
    def default_threshold(self) -> float:
        """The engine's VAD threshold (from the header)."""
        return self.info.vad_threshold

    def _need_vad(self, what: str) -> None:
        if not self.wait_for_vad:
            raise ValueError(
                f"{what} cuts speech by the VAD result, which a reader opened with "
                "wait_for_vad=False does not wait for; open it with wait_for_vad=True"
            )

    def aiter(self) -> AsyncIterator[Frame]:
        """``async for frame in reader.aiter()``: the frames of ``for frame in reader``,
        awaited without blocking the event loop (the futex wait runs on a worker
        thread) and without polling."""
        return aio.frames(self)

    def autterances(self, **options: Unpack[UtteranceOptions]) -> AsyncIterator[Utterance]:
        """``async for u in reader.autterances()``: :meth:`utterances` for asyncio apps."""
        self._need_vad("autterances()")
        return aio.iterate(utterances.utterances(self, **options))

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
        view = self._mapped().samples[first_slot : first_slot + count]
        return view.reshape(-1) if self.channels == 1 else view.reshape(-1, self.channels)

    def frames_valid(self, first_index: int, count: int) -> bool:
        """True if frames ``first_index .. first_index+count-1`` are all complete in the ring
        (False once the reader is closed)."""
        ring = self._ring
        if ring is None:
            return False
        self._fence()  # the caller's reads of the frames before the stamps' loads
        if first_index < 0 or first_index + count > self.write_seq:
            return False
        mask = self.slots - 1
        for index in range(first_index, first_index + count):
            if not self._stamp_shows(ring.stamps, index & mask, 2 * index + 2, self._fence):
                return False
        return True

    # ---- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Unmaps the ring. Frames still referenced keep their memory alive."""
        self._detached = False
        if self._waker is not None:
            self._waker.close()
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None
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

    def _attach(self, deadline: float) -> RingMapping:
        """Maps the ring once it exists, runs, and has a live (or finished) engine.

        A ring left by a dead engine is waited out until ``deadline``: the next
        engine under the same name replaces it.
        """
        while True:
            try:
                ring = RingMapping(self.path, self.name, self.owner)
            except NotFound:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)
                continue
            try:
                while int(ring.state[0]) == layout.STATE_STARTING and time.monotonic() < deadline:
                    time.sleep(0.001)
                if self._ready(ring) or time.monotonic() >= deadline:
                    self._check_ready(ring)
                    ring.follow(samples_first=not self.wait_for_vad)
                    return ring
            except BaseException:
                ring.close()
                raise
            ring.close()
            time.sleep(0.005)

    def _move_to_new_ring(self, deadline: Optional[float]) -> bool:
        """After the engine died: waits for a new engine's ring under the same name and
        continues with its oldest frame. False if ``deadline`` passed first."""
        old_generation = self.info.generation
        self._detached = True
        while True:
            self.close()
            self._detached = True
            try:
                ring = self._attach(time.monotonic() + LIVENESS_INTERVAL_S)
                if ring.info.generation != old_generation:
                    break
                ring.close()
            except (NotFound, WriterGone):
                pass
            if deadline is not None and time.monotonic() >= deadline:
                return False
        self._ring, self.info = ring, ring.info
        self._detached = False
        self._next = self.start_index = max(0, int(ring.seq[0]) - self.slots)
        if self._waker is not None:
            self._waker.reset()
        self._keep = None  # the frames it held are the old engine's
        if self.pace:
            self._cursor = Cursor(self.name, self.generation, self._next)
        self._gap = True
        self.reattached += 1
        return True

    @staticmethod
    def _ready(ring: RingMapping) -> bool:
        state = int(ring.state[0])
        if state == layout.STATE_STARTING:
            return False
        # engine_alive, not writer_alive: a stale ring's lock may be a new engine's,
        # held while it removes that ring.
        return state == layout.STATE_CLOSED or engine_alive(
            ring.fd, ring.info.version, ring.info.writer_pid, REMOVER_GRACE_S
        )

    def _check_ready(self, ring: RingMapping) -> None:
        state = int(ring.state[0])
        if state == layout.STATE_STARTING:
            raise NotFound(f"ring {self.name!r} exists but its engine has not started running")
        if state != layout.STATE_CLOSED and not ring.writer_alive():
            raise WriterGone(
                f"the engine (pid {ring.info.writer_pid}) of ring {self.name!r} died without "
                "closing it; restart the engine (it removes the stale ring)"
            )
