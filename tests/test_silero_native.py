"""The native Silero kernel computes what ONNX Runtime computes from the same model
file: every frame's probability within 1e-4, at 16 and 8 kHz, on the bundled speech
sample, espeak-ng speech in noise, white noise and silence. Both run through
``v2m-engine bench-vad``, the engine's own VAD path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

from support.engine import ROOT, run_engine
from support.speech_material import make_speech, white_noise
from support.wav_files import write_wav

AGREEMENT = 1e-4


def _probabilities(wav: Path, rate: int, backend: str) -> List[float]:
    result = run_engine(
        "bench-vad",
        "--source",
        f"file:{wav}",
        "--rate",
        str(rate),
        "--vad-backend",
        backend,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    probabilities: List[float] = json.loads(result.stdout)["probabilities"]
    return probabilities


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    folder = tmp_path_factory.mktemp("native")
    rate = 16_000
    files = {
        "speech sample": ROOT / "assets" / "speech.wav",
        "noise": write_wav(folder / "noise.wav", white_noise(rate * 5, 0.1), rate),
        "silence": write_wav(folder / "silence.wav", np.zeros(rate * 5, np.float32), rate),
    }
    if shutil.which("espeak-ng") and shutil.which("sox"):
        speech = make_speech().clean
        noisy = speech + white_noise(len(speech), float(np.sqrt(np.mean(speech**2))) / 10)
        files["espeak speech + noise 20 dB"] = write_wav(folder / "espeak.wav", noisy, rate)
    return files


@pytest.mark.parametrize("rate", [16_000, 8_000])
def test_native_and_onnx_runtime_agree_on_every_frame(rate: int, material: Dict[str, Path]) -> None:
    assert "espeak speech + noise 20 dB" in material, "espeak-ng and sox (make test installs them)"
    for name, wav in material.items():
        native = np.asarray(_probabilities(wav, rate, "native"))
        reference = np.asarray(_probabilities(wav, rate, "ort"))
        assert len(native) == len(reference) > 50, name
        worst = float(np.abs(native - reference).max())
        assert worst <= AGREEMENT, f"{name} at {rate} Hz: max |Δp| {worst:.2e}"
        if name != "silence":
            assert native.max() - native.min() > 0.01, f"{name}: the probabilities move"


def test_the_default_backend_is_native_and_needs_no_onnx_runtime(tmp_path: Path) -> None:
    wav = ROOT / "assets" / "speech.wav"
    result = run_engine(
        "bench-vad", "--source", f"file:{wav}", "--ort-lib", "/no/such/libonnxruntime.so"
    )
    assert result.returncode == 0, result.stderr
    assert max(json.loads(result.stdout)["probabilities"]) > 0.9, "speech is found"
