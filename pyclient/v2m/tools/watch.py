"""Following one ring for a tool: attach when it appears, notice its engine dying or
closing it, attach again to the next engine under the same name, and keep the running figures a monitor or an exporter
shows (levels, VAD, rates, delivery latency, publish jitter, the engine's counters)."""

from __future__ import annotations

import bisect
import collections
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Deque, Dict, List, Optional, Tuple

import numpy as np

from ..errors import NotFound, V2MError, WriterGone
from ..frame import Frame
from ..layout import VAD_NAMES, HeaderInfo
from ..reader import Reader

WINDOW_S = 5.0
"""Latency and jitter figures cover the last few seconds."""
HISTORY_S = 10.0
"""Level and VAD traces cover the last few seconds."""
RETRY_S = 0.5
"""How often a missing or closed ring is looked for again."""
LATENCY_BUCKETS_S = (50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 0.1)
"""Upper bounds of the delivery-latency histogram (an exporter's buckets)."""


def dbfs(linear: float) -> float:
    """Full-scale level in dB (-120 for silence)."""
    return 20 * math.log10(linear) if linear > 1e-6 else -120.0


def channel_levels(frame: Frame) -> Tuple[List[float], List[float]]:
    """The frame's RMS and peak of each channel (linear), over its valid samples: the
    header's level is of the whole frame, every channel together."""
    if frame.samples.ndim == 1:
        return [frame.rms], [frame.peak]
    audio = frame.samples[: frame.valid_samples].astype(np.float64)
    if len(audio) == 0:
        return [0.0] * audio.shape[1], [0.0] * audio.shape[1]
    rms = np.sqrt(np.mean(audio * audio, axis=0))
    peak = np.abs(audio).max(axis=0)
    return [float(v) for v in rms], [float(v) for v in peak]


@dataclass
class Figures:
    """What a tool shows of one ring at one moment."""

    name: str
    state: str  # "waiting", "running", "closed", "stale" or the error
    pid: Optional[int] = None
    generation: Optional[int] = None
    source: str = ""
    sample_rate: int = 0
    frame_samples: int = 0
    uptime_s: float = 0.0
    frames: int = 0  # received by this tool since it started
    dropped: int = 0  # lost by this tool's reader
    fps: float = 0.0
    rms_dbfs: float = -120.0
    peak_dbfs: float = -120.0
    channels: int = 1
    channel_rms_dbfs: List[float] = field(default_factory=list)  # the latest frame's, per channel
    channel_peak_dbfs: List[float] = field(default_factory=list)
    vad_prob: float = 0.0
    speech: bool = False
    threshold: float = 0.5
    utterances: int = 0  # speech flag rising edges seen
    speech_s: float = 0.0
    latency_us: Dict[str, float] = field(default_factory=dict)
    jitter_us: Dict[str, float] = field(default_factory=dict)
    engine: Dict[str, int] = field(default_factory=dict)  # header statistics
    vad_us_per_frame: float = 0.0
    level_history: List[float] = field(default_factory=list)  # rms dBFS, oldest first
    vad_history: List[Tuple[float, bool]] = field(default_factory=list)
    generations_seen: int = 0
    frames_published: int = 0  # the engine's write_seq
    start_time_s: float = 0.0  # CLOCK_REALTIME of the ring's creation
    vad_kind: str = ""
    latency_buckets: List[int] = field(default_factory=list)  # cumulative, +Inf last
    latency_sum_s: float = 0.0


