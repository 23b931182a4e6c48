"""The interface the original design promised (``v2m_engine``), exactly as written."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import List

import numpy as np
import pytest

from support.engine import ENGINE, ROOT
from v2m_engine import AudioBuffer, AudioCapture, VADProcessor

SPEECH = ROOT / "assets" / "speech.wav"


def speech_samples() -> np.ndarray:
    with wave.open(str(SPEECH)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768


class Transcriber:
    def __init__(self) -> None:
        self.heard: List[AudioBuffer] = []

    async def process(self, audio: AudioBuffer) -> None:
        self.heard.append(audio)


def capture_of(path: Path = SPEECH) -> AudioCapture:
    return AudioCapture(
        sample_rate=16000,
        buffer_size=4096,
        source=f"file:{path}",
        engine=ENGINE,
        vad="energy",
        speed="max",
        linger=5,
    )


def test_the_design_documents_snippet_works_as_written() -> None:
    capture = capture_of()
    vad = VADProcessor(threshold=0.5)
    transcriber = Transcriber()
    seen: List[AudioBuffer] = []

    async def main() -> None:
        while True:
            try:
                async with capture.stream() as audio:
                    seen.append(audio)
                    if vad.contains_speech(audio):
                        await transcriber.process(audio)
            except EOFError:
                return

    try:
        asyncio.run(main())
    finally:
        capture.close()
    source = speech_samples()
    whole = len(source) // 4096
    assert len(seen) == whole, "every whole buffer of the file, in order"
    for k, audio in enumerate(seen):
        assert audio.shape == (4096,) and audio.dtype == np.float32
        assert np.array_equal(audio, source[k * 4096 : (k + 1) * 4096]), f"buffer {k}"
        assert audio.start_s == k * 4096 / 16000 and len(audio.vad_probs) == 8
    assert not seen[0].flags.owndata and not seen[0].flags.writeable, "zero-copy views"
    speech = [a for a in seen if a.vad_probs.max() >= 0.5]
    assert transcriber.heard == speech and 0 < len(speech) < len(seen)


def test_blocking_iteration_and_odd_buffer_sizes(tmp_path: Path) -> None:
    with AudioCapture(
        16000, 1000, f"file:{SPEECH}", engine=ENGINE, vad="energy", speed="max", linger=5
    ) as capture:
        buffers = list(capture.stream())
    source = speech_samples()
    assert len(buffers) == len(source) // 1000
    joined = np.concatenate(buffers)
    assert np.array_equal(joined, source[: len(joined)]), "consecutive, nothing lost or doubled"
    assert not any(b.flags.owndata for b in buffers[:20]), "views, even across frame edges"


def test_contains_speech_explains_what_it_needs() -> None:
    with pytest.raises(TypeError, match="AudioCapture.stream"):
        VADProcessor().contains_speech(np.zeros(4096, np.float32))
    with pytest.raises(ValueError, match="threshold"):
        VADProcessor(threshold=1.5)
