"""Writing WAV test material: float32 or 16/24/32-bit integer PCM, any channel count."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def write_wav(
    path: Path, samples: np.ndarray, rate: int, bits: int = 32, float_: bool = True
) -> Path:
    """Writes ``samples`` (frames × channels, or frames) as a WAV file.

    ``float_`` selects IEEE float (format 3, 32-bit); otherwise integer PCM of
    ``bits`` bits (16, 24 or 32), with values scaled from [-1, 1).
    """
    data = np.asarray(samples)
    channels = 1 if data.ndim == 1 else data.shape[1]
    if float_:
        payload, fmt, bits = data.astype("<f4").tobytes(), 3, 32
    else:
        scaled = np.round(data.astype(np.float64) * (1 << (bits - 1)))
        ints = np.clip(scaled, -(1 << (bits - 1)), (1 << (bits - 1)) - 1).astype("<i4")
        if bits == 16:
            payload = ints.astype("<i2").tobytes()
        elif bits == 24:
            raw = ints.reshape(-1).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
            payload = raw.tobytes()
        else:
            payload = ints.tobytes()
        fmt = 1
    block = channels * bits // 8
    header = b"RIFF" + struct.pack("<I", 36 + len(payload)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, fmt, channels, rate, rate * block, block, bits)
    header += b"data" + struct.pack("<I", len(payload))
    path.write_bytes(header + payload)
    return path


def noise_signal(seconds: float, rate: int = 16000, seed: int = 1) -> np.ndarray:
    """Deterministic, frame-distinguishable float32 audio in [-0.9, 0.9]."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(-0.9, 0.9, int(seconds * rate))).astype(np.float32)