class RingWatch:
    """Reads one ring for a tool and keeps :class:`Figures` up to date.

    :meth:`start` reads on a thread of its own, so a slow redraw or scrape never
    delays a frame; :meth:`figures` may be called from any thread.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.reader: Optional[Reader] = None
        self.state = "waiting"
        self._next_try = 0.0
        self._frames = self._dropped_before = self._utterances = 0
        self._speech_frames = 0
        self._last: Optional[Frame] = None
        self._channel_levels: Tuple[List[float], List[float]] = ([], [])  # rms, peak (linear)
        self._was_speech = False
        self._arrivals: Deque[Tuple[float, int, int]] = collections.deque()  # (t, publish, lat)
        self._levels: Deque[float] = collections.deque()
        self._vad: Deque[Tuple[float, bool]] = collections.deque()
        self._generations: List[int] = []
        self._buckets = [0] * (len(LATENCY_BUCKETS_S) + 1)
        # What the last engine's ring said, kept to show after it closed or died.
        self._info: Optional[HeaderInfo] = None
        self._stats: Dict[str, int] = {}
        self._published = 0
        self._uptime_s = 0.0
        self._latency_sum_s = 0.0

    # ---- attaching ----------------------------------------------------------------------

    def _attach(self) -> None:
        now = time.monotonic()
        if now < self._next_try:
            return
        self._next_try = now + RETRY_S
        try:
            reader = Reader(self.name)
        except NotFound:
            self.state = "waiting"
            return
        except WriterGone:
            self.state = "stale"  # until the next engine replaces the ring
            return
        except V2MError as e:
            self.state = f"unreadable: {e}"
            return
        with self._lock:
            self.reader, self.state, self._info = reader, "running", reader.info
            if not self._generations or self._generations[-1] != reader.generation:
                self._generations.append(reader.generation)
            history = int(HISTORY_S / reader.frame_duration)
            self._levels = collections.deque(self._levels, maxlen=history)
            self._vad = collections.deque(self._vad, maxlen=history)

    def _detach(self, state: str) -> None:
        with self._lock:
            if self.reader is not None:
                self._remember(self.reader)
                self._dropped_before += self.reader.dropped
                self.reader.close()
            self.reader, self.state = None, state
        self._next_try = time.monotonic() + RETRY_S

    # ---- reading ------------------------------------------------------------------------

    def pump(self, until: float) -> int:
        """Reads frames until the monotonic time ``until``; how many it read."""
        count = 0
        while time.monotonic() < until:
            if self.reader is None:
                self._attach()
                if self.reader is None:
                    time.sleep(max(0.0, min(until, self._next_try) - time.monotonic()))
                    continue
            try:
                frame = self.reader.read(timeout=max(0.0, until - time.monotonic()))
            except WriterGone:
                self._detach("stale")
                continue
            if frame is None:
                if self.reader.ended:
                    self._detach("closed")
                continue
            with self._lock:
                if self.reader.generation not in self._generations:
                    self._generations.append(self.reader.generation)
                self._take_locked(frame)
            count += 1
        return count

    def start(self) -> "RingWatch":
        """Reads on a daemon thread until :meth:`close`."""
        self._thread = threading.Thread(
            target=self._run, name=f"v2m-watch-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.pump(time.monotonic() + 0.25)

    def _take_locked(self, frame: Frame) -> None:
        now = time.monotonic_ns()
        self._frames += 1
        self._last = frame
        latency = now - frame.publish_ns
        self._arrivals.append((now / 1e9, frame.publish_ns, latency))
        self._buckets[bisect.bisect_left(LATENCY_BUCKETS_S, latency / 1e9)] += 1
        self._latency_sum_s += latency / 1e9
        horizon = now / 1e9 - WINDOW_S
        while self._arrivals and self._arrivals[0][0] < horizon:
            self._arrivals.popleft()
        self._levels.append(dbfs(frame.rms))
        self._channel_levels = channel_levels(frame)
        self._vad.append((frame.vad_prob, frame.speech))
        if frame.speech:
            self._speech_frames += 1
            if not self._was_speech:
                self._utterances += 1
        self._was_speech = frame.speech

    # ---- figures ------------------------------------------------------------------------

    def figures(self) -> Figures:
        """The current figures (the header's counters read now)."""
        with self._lock:
            return self._figures_locked()

    def _figures_locked(self) -> Figures:
        f = Figures(self.name, self.state, generations_seen=len(self._generations))
        f.frames, f.utterances = self._frames, self._utterances
        f.latency_buckets = list(np.cumsum(self._buckets))
        f.latency_sum_s = self._latency_sum_s
        f.level_history, f.vad_history = list(self._levels), list(self._vad)
        reader = self.reader
        if reader is not None:
            self._remember(reader)
        info = self._info
        if info is not None:
            f.pid, f.generation, f.source = info.writer_pid, info.generation, info.source
            f.sample_rate, f.frame_samples = info.sample_rate, info.frame_samples
            f.threshold = info.vad_threshold
            f.start_time_s = info.created_real_ns / 1e9
            f.vad_kind = VAD_NAMES.get(info.vad_kind, str(info.vad_kind))
            f.speech_s = self._speech_frames * info.frame_samples / info.sample_rate
            f.engine, f.uptime_s, f.frames_published = self._stats, self._uptime_s, self._published
            frames = f.engine.get("vad_frames", 0)
            f.vad_us_per_frame = f.engine.get("vad_ns_total", 0) / frames / 1000 if frames else 0
        f.dropped = self._dropped_before + (reader.dropped if reader is not None else 0)
        if self._last is not None:
            f.rms_dbfs, f.peak_dbfs = dbfs(self._last.rms), dbfs(self._last.peak)
            rms, peak = self._channel_levels
            f.channels = len(rms)
            f.channel_rms_dbfs, f.channel_peak_dbfs = [dbfs(v) for v in rms], [
                dbfs(v) for v in peak
            ]
            f.vad_prob, f.speech = self._last.vad_prob, self._last.speech
        if len(self._arrivals) > 1:
            times, published, latency = (np.asarray(c) for c in zip(*self._arrivals))
            span = times[-1] - times[0]
            f.fps = (len(times) - 1) / span if span > 0 else 0.0
            lat = latency / 1000
            f.latency_us = {
                "p50": float(np.percentile(lat, 50)),
                "p99": float(np.percentile(lat, 99)),
                "max": float(lat.max()),
            }
            if f.frame_samples:
                expected = f.frame_samples / f.sample_rate * 1e9
                deviation = (np.diff(published) - expected) / 1000
                f.jitter_us = {
                    "sd": float(np.std(deviation)),
                    "max": float(np.abs(deviation).max()),
                }
        return f

    def _remember(self, reader: Reader) -> None:
        """Keeps what the engine's header says now, to show after the ring is gone."""
        try:
            self._stats, self._uptime_s = reader.stats(), reader.uptime
            self._published = reader.write_seq
        except ValueError:
            pass

    def close(self) -> None:
        """Stops the reading thread and closes the reader."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        with self._lock:
            if self.reader is not None:
                self.reader.close()
                self.reader = None
