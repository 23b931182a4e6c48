"""Layout version 1 of the shared-memory ring, as ``layout/LAYOUT.md`` specifies.

Everything a reader needs is derived from the header; the only constants here
are the header's own field offsets. A test compares these tables with the
engine's Rust definition.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from typing import Dict, Optional, Tuple, Union

from .errors import LayoutError

Buffer = Union[bytes, bytearray, memoryview, mmap.mmap]
"""Anything the header can be read from: a snapshot or the live mapping."""

MAGIC = b"V2MRING\x00"
VERSION_MAJOR = 1
VERSION_MINOR = 4
HEADER_USED = 512
"""Bytes of header a version-1.0 reader reads; the rest is reserved."""
HEADER_DEFINED = 968
"""Bytes of header version 1.3 defines (1.2: ``sample_seq`` and ``sample_futex``
after the statistics; 1.3: the source's clock offset and a mirror's origin)."""
SLOT_META_SIZE = 64
"""Bytes of a slot's 1.0 record (the frame's metadata), the smallest stride."""
SLOT_RECORD_SIZE = 128
"""Bytes of a slot's whole 1.2 record: the metadata, then the samples record."""

# What an engine can create; a header outside these is refused (LAYOUT.md §3).
RATE_RANGE = (1_000, 384_000)
MAX_CHANNELS = 16
MAX_FRAME_SAMPLES = 1 << 16
MAX_SLOTS = 1 << 20
MAX_META_STRIDE = 4096

STATE_STARTING = 0
STATE_RUNNING = 1
STATE_CLOSED = 2

FORMAT_F32LE = 1

ORIGIN_ENGINE = 0
"""The ring's frames come from its own engine's source."""
ORIGIN_MIRROR = 1
VAD_CHANNEL_MIX = 0xFFFF_FFFF
"""``vad_channel``: the VAD listened to the average of the ring's channels (1.4)."""
"""The ring mirrors another host's ring (``origin_host``, ``origin_ring``, ``origin_key``)."""

VAD_OFF = 0
VAD_ENERGY = 1
VAD_SILERO = 2
VAD_NAMES = {VAD_OFF: "off", VAD_ENERGY: "energy", VAD_SILERO: "silero"}

FLAG_DISCONTINUITY = 1 << 0
"""Audio before this frame is missing (overrun, gap, restart)."""
FLAG_PADDED = 1 << 1
"""The source ended inside this frame; samples past ``valid_samples`` are zeros."""
FLAG_DEVICE_OVERRUN = 1 << 2
"""The capture device overran before this frame."""
FLAG_SOURCE_RESTART = 1 << 3
"""The source restarted (file looped, device reopened)."""

# name: (offset, struct code); sizes follow from the codes.
HEADER_FIELDS: Dict[str, Tuple[int, str]] = {
    "magic": (0, "8s"),
    "version_major": (8, "H"),
    "version_minor": (10, "H"),
    "header_size": (12, "I"),
    "generation": (16, "Q"),
    "writer_pid": (24, "I"),
    "state": (28, "I"),
    "created_mono_ns": (32, "Q"),
    "created_real_ns": (40, "Q"),
    "total_size": (48, "Q"),
    "sample_rate": (64, "I"),
    "channels": (68, "I"),
    "frame_samples": (72, "I"),
    "sample_format": (76, "I"),
    "slot_count": (80, "I"),
    "meta_stride": (84, "I"),
    "meta_offset": (88, "Q"),
    "samples_offset": (96, "Q"),
    "slot_bytes": (104, "Q"),
    "vad_kind": (128, "I"),
    "vad_threshold": (132, "f"),
    "vad_neg_threshold": (136, "f"),
    "vad_min_silence_ms": (140, "I"),
    "source_speed": (144, "f"),
    "origin_kind": (148, "I"),
    "first_index": (152, "Q"),
    "vad_channel": (160, "I"),
    "source": (192, "128s"),
    "write_seq": (320, "Q"),
    "futex": (384, "I"),
    "device_overruns": (448, "Q"),
    "samples_lost": (456, "Q"),
    "source_restarts": (464, "Q"),
    "discontinuities": (472, "Q"),
    "vad_ns_total": (480, "Q"),
    "vad_ns_max": (488, "Q"),
    "vad_frames": (496, "Q"),
    "last_publish_ns": (504, "Q"),
    "sample_seq": (512, "Q"),
    "sample_futex": (576, "I"),
    "source_clock_offset_ns": (640, "q"),
    "origin_host": (704, "64s"),
    "origin_ring": (768, "64s"),
    "origin_key": (832, "128s"),
    "origin_generation": (960, "Q"),
}

