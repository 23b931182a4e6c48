"""Files without loss: an engine run with ``--pace-to-readers`` and readers opened with
``pace=True`` hand every utterance out exactly as the file has it, however slow the
consumer, on a file several times longer than the ring. The iterators keep what they
still need (pre-roll, the speech under way, the utterance just handed out) from being
overwritten; nothing here depends on timing."""

from __future__ import annotations

import threading
import time
import wave
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest

import v2m
from support.engine import ENGINE
from support.silero_reference import MODELS
from support.speech_material import make_speech, write_wav

pytestmark = pytest.mark.skipif(
    not (MODELS / "silero_vad.onnx").exists(), reason="the Silero model is needed (make test)"
)
SLOTS = 256  # 8.2 s of 32 ms frames: the file is more than four times the ring
NAP_S = 0.08


@pytest.fixture(scope="module")
def long_file(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, np.ndarray]:
    """Four spoken sentences twice over (about 38 s), and its samples as the engine
    reads them (16-bit PCM / 32768, exact in float32)."""
    speech = make_speech().clean
    path = write_wav(tmp_path_factory.mktemp("lossless") / "long.wav", np.tile(speech, 2))
    with wave.open(str(path)) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    assert len(samples) / 16000 > 3 * SLOTS * 0.032
    return path, samples


def expected(samples: np.ndarray, first_index: int, length: int) -> np.ndarray:
    """The file's samples from frame ``first_index`` on, zero past its end (padding)."""
    out = np.zeros(length, np.float32)
    start = first_index * 512
    part = samples[start : start + length]
    out[: len(part)] = part
    return out


def paced_engine(path: Path, slots: int = SLOTS) -> v2m.Engine:
    return v2m.spawn(
        source=f"file:{path}",
        speed="max",
        pace_to_readers=True,
        slots=slots,
        linger=10,
        engine=ENGINE,
    )


@pytest.mark.parametrize("copy", [False, True], ids=["views", "copied-frames"])
def test_a_slow_consumer_of_utterances_gets_every_one_exactly(
    long_file: Tuple[Path, np.ndarray], copy: bool
) -> None:
    path, samples = long_file
    found = []
    with paced_engine(path) as engine, engine.reader(pace=True, copy=copy) as reader:
        for u in reader.utterances():
            at_once = u.audio.copy()
            time.sleep(NAP_S)  # a recognizer at work; the engine must not overwrite u.audio
            found.append((u, at_once, u.audio.copy(), u.valid()))
        dropped = reader.dropped
    assert dropped == 0
    assert len(found) == 8, [u.first_index for u, *_ in found]
    for u, at_once, after_nap, still_valid in found:
        want = expected(samples, u.first_index, len(u.audio))
        assert np.array_equal(at_once, want), f"utterance at {u.start_s:.2f} s differs"
        assert np.array_equal(after_nap, want), f"utterance at {u.start_s:.2f} s overwritten"
        assert still_valid and u.dropped == 0 and u.complete


def test_events_and_windows_of_a_slow_consumer_are_exact(
    long_file: Tuple[Path, np.ndarray],
) -> None:
    path, samples = long_file
    segments: List[Tuple[int, np.ndarray]] = []
    with paced_engine(path) as engine, engine.reader(pace=True) as reader:
        start = 0
        for event in reader.vad_events():
            if event.kind == "start":
                start = event.sample // 512
                continue
            time.sleep(NAP_S)
            end = -(-event.sample // 512)
            # The run may wrap the ring's end: a view of each side.
            pieces = []
            for first in range(start, end):
                if first == start or first % SLOTS == 0:
                    count = min(end - first, SLOTS - first % SLOTS)
                    pieces.append(reader.window(first, count).copy())
            assert reader.frames_valid(start, end - start)
            segments.append((start, np.concatenate(pieces)))
        assert reader.dropped == 0
    assert len(segments) == 8
    for first, audio in segments:
        assert np.array_equal(audio, expected(samples, first, len(audio)))


def test_two_paced_readers_of_different_speeds_both_get_everything(
    long_file: Tuple[Path, np.ndarray],
) -> None:
    path, samples = long_file
    results: Dict[float, List[Tuple[int, np.ndarray, bool, int]]] = {}
    errors: List[BaseException] = []
    with paced_engine(path) as engine:
        readers = {nap: engine.reader(pace=True) for nap in (0.01, NAP_S)}

        def consume(nap: float) -> None:
            try:
                with readers[nap] as reader:
                    got = results.setdefault(nap, [])
                    for u in reader.utterances():
                        time.sleep(nap)
                        got.append((u.first_index, u.audio.copy(), u.complete, u.dropped))
            except BaseException as e:  # reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=consume, args=(nap,)) for nap in readers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert not errors, errors
    assert len(results[0.01]) == len(results[NAP_S]) == 8
    for fast, slow in zip(results[0.01], results[NAP_S]):
        assert fast[0] == slow[0]
        for first, audio, complete, dropped in (fast, slow):
            assert np.array_equal(audio, expected(samples, first, len(audio)))
            assert complete and dropped == 0


def test_a_ring_too_small_for_an_utterance_says_so_and_does_not_stall(
    long_file: Tuple[Path, np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    path, samples = long_file
    # 64 slots are 2 s: the longer sentences (with pads and the silence that ends them)
    # do not fit, so their oldest frames must go for the replay to go on.
    with paced_engine(path, slots=64) as engine, engine.reader(pace=True) as reader:
        found = [(u, u.audio.copy()) for u in reader.utterances()]
    assert len(found) == 8, "the replay went on to the end"
    short = [u for u, _ in found if u.dropped]
    assert short and all(not u.complete for u in short)
    assert "more than the ring's 64 slots" in caplog.text
    for u, audio in found:
        if u.complete:
            assert u.dropped == 0
            assert np.array_equal(audio, expected(samples, u.first_index, len(audio)))
