"""Silero VAD in the engine: same numbers as Python onnxruntime, sensible detection."""

from __future__ import annotations

import os
import shutil
import subprocess
import wave
from pathlib import Path
from typing import List

import numpy as np
import pytest

import v2m
from support.engine import ENGINE, ROOT, engine_argv
from support.silero_reference import MODELS, SileroReference
from support.speech_material import FRAME, make_speech, mix_at_snr, score, white_noise, write_wav
from v2m.speech import SpeechHysteresis

needs_model = pytest.mark.skipif(
    not (MODELS / "silero_vad.onnx").exists(),
    reason="the Silero model is needed (make test fetches it into models/)",
)
needs_speech = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox make the test speech (make test installs them)",
)


def engine_frames(ring_name: str, wav: Path, *args: str) -> List[v2m.Frame]:
    """Replays `wav` through the engine at full speed; every frame, copied."""
    proc = subprocess.Popen(
        [
            str(ENGINE),
            "run",
            "--name",
            ring_name,
            "--source",
            f"file:{wav}",
            "--speed",
            "max",
            "--linger",
            "5",
            *args,
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        with v2m.Reader(ring_name, start="oldest", wait=10, copy=True) as reader:
            frames = list(reader)
            assert reader.dropped == 0
            assert reader.info.vad_kind == 2  # silero, recorded in the header
    finally:
        proc.terminate()
        proc.wait(10)
    return frames


@pytest.fixture(scope="module")
def speech() -> object:
    return make_speech()


@needs_model
@needs_speech
@pytest.mark.parametrize("rate", [16000, 8000])
def test_probabilities_match_python_onnxruntime(
    rate: int, tmp_path: Path, ring_name: str, speech: object
) -> None:
    wav = write_wav(tmp_path / "speech.wav", mix_at_snr(speech, 15))  # type: ignore[arg-type]
    frame = 512 if rate == 16000 else 256
    args = ["--rate", str(rate), "--frame", str(frame)] if rate != 16000 else []
    frames = engine_frames(ring_name, wav, *args)
    reference, _ = SileroReference(rate=rate).run([f.samples for f in frames])
    engine = np.array([f.vad_prob for f in frames])
    difference = np.max(np.abs(engine - np.array(reference)))
    assert difference < 1e-4, f"engine and onnxruntime differ by up to {difference}"
    assert engine.max() > 0.9, "speech is detected at all"


@needs_model
@needs_speech
def test_the_default_vad_is_silero_with_hysteresis(
    tmp_path: Path, ring_name: str, speech: object
) -> None:
    wav = write_wav(tmp_path / "speech.wav", speech.clean)  # type: ignore[attr-defined]
    frames = engine_frames(ring_name, wav, "--vad-threshold", "0.5", "--vad-min-silence-ms", "200")
    # The rule of v2m.speech: on at >= 0.5, off 7 frames (200 ms) after the first below 0.35.
    rule = SpeechHysteresis(0.5, 0.35, 7)
    for f in frames:
        rule.feed(f.index, f.vad_prob)
        assert f.speech == rule.speaking, f"frame {f.index}"


def test_a_missing_model_is_explained_and_energy_still_works(ring_name: str) -> None:
    env = dict(os.environ, V2M_VAD_MODEL="/no/such/silero_vad.onnx")
    result = subprocess.run(
        [str(ENGINE), "run", *engine_argv(ring_name, "silence", duration=0.1)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "V2M_VAD_MODEL" in result.stderr and "make models" in result.stderr
    assert "--vad energy works without it" in result.stderr
    energy = subprocess.run(
        [
            str(ENGINE),
            "run",
            *engine_argv(ring_name, "silence", duration=0.1, speed="max", linger=0, vad="energy"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert energy.returncode == 0, energy.stderr


@needs_model
@needs_speech
def test_detection_in_noise(tmp_path: Path, ring_name: str, speech: object) -> None:
    truth = speech.speech_frames  # type: ignore[attr-defined]
    report = []
    for snr in (20, 10, 5):
        frames = engine_frames(ring_name, write_wav(tmp_path / f"snr{snr}.wav", mix_at_snr(speech, snr)))  # type: ignore[arg-type]
        predicted = np.array([f.vad_prob >= 0.5 for f in frames])[: len(truth)]
        precision, recall = score(predicted, truth)
        report.append(f"{snr} dB: precision {precision:.2f} recall {recall:.2f}")
        if snr == 20:
            assert recall >= 0.9 and precision >= 0.9, report
        if snr == 10:
            assert recall >= 0.8 and precision >= 0.85, report
        if snr == 5:
            assert recall >= 0.8 and precision >= 0.85, report
    silence = engine_frames(
        ring_name, write_wav(tmp_path / "silence.wav", np.zeros(16000 * 5, np.float32))
    )
    assert not any(f.speech for f in silence), "speech flagged in digital silence"
    noise = engine_frames(
        ring_name, write_wav(tmp_path / "noise.wav", white_noise(16000 * 10, 0.05))
    )
    flagged = int(np.sum([f.speech for f in noise]))
    # Deterministic (same model, same seeded noise): docs/engine.md's "0 % flagged".
    assert flagged == 0, f"{flagged} noise-only frames flagged as speech"
    print("\n".join(report))


@needs_model
@needs_speech
def test_other_ring_rates_feed_the_model_through_the_resampler(
    tmp_path: Path, ring_name: str, speech: object
) -> None:
    wav = write_wav(tmp_path / "speech.wav", speech.clean)  # type: ignore[attr-defined]
    at_16k = engine_frames(ring_name, wav)
    at_48k = engine_frames(ring_name, wav, "--rate", "48000", "--frame", "1536")
    assert len(at_48k) == len(at_16k)
    p16 = np.array([f.vad_prob for f in at_16k])
    p48 = np.array([f.vad_prob for f in at_48k])
    # Same 32 ms frames, audio resampled twice on the way: the decisions agree.
    assert np.mean((p16 >= 0.5) == (p48 >= 0.5)) > 0.95
    assert p48.max() > 0.9


@needs_model
def test_a_discontinuity_resets_the_model_to_a_fresh_stream(tmp_path: Path, ring_name: str) -> None:
    # The bundled speech, cut to whole frames, looped once: the loop's first frame
    # is flagged (source restart), and from there the model must see a fresh stream.
    with wave.open(str(ROOT / "assets" / "speech.wav")) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    n = len(audio) // FRAME
    wav = write_wav(tmp_path / "whole-frames.wav", audio[: n * FRAME].astype(np.float32) / 32768)
    frames = engine_frames(ring_name, wav, "--loop", "--duration", str(2 * n * FRAME / 16000))
    assert len(frames) == 2 * n and frames[n].discontinuity and not frames[n - 1].discontinuity
    first = np.array([f.vad_prob for f in frames[:n]])
    again = np.array([f.vad_prob for f in frames[n:]])
    assert first.max() > 0.9
    assert np.array_equal(again, first), "after the discontinuity the model starts afresh"