SLOT_FIELDS: Dict[str, Tuple[int, str]] = {
    "stamp": (0, "Q"),
    "index": (8, "Q"),
    "capture_ns": (16, "Q"),
    "publish_ns": (24, "Q"),
    "vad_prob": (32, "f"),
    "speech": (36, "I"),
    "rms": (40, "f"),
    "peak": (44, "f"),
    "flags": (48, "I"),
    "valid_samples": (52, "I"),
    "arrival_ns": (56, "Q"),
}

SLOT_SAMPLES_FIELDS: Dict[str, Tuple[int, str]] = {
    "samples_stamp": (64, "Q"),
    "samples_ns": (72, "Q"),
}
"""The samples record (since 1.2), at these offsets in a slot's record."""

SLOT_STRUCT = struct.Struct("<" + "".join(code for _, code in SLOT_FIELDS.values()))
"""Unpacks one slot's metadata record (all named fields, in order)."""

STATS_FIELDS = (
    "device_overruns",
    "samples_lost",
    "source_restarts",
    "discontinuities",
    "vad_ns_total",
    "vad_ns_max",
    "vad_frames",
    "last_publish_ns",
)


def stamp_complete(index: int) -> int:
    """The stamp a slot holds once frame ``index`` is completely written (``LAYOUT.md``
    §6; ``v2m_layout::stamp_complete`` in Rust): ``2 * index + 2``. While it is being
    written the stamp is odd, ``2 * index + 1``; a slot never written holds 0.

    >>> stamp_complete(0)
    2
    """
    return 2 * index + 2


def stamp_writing(index: int) -> int:
    """The odd stamp a slot holds while frame ``index`` is being written."""
    return 2 * index + 1


def field_size(code: str) -> int:
    """Bytes a struct code occupies, e.g. ``field_size("Q") == 8``."""
    return struct.calcsize("<" + code)


def read_field(buffer: Buffer, name: str) -> int | float | bytes:
    """One header field from ``buffer`` (a snapshot: use for fields that do not change)."""
    offset, code = HEADER_FIELDS[name]
    value: int | float | bytes = struct.unpack_from("<" + code, buffer, offset)[0]
    return value


@dataclass(frozen=True)
class HeaderInfo:
    """The validated, immutable part of a ring header.

    Example
    -------
    >>> info = parse_header(open("/dev/shm/v2m-default", "rb").read())  # doctest: +SKIP
    >>> info.sample_rate, info.frame_samples, info.slot_count  # doctest: +SKIP
    (16000, 512, 2048)
    """

    version: Tuple[int, int]
    generation: int
    writer_pid: int
    sample_rate: int
    channels: int
    frame_samples: int
    slot_count: int
    meta_offset: int
    meta_stride: int
    samples_offset: int
    slot_bytes: int
    total_size: int
    vad_kind: int
    vad_threshold: float
    vad_neg_threshold: float
    vad_min_silence_ms: int
    source_speed: float
    source: str
    created_mono_ns: int = 0
    created_real_ns: int = 0
    origin_kind: int = ORIGIN_ENGINE
    first_index: int = 0
    source_clock_offset_ns: int = 0
    """CLOCK_REALTIME - CLOCK_MONOTONIC of the host that captured the frames (before
    1.3: the writer's at creation): ``capture_ns + source_clock_offset_ns`` is the
    source's wall-clock time."""
    origin_host: str = ""
    origin_ring: str = ""
    origin_key: str = ""
    vad_channel: Optional[int] = None
    """The ring channel the VAD listened to; ``None``: the average of all of them
    (layout 1.4; every older ring is mono)."""

    @property
    def is_mirror(self) -> bool:
        """The frames were received from another ring (``v2m-bridge mirror``)."""
        return self.origin_kind == ORIGIN_MIRROR

    @property
    def origin(self) -> str:
        """Where the frames come from, for people: ``"engine"`` or
        ``"mirror of HOST/RING (KEY)"``."""
        if not self.is_mirror:
            return "engine" if self.origin_kind == ORIGIN_ENGINE else f"origin {self.origin_kind}"
        return f"mirror of {self.origin_host}/{self.origin_ring} ({self.origin_key})"

    @property
    def samples_first(self) -> bool:
        """The ring publishes each frame's samples before its VAD result (layout 1.2:
        ``sample_seq``, ``sample_futex`` and a samples stamp per slot)."""
        return self.version >= (1, 2) and self.meta_stride >= SLOT_RECORD_SIZE


