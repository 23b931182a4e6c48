"""The Python reader's layout tables agree with the engine's Rust definition."""

from __future__ import annotations

import json

from support.engine import run_engine
from v2m import layout


def test_python_and_rust_agree_on_every_field() -> None:
    result = run_engine("layout")
    assert result.returncode == 0, result.stderr
    rust = json.loads(result.stdout)
    assert tuple(rust["version"]) == (layout.VERSION_MAJOR, layout.VERSION_MINOR)
    assert rust["magic"].encode() + b"\x00" == layout.MAGIC
    assert rust["header_used"] == layout.HEADER_USED
    assert rust["header_defined"] == layout.HEADER_DEFINED
    assert rust["slot_meta_size"] == layout.SLOT_META_SIZE
    assert rust["slot_record_size"] == layout.SLOT_RECORD_SIZE
    python_header = {n: [o, layout.field_size(c)] for n, (o, c) in layout.HEADER_FIELDS.items()}
    assert python_header == rust["header"]
    python_slot = {n: [o, layout.field_size(c)] for n, (o, c) in layout.SLOT_FIELDS.items()}
    assert python_slot == rust["slot"]
    samples = {n: [o, layout.field_size(c)] for n, (o, c) in layout.SLOT_SAMPLES_FIELDS.items()}
    assert samples == rust["slot_samples"]
    assert layout.SLOT_STRUCT.size == 64
    assert rust["flags"] == {
        "discontinuity": layout.FLAG_DISCONTINUITY,
        "padded": layout.FLAG_PADDED,
        "device_overrun": layout.FLAG_DEVICE_OVERRUN,
        "source_restart": layout.FLAG_SOURCE_RESTART,
    }
    assert rust["states"] == {
        "starting": layout.STATE_STARTING,
        "running": layout.STATE_RUNNING,
        "closed": layout.STATE_CLOSED,
    }
    assert rust["vad"] == {
        "off": layout.VAD_OFF,
        "energy": layout.VAD_ENERGY,
        "silero": layout.VAD_SILERO,
    }
    assert rust["format_f32le"] == layout.FORMAT_F32LE
    assert rust["limits"] == {
        "rate": list(layout.RATE_RANGE),
        "channels": layout.MAX_CHANNELS,
        "frame_samples": layout.MAX_FRAME_SAMPLES,
        "slots": layout.MAX_SLOTS,
        "meta_stride": layout.MAX_META_STRIDE,
    }
