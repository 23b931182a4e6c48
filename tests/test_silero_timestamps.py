"""With Silero's own parameters, ``utterances()`` cuts the same segments as silero-vad's
``get_speech_timestamps`` on the same per-frame probabilities, within one frame.

The reference is silero-vad's own code, from its PyPI wheel (the one the model comes
from): ``get_speech_timestamps_from_probs``, the part of ``get_speech_timestamps``
after the model has run. Its module imports torch only for what this test does not
call, so a stand-in module satisfies the import and torch is never installed.
"""

from __future__ import annotations

import glob
import importlib.util
import subprocess
import sys
import types
import zipfile
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

from support.engine import PYTHON, ROOT, Engines
from support.silero_reference import MODELS

SILERO = {  # get_speech_timestamps' defaults
    "threshold": 0.5,
    "min_speech_duration_ms": 250,
    "min_silence_duration_ms": 100,
    "speech_pad_ms": 30,
}
FRAME = 512

pytestmark = pytest.mark.skipif(
    not (MODELS / "silero_vad.onnx").exists(),
    reason="the Silero model is needed (make test fetches it into models/)",
)


class _StandIn(types.ModuleType):
    """A module whose every attribute is a placeholder (for annotations and defaults)."""

    def __getattr__(self, name: str) -> Any:
        return _Placeholder


class _Placeholder:
    """Constructible, callable, and a decorator that leaves functions alone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, function: Any = None, *args: Any, **kwargs: Any) -> Any:
        return function


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """silero-vad's utils_vad module, loaded from its wheel without torch."""
    wheels = glob.glob(str(ROOT / "build" / "wheels" / "silero_vad-6.2.3-*.whl"))
    if not wheels:
        out = tmp_path_factory.mktemp("wheel")
        subprocess.run(
            [
                PYTHON,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "silero-vad==6.2.3",
                "-d",
                str(out),
            ],
            check=True,
            timeout=300,
        )
        wheels = glob.glob(str(out / "silero_vad-*.whl"))
    source = tmp_path_factory.mktemp("silero") / "utils_vad.py"
    with zipfile.ZipFile(wheels[0]) as z:
        source.write_bytes(z.read("silero_vad/utils_vad.py"))
    sys.modules.setdefault("torch", _StandIn("torch"))  # imported, never used here
    spec = importlib.util.spec_from_file_location("silero_utils_vad", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def engine_run(ring_name: str, wav: Path, engines: Engines) -> List[Any]:
    import v2m

    engines.run(ring_name, f"file:{wav}", speed="max", linger=5)
    with v2m.Reader(ring_name, start="oldest", wait=10) as reader:
        frames = [(f.index, f.vad_prob) for f in reader]
    with v2m.Reader(ring_name, start="oldest", wait=10) as reader:
        cut = [
            (u.first_index * FRAME, (u.first_index + u.frames) * FRAME)
            for u in reader.utterances(
                threshold=SILERO["threshold"],
                neg_threshold=SILERO["threshold"] - 0.15,
                min_speech_ms=SILERO["min_speech_duration_ms"],
                min_silence_ms=SILERO["min_silence_duration_ms"],
                speech_pad_ms=SILERO["speech_pad_ms"],
                max_utterance_s=float("inf"),
            )
        ]
    return [frames, cut]


@pytest.mark.parametrize("material", ["bundled speech", "espeak sentences in noise"])
def test_segments_match_get_speech_timestamps(
    material: str, reference: Any, ring_name: str, engines: Engines, tmp_path: Path
) -> None:
    if material == "bundled speech":
        wav = ROOT / "assets" / "speech.wav"
    else:
        import shutil

        if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
            pytest.skip("espeak-ng and sox make the test speech (make test installs them)")
        from support.speech_material import make_speech, mix_at_snr, write_wav

        wav = write_wav(tmp_path / "mix.wav", mix_at_snr(make_speech(), 10))
    frames, ours = engine_run(ring_name, wav, engines)
    probs = [p for _, p in frames]
    theirs: List[Dict[str, int]] = reference.get_speech_timestamps_from_probs(
        probs, sampling_rate=16000, audio_length_samples=len(probs) * FRAME, **SILERO
    )
    assert len(theirs) >= 3, "the material has speech"
    assert len(ours) == len(theirs), (ours, theirs)
    for (start, end), segment in zip(ours, theirs):
        assert abs(start - segment["start"]) <= FRAME, (start, segment)
        assert abs(end - segment["end"]) <= FRAME, (end, segment)
    assert np.all(np.diff([s for s, _ in ours]) > 0)
