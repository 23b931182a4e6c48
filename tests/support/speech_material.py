"""Test speech made at test time: espeak-ng sentences with silences of known length,
noise and mixtures at a chosen SNR, with frame-level ground truth."""

from __future__ import annotations

import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import List

import numpy as np

from support import wav_files

RATE = 16000
FRAME = 512
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please send the report to the team before noon tomorrow.",
    "Voice activity detection finds the parts of a recording that contain speech.",
    "It was a bright cold day in April, and the clocks were striking thirteen.",
]
GAPS_S = [1.5, 1.0, 2.0, 1.2, 1.5]


@dataclass
class Material:
    clean: np.ndarray
    """Speech and silences, float32 at 16 kHz."""
    speech_frames: np.ndarray
    """Per 512-sample frame: True where the clean signal is speech (by energy)."""


def speak(text: str, voice: str = "en-us") -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp) / "raw.wav", Path(tmp) / "out.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
        subprocess.run(
            ["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out)], check=True
        )
        with wave.open(str(out)) as w:
            return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768


def make_speech() -> Material:
    parts: List[np.ndarray] = [np.zeros(int(GAPS_S[0] * RATE), np.float32)]
    for sentence, gap in zip(SENTENCES, GAPS_S[1:]):
        parts += [speak(sentence), np.zeros(int(gap * RATE), np.float32)]
    clean = np.concatenate(parts)
    clean = clean[: len(clean) // FRAME * FRAME]
    frames = clean.reshape(-1, FRAME)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    # Speech where the clean frame is within 35 dB of the loudest frame.
    return Material(clean, rms > rms.max() * 10 ** (-35 / 20))


def white_noise(n: int, rms: float, seed: int = 3) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * rms).astype(np.float32)


def mix_at_snr(material: Material, snr_db: float) -> np.ndarray:
    """Clean speech plus white noise, the SNR measured over the speech frames."""
    frames = material.clean.reshape(-1, FRAME)
    speech_power = np.mean(frames[material.speech_frames] ** 2)
    noise = white_noise(len(material.clean), float(np.sqrt(speech_power / 10 ** (snr_db / 10))))
    return np.clip(material.clean + noise, -1, 1).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    """16-bit mono PCM, as a recorded file would be."""
    return wav_files.write_wav(path, np.clip(samples, -1, 1), rate, bits=16, float_=False)


def score(predicted: np.ndarray, truth: np.ndarray, collar: int = 3) -> tuple[float, float]:
    """Frame-level (precision, recall). A predicted speech frame within `collar`
    frames of true speech counts as correct (speech onsets and offsets are fuzzy)."""
    dilated = truth.copy()
    for shift in range(1, collar + 1):
        dilated[shift:] |= truth[:-shift]
        dilated[:-shift] |= truth[shift:]
    precision = float(np.mean(dilated[predicted])) if predicted.any() else 1.0
    recall = float(np.mean(predicted[truth])) if truth.any() else 1.0
    return precision, recall
