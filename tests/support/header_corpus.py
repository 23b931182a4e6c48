"""A seeded corpus of ring headers, valid and mutated, for checking that the Rust and
Python validators accept exactly the same headers (LAYOUT.md §3)."""

from __future__ import annotations

import random
import struct
from typing import Iterator, List, Tuple

from v2m import layout

PAGE = 4096
INTERESTING = [
    0,
    1,
    2,
    3,
    7,
    8,
    16,
    63,
    64,
    65,
    100,
    511,
    512,
    513,
    999,
    1000,
    1001,
    4095,
    4096,
    4097,
    8192,
    16000,
    65535,
    65536,
    65537,
    384000,
    384001,
    (1 << 20) - 1,
    1 << 20,
    (1 << 20) + 1,
    (1 << 31) - 1,
    1 << 31,
    (1 << 32) - 1,
    1 << 32,
    1 << 42,
    1 << 63,
    (1 << 64) - 64,
    (1 << 64) - 1,
]
MUTABLE = [
    n
    for n, (offset, _) in layout.HEADER_FIELDS.items()
    if n not in ("magic", "source") and offset < layout.HEADER_USED  # what validators read
]


def round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def valid_header(rate: int, channels: int, frame: int, slots: int) -> Tuple[bytearray, int]:
    """The first HEADER_USED bytes of a ring an engine would make, and its file size."""
    header = bytearray(layout.HEADER_USED)
    samples_offset = round_up(PAGE + slots * layout.SLOT_RECORD_SIZE, PAGE)
    slot_bytes = frame * channels * 4
    total = round_up(samples_offset + slots * slot_bytes, PAGE)
    values = {
        "magic": layout.MAGIC,
        "version_major": layout.VERSION_MAJOR,
        "version_minor": layout.VERSION_MINOR,
        "header_size": PAGE,
        "generation": 0x1234_5678_9ABC_DEF1,
        "writer_pid": 4242,
        "state": layout.STATE_RUNNING,
        "total_size": total,
        "sample_rate": rate,
        "channels": channels,
        "frame_samples": frame,
        "sample_format": layout.FORMAT_F32LE,
        "slot_count": slots,
        "meta_stride": layout.SLOT_RECORD_SIZE,
        "meta_offset": PAGE,
        "samples_offset": samples_offset,
        "slot_bytes": slot_bytes,
        "vad_kind": layout.VAD_SILERO,
        "vad_threshold": 0.5,
        "vad_neg_threshold": 0.35,
        "source": b"file:talk.wav",
    }
    for name, value in values.items():
        offset, code = layout.HEADER_FIELDS[name]
        struct.pack_into("<" + code, header, offset, value)
    return header, total


def _set(header: bytearray, name: str, value: int) -> None:
    offset, code = layout.HEADER_FIELDS[name]
    bits = 8 * struct.calcsize("<" + code)
    if code == "f":
        struct.pack_into("<I", header, offset, value & 0xFFFF_FFFF)
    else:
        struct.pack_into("<" + code, header, offset, value & ((1 << bits) - 1))


def _geometry(rng: random.Random) -> Tuple[int, int, int, int]:
    if rng.random() < 0.5:
        return 16000, 1, 512, rng.choice([2, 16, 2048])
    return (
        rng.choice([1000, 8000, 16000, 44100, 48000, 384000]),
        rng.choice([1, 2, 16]),
        rng.choice([1, 80, 160, 480, 512, 1536, 65536]),
        rng.choice([2, 4, 64, 1024, 1 << 20]),
    )


def corpus(cases: int, seed: int = 20261125) -> Iterator[Tuple[bytes, int]]:
    """``cases`` (header bytes, file size) pairs: about a tenth untouched, the rest
    with one to three mutations of fields, bytes, length or file size."""
    rng = random.Random(seed)
    for _ in range(cases):
        header, size = valid_header(*_geometry(rng))
        cut = None
        for _ in range(0 if rng.random() < 0.1 else rng.choice([1, 1, 1, 2, 3])):
            how = rng.random()
            if how < 0.55:
                _set(header, rng.choice(MUTABLE), rng.choice(INTERESTING))
            elif how < 0.7:
                name = rng.choice(MUTABLE)
                offset, code = layout.HEADER_FIELDS[name]
                base = struct.unpack_from("<" + ("I" if code == "f" else code), header, offset)[0]
                _set(header, name, base + rng.choice([-4096, -64, -8, -1, 1, 8, 64, 4096]))
            elif how < 0.85:
                header[rng.randrange(len(header))] = rng.randrange(256)
            elif how < 0.95:
                size = rng.choice(
                    [0, 7, 8, 511, 512, size - PAGE, size + PAGE, size * 2, (1 << 64) - 1]
                )
                size = min(max(0, size), (1 << 64) - 1)
            else:
                cut = rng.randrange(len(header) + 1)
        yield bytes(header[:cut]), size


def python_verdict(header: bytes, size: int) -> str:
    """What the Python validator says, in the check-headers command's words."""
    try:
        layout.parse_header(header, size)
    except layout.LayoutError as e:
        text = str(e)
        for prefix, verdict in (
            ("not a v2m ring", "bad_magic"),
            ("ring layout version", "version"),
            ("ring is truncated", "truncated"),
            ("ring header is inconsistent", "invalid"),
        ):
            if text.startswith(prefix):
                return verdict
        return f"unrecognised: {text}"
    return "ok"


def encode(cases: List[Tuple[bytes, int]]) -> bytes:
    """The corpus in the check-headers command's input format."""
    return b"".join(struct.pack("<QI", size, len(h)) + h for h, size in cases)