def parse_header(buffer: Buffer, file_size: int | None = None) -> HeaderInfo:
    """Validates a header against the segment's size before anything is derived from it.

    Parameters
    ----------
    buffer
        At least the first ``HEADER_USED`` bytes of the segment (the whole mapping is fine).
    file_size
        Size of the segment in bytes; defaults to ``len(buffer)``.

    Raises
    ------
    LayoutError
        Bad magic, unsupported major version, truncated file, or any field out of
        range or sections overlapping or past the end.
    """
    size = len(buffer) if file_size is None else file_size
    have = min(len(buffer), size)
    if have >= 8 and bytes(buffer[:8]) != MAGIC:
        raise LayoutError("not a v2m ring (bad magic); is something else using this name?")
    if have < HEADER_USED:
        raise LayoutError(
            f"ring is truncated: {have} bytes, but the header alone needs {HEADER_USED}"
        )

    def field(name: str) -> int:
        value = read_field(buffer, name)
        assert isinstance(value, int)
        return value

    major, minor = field("version_major"), field("version_minor")
    if major != VERSION_MAJOR:
        raise LayoutError(
            f"ring layout version {major}.{minor} is not supported (this reader reads "
            f"{VERSION_MAJOR}.x); install the v2m package that matches the engine"
        )
    header_size = field("header_size")
    if header_size < HEADER_USED:
        raise LayoutError(f"ring header is inconsistent: header size {header_size} < {HEADER_USED}")
    total = field("total_size")
    if total > size:
        raise LayoutError(f"ring is truncated: header needs {total} bytes, segment has {size}")
    if total < size:
        raise LayoutError(f"ring header is inconsistent: says {total} bytes, segment has {size}")
    if field("state") > STATE_CLOSED:
        raise LayoutError(f"ring header is inconsistent: unknown state {field('state')}")
    if field("sample_format") != FORMAT_F32LE:
        raise LayoutError(f"ring header is inconsistent: sample format {field('sample_format')}")

    rate, channels, frame = field("sample_rate"), field("channels"), field("frame_samples")
    slots, stride = field("slot_count"), field("meta_stride")
    meta_off, samples_off, slot_bytes = (
        field("meta_offset"),
        field("samples_offset"),
        field("slot_bytes"),
    )
    problems = []
    if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        problems.append(f"sample rate {rate} Hz is outside {RATE_RANGE[0]}..={RATE_RANGE[1]}")
    if not 1 <= channels <= MAX_CHANNELS:
        problems.append(f"channel count {channels} is outside 1..={MAX_CHANNELS}")
    if not 1 <= frame <= MAX_FRAME_SAMPLES:
        problems.append(f"frame size {frame} is outside 1..={MAX_FRAME_SAMPLES}")
    if not 2 <= slots <= MAX_SLOTS or slots & (slots - 1):
        problems.append(f"slot count {slots} is not a power of two in 2..={MAX_SLOTS}")
    if not SLOT_META_SIZE <= stride <= MAX_META_STRIDE or stride % 8:
        problems.append(
            f"metadata stride {stride} is outside {SLOT_META_SIZE}..={MAX_META_STRIDE} "
            "or not a multiple of 8"
        )
    if meta_off < header_size or meta_off % 64:
        problems.append(f"metadata offset {meta_off} overlaps the header or is unaligned")
    if slot_bytes != frame * channels * 4:
        problems.append(
            f"slot size {slot_bytes} bytes does not match {frame} samples x {channels} channels x 4"
        )
    if meta_off + slots * stride > samples_off or samples_off % 64:
        problems.append(f"samples offset {samples_off} overlaps the metadata or is unaligned")
    if problems:
        raise LayoutError("ring header is inconsistent: " + "; ".join(problems))
    samples_end = samples_off + slots * slot_bytes
    if samples_end >= 1 << 64:
        raise LayoutError("ring header is inconsistent: the samples section overflows")
    if samples_end > total:
        raise LayoutError(
            f"ring is truncated: samples end at {samples_end}, segment has {total} bytes"
        )

    source = _text(buffer, "source")
    threshold, neg_threshold, speed = (
        read_field(buffer, "vad_threshold"),
        read_field(buffer, "vad_neg_threshold"),
        read_field(buffer, "source_speed"),
    )
    assert isinstance(threshold, float) and isinstance(neg_threshold, float)
    assert isinstance(speed, float)
    kind, first, clock_offset, host, ring, key = _origin_fields(buffer, minor, have)
    created_mono, created_real = field("created_mono_ns"), field("created_real_ns")
    return HeaderInfo(
        version=(major, minor),
        generation=field("generation"),
        writer_pid=field("writer_pid"),
        sample_rate=rate,
        channels=channels,
        frame_samples=frame,
        slot_count=slots,
        meta_offset=meta_off,
        meta_stride=stride,
        samples_offset=samples_off,
        slot_bytes=slot_bytes,
        total_size=total,
        vad_kind=field("vad_kind"),
        vad_threshold=threshold,
        vad_neg_threshold=neg_threshold,
        vad_min_silence_ms=field("vad_min_silence_ms"),
        source_speed=speed,
        source=source,
        created_mono_ns=created_mono,
        created_real_ns=created_real,
        origin_kind=kind,
        first_index=first,
        source_clock_offset_ns=(
            created_real - created_mono if clock_offset is None else clock_offset
        ),
        origin_host=host,
        origin_ring=ring,
        origin_key=key,
        vad_channel=_vad_channel(buffer, minor),
    )


