"""One speech decision in three layers (``v2m.speech``): the engine's speech flag, then
``vad_events()`` and ``utterances()`` built on the same rule. On real engine runs
(Silero on spoken sentences, with the engine's defaults and with other settings, a
looped file adding a discontinuity) the Python rule reproduces the engine's flag frame
by frame, ``vad_events()`` by default reports exactly the flag's edges, and
``utterances()`` with the engine's silence cuts exactly the flag's runs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List, Tuple

import pytest

import v2m
from support.engine import ENGINE
from support.python_writer import PythonWriter
from support.silero_reference import MODELS
from support.speech_material import make_speech, mix_at_snr, write_wav
from v2m.speech import SpeechHysteresis, silence_frames

needs_speech = pytest.mark.skipif(
    not (MODELS / "silero_vad.onnx").exists() or shutil.which("espeak-ng") is None,
    reason="the Silero model and espeak-ng are needed (make test installs them)",
)
Frames = List[Tuple[int, float, bool, bool]]  # index, probability, flag, discontinuity

RUNS = {
    "defaults, looped": ("clean", {"loop": True, "duration": 30.0}),
    "other settings": ("clean", {"vad_neg_threshold": 0.2, "vad_min_silence_ms": 500}),
    # In noise the probabilities hover between the thresholds: where the rules differ.
    "in noise": ("noisy", {}),
}


@pytest.fixture(scope="module")
def sentences(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    speech, directory = make_speech(), tmp_path_factory.mktemp("rule")
    return {
        "clean": write_wav(directory / "clean.wav", speech.clean),
        "noisy": write_wav(directory / "noisy.wav", mix_at_snr(speech, 10)),
    }


def engine_run(wav: Path, options: dict) -> Tuple[v2m.Engine, Frames]:
    engine = v2m.spawn(
        source=f"file:{wav}", speed="max", linger=30, engine=ENGINE, **options  # type: ignore[arg-type]
    )
    with engine.reader() as reader:
        frames = [(f.index, f.vad_prob, f.speech, f.discontinuity) for f in reader]
    return engine, frames


@pytest.fixture(scope="module", params=sorted(RUNS))
def run(request: pytest.FixtureRequest, sentences: dict[str, Path]):  # type: ignore[no-untyped-def]
    material, options = RUNS[request.param]
    engine, frames = engine_run(sentences[material], options)
    yield engine, frames
    engine.stop()


def expected_edges(frames: Frames) -> List[Tuple[str, int]]:
    """The engine flag's edges: where it rises, falls, or ends at a gap."""
    edges, before = [], False
    for index, _, flag, gap in frames:
        if gap and before:
            edges.append(("end", index))
            before = False
        if flag and not before:
            edges.append(("start", index))
        elif before and not flag:
            edges.append(("end", index))
        before = flag
    return edges


@needs_speech
def test_the_python_rule_gives_the_engines_flag_frame_by_frame(run) -> None:  # type: ignore[no-untyped-def]
    engine, frames = run
    with engine.reader() as reader:
        info = reader.info
        frame_ms = 1000 * reader.frame_duration
    assert any(gap for *_, gap in frames[1:]) or "loop" not in engine.process.args
    rule = SpeechHysteresis(
        info.vad_threshold,
        info.vad_neg_threshold,
        silence_frames(info.vad_min_silence_ms, frame_ms),
    )
    flags = []
    for index, probability, _, gap in frames:
        if gap:
            rule.cut()
        rule.feed(index, probability)
        flags.append(rule.speaking)
    engine_flags = [flag for _, _, flag, _ in frames]
    assert sum(engine_flags) > 50, "the sentences were heard"
    mismatch = [i for i, (a, b) in enumerate(zip(flags, engine_flags)) if a != b]
    assert not mismatch, f"the flags differ at frames {mismatch[:10]}"


@needs_speech
def test_vad_events_by_default_are_the_flags_edges(run) -> None:  # type: ignore[no-untyped-def]
    engine, frames = run
    with engine.reader() as reader:
        events = [(e.kind, e.index) for e in reader.vad_events()]
    assert events == expected_edges(frames)


@needs_speech
def test_utterances_with_the_engines_silence_are_the_flags_runs(run) -> None:  # type: ignore[no-untyped-def]
    engine, frames = run
    with engine.reader() as reader:
        min_silence = silence_frames(reader.info.vad_min_silence_ms, 1000 * reader.frame_duration)
        cut = list(
            reader.utterances(
                min_silence_ms=reader.info.vad_min_silence_ms,
                min_speech_ms=0,
                speech_pad_ms=0,
                max_utterance_s=float("inf"),
            )
        )
    edges = expected_edges(frames)
    gaps = {index for index, *_, gap in frames if gap}
    runs = [(a[1], b[1]) for a, b in zip(edges[::2], edges[1::2])]
    assert len(cut) == len(runs)
    for u, (rise, fall) in zip(cut, runs):
        # Speech ends at the first quiet frame, min_silence frames before the flag
        # falls, or at a gap.
        end = fall if fall in gaps else fall - min_silence
        assert (u.first_index, u.first_index + u.frames) == (rise, end)


def test_vad_events_use_the_engines_end_threshold(ring_name: str) -> None:
    # An engine run with --vad-neg-threshold 0.2: 0.3 is not quiet, so speech goes on.
    writer = PythonWriter(ring_name, slots=64, threshold=0.5, neg_threshold=0.2)
    try:
        probabilities = [0.1] * 5 + [0.9] * 10 + [0.3] * 20 + [0.1] * 10
        for index, p in enumerate(probabilities):
            writer.publish(index, vad_prob=p)
        writer.close()
        with v2m.Reader(ring_name, start="oldest") as reader:
            events = [(e.kind, e.index) for e in reader.vad_events()]
            spans = [(u.first_index, u.frames) for u in reader.utterances(speech_pad_ms=0)]
    finally:
        writer.remove()
    # 100 ms of silence is 4 frames: speech ends 4 frames after the first frame below 0.2.
    assert events == [("start", 5), ("end", 39)]
    assert spans == [(5, 30)], "utterances() and vad_events() make the same decision"


@pytest.mark.parametrize(
    "probabilities,flags",
    [
        # The cases of the engine's own tests (engine/src/vad/hysteresis.rs), same
        # thresholds (0.5, 0.35) and silence (2 frames): the two rules are one.
        ([0.4, 0.6, 0.2, 0.2, 0.2, 0.2], [False, True, True, True, False, False]),
        ([0.6, 0.2, 0.4, 0.4], [True, True, True, False]),
        ([0.6, 0.4, 0.4, 0.4], [True, True, True, True]),
    ],
)
def test_the_python_rule_on_the_engines_own_cases(
    probabilities: List[float], flags: List[bool]
) -> None:
    rule = SpeechHysteresis(0.5, 0.35, 2)
    got = []
    for index, p in enumerate(probabilities):
        rule.feed(index, p)
        got.append(rule.speaking)
    assert got == flags