def _vad_channel(buffer: Buffer, minor: int) -> Optional[int]:
    """The 1.4 field: the VAD's ring channel, or None for the mix (and before 1.4)."""
    if minor < 4:
        return None
    channel = read_field(buffer, "vad_channel")
    assert isinstance(channel, int)
    return None if channel == VAD_CHANNEL_MIX else channel


def _text(buffer: Buffer, name: str) -> str:
    """A NUL-padded UTF-8 header field (lossy: another process wrote it)."""
    raw = read_field(buffer, name)
    assert isinstance(raw, bytes)
    return raw.split(b"\x00", 1)[0].decode("utf-8", "replace")


def _origin_fields(
    buffer: Buffer, minor: int, have: int
) -> Tuple[int, int, Optional[int], str, str, str]:
    """The 1.3 fields (kind, first index, clock offset, host, ring, key); the
    defaults, and no clock offset, when the ring or the buffer predates them."""
    if minor < 3:
        return ORIGIN_ENGINE, 0, None, "", "", ""
    kind, first = read_field(buffer, "origin_kind"), read_field(buffer, "first_index")
    assert isinstance(kind, int) and isinstance(first, int)
    if have < HEADER_DEFINED or len(buffer) < HEADER_DEFINED:
        return kind, first, None, "", "", ""
    offset = read_field(buffer, "source_clock_offset_ns")
    assert isinstance(offset, int)
    host, ring, key = (_text(buffer, name) for name in ("origin_host", "origin_ring", "origin_key"))
    return kind, first, offset, host, ring, key
