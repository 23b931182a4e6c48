"""The dictation-app client: utterances with pre-roll, the sidecar's lifecycle,
reattaching after a crash, asyncio, and its error messages."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import threading
import time
import wave
from pathlib import Path
from typing import List, Tuple

import numpy as np
import pytest

import v2m
from support.engine import ENGINE, PYTHON, ROOT
from support.rings import ring_file, wait_for
from support.silero_reference import MODELS
from support.speech_material import make_speech, write_wav

needs_speech = pytest.mark.skipif(
    not (MODELS / "silero_vad.onnx").exists()
    or shutil.which("espeak-ng") is None
    or shutil.which("sox") is None,
    reason="the Silero model, espeak-ng and sox are needed (make test fetches and installs them)",
)
PAD = 10  # 300 ms of padding in 32 ms frames
HANGOVER = 3  # frames the VAD may take to let go of a speech end


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, List[Tuple[int, int]]]:
    """A WAV of four sentences with silences of known length, and each sentence's
    first and one-past-last speech frame."""
    speech = make_speech()
    edges = np.flatnonzero(np.diff(np.r_[0, speech.speech_frames.astype(int), 0]))
    sentences: List[List[int]] = []
    for start, end in zip(edges[::2], edges[1::2]):
        if sentences and start - sentences[-1][1] < 10:  # a pause inside a sentence
            sentences[-1][1] = int(end)
        else:
            sentences.append([int(start), int(end)])
    wav = write_wav(tmp_path_factory.mktemp("speech") / "sentences.wav", speech.clean)
    return wav, [(a, b) for a, b in sentences]


@needs_speech
def test_utterances_match_the_spoken_sentences(
    material: Tuple[Path, List[Tuple[int, int]]],
) -> None:
    wav, sentences = material
    with v2m.spawn(source=f"file:{wav}", speed="max", linger=5) as engine:
        with engine.reader() as reader:
            found = list(reader.utterances(min_silence_ms=500, speech_pad_ms=300))
            assert [u.frames for u in found] and all(u.valid() for u in found)
    assert len(found) == len(sentences)
    for u, (onset, offset) in zip(found, sentences):
        end = u.first_index + u.frames
        # The whole sentence is inside, with its padding, give or take the VAD's reaction.
        assert onset - PAD - 1 <= u.first_index <= onset - PAD + 2, (u.first_index, onset)
        assert offset + PAD - 1 <= end <= offset + PAD + HANGOVER, (end, offset)
        assert u.complete and u.dropped == 0
        assert u.audio.dtype == np.float32 and len(u.audio) == u.frames * 512
        assert not u.audio.flags.owndata, "an utterance that does not wrap is not copied"
        assert abs(u.duration - u.frames * 0.032) < 1e-6


@needs_speech
def test_the_first_word_keeps_its_pre_roll_when_attaching_at_speech_onset(
    material: Tuple[Path, List[Tuple[int, int]]], ring_name: str
) -> None:
    wav, sentences = material
    onset = sentences[0][0]
    with v2m.spawn(source=f"file:{wav}", name=ring_name, speed=2) as engine:
        with engine.reader() as watcher:
            wait_for(lambda: watcher.write_seq >= onset + 1, timeout=30, what="speech onset")
            with engine.reader(start="latest") as reader:
                attached_at = reader.start_index
                first = next(reader.utterances())
    assert attached_at <= onset + 2, "attached during the first speech frame"
    assert first.first_index < attached_at, "pre-roll comes from before the attach"
    assert first.first_index <= onset - PAD + 2
    assert first.first_index + first.frames >= sentences[0][1]


@needs_speech
def test_long_speech_is_split_at_max_utterance_s(
    material: Tuple[Path, List[Tuple[int, int]]],
) -> None:
    wav, sentences = material
    with v2m.spawn(source=f"file:{wav}", speed="max", linger=5) as engine:
        with engine.reader() as reader:
            pieces = list(reader.utterances(max_utterance_s=1.0))
    longest = max(b - a for a, b in sentences)
    assert longest * 0.032 > 2.0
    cut = [u for u in pieces if not u.complete]
    assert cut, "a sentence longer than 1 s was split"
    for u in pieces:
        assert u.frames <= 31 + 2 * PAD  # 1 s of speech plus at most both pads
    # Splitting loses nothing: consecutive pieces of a sentence touch.
    for a, b in zip(pieces, pieces[1:]):
        if not a.complete:
            assert b.first_index <= a.first_index + a.frames


def test_spawn_starts_and_stops_the_engine() -> None:
    with v2m.spawn(source="tone:440", vad="energy") as engine:
        assert engine.running()
        path = ring_file(engine.name)
        assert path.exists()
        with engine.reader() as reader:
            assert next(reader).rms > 0.1
        assert engine.stop() == 0
    assert not path.exists()
    assert "ring" in engine.stderr


def test_spawn_reports_an_engine_that_fails_to_start() -> None:
    with pytest.raises(v2m.EngineFailed, match="unknown source|invalid value"):
        v2m.spawn(source="bogus:thing")
    with pytest.raises(v2m.EngineFailed, match="cannot find v2m-engine"):
        v2m.spawn(engine="/no/such/v2m-engine")


def test_the_engine_dies_with_its_python_parent(ring_name: str, tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        "import sys, time, v2m\n"
        f"e = v2m.spawn(source='tone:440', name={ring_name!r}, vad='energy', engine={str(ENGINE)!r})\n"
        "print(e.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    app = subprocess.Popen([PYTHON, str(script)], stdout=subprocess.PIPE, text=True)
    assert app.stdout is not None
    engine_pid = int(app.stdout.readline())
    assert ring_file(ring_name).exists()
    app.send_signal(signal.SIGKILL)
    app.wait()
    wait_for(
        lambda: not os.path.exists(f"/proc/{engine_pid}"), timeout=5, what="the engine to exit"
    )
    assert not ring_file(ring_name).exists(), "the engine shut down cleanly"
    # And the name is free for the next engine.
    with v2m.spawn(source="silence", name=ring_name, vad="energy") as again:
        assert again.running()


def test_a_reattaching_reader_follows_a_restarted_engine(ring_name: str) -> None:
    first = v2m.spawn(source="tone:440", name=ring_name, vad="energy")
    plain = v2m.Reader(ring_name)
    follower = v2m.Reader(ring_name, reattach=True)
    for r in (plain, follower):
        assert r.read(timeout=5) is not None
    old_generation = follower.generation
    first.process.kill()  # kill -9: no chance to close the ring
    first.process.wait()
    started = time.monotonic()
    with pytest.raises(v2m.WriterGone):
        while plain.read(timeout=5) is not None:
            pass
    assert time.monotonic() - started < 1.0
    plain.close()
    with pytest.raises(ValueError, match="closed"):
        plain.read(timeout=0.1)
    # No engine yet: the follower's wait times out, and it keeps waiting on the next read.
    assert follower.read(timeout=0.6) is None

    second = v2m.spawn(source="tone:880", name=ring_name, vad="energy")
    try:
        frame = follower.read(timeout=15)
        assert frame is not None, "the follower moved to the new ring"
        assert frame.discontinuity, "the gap is marked"
        assert follower.reattached == 1 and follower.generation != old_generation
        following = follower.read(timeout=5)
        assert following is not None and not following.discontinuity
        assert following.index == frame.index + 1
    finally:
        follower.close()
        second.stop()


def test_a_reader_waiting_for_its_engine_misses_no_frame(ring_name: str) -> None:
    """start="latest" counts from the call: a recorder started before the engine
    keeps the engine's first frames, however late it got to attach."""
    attached: List[v2m.Reader] = []
    waiting = threading.Thread(target=lambda: attached.append(v2m.Reader(ring_name, wait=20)))
    waiting.start()
    engine = v2m.spawn(source="noise", name=ring_name, vad="energy", speed=50)
    try:
        time.sleep(0.5)  # the engine publishes frames before the reader can map the ring
        waiting.join(20)
        (reader,) = attached
        frame = reader.read(timeout=5)
        assert frame is not None and frame.index == 0, "the first frame of the new ring"
        reader.close()
        # A reader started after the ring exists still begins with the next frame.
        later = v2m.Reader(ring_name)
        assert later.start_index > 0
        later.close()
    finally:
        engine.stop()


def test_asyncio_iteration_matches_blocking_and_keeps_the_loop_free(ring_name: str) -> None:
    # Real time, so the async reader really waits for frames while the loop runs.
    engine = v2m.spawn(source="noise", name=ring_name, vad="energy", duration=1.5, linger=5)
    try:
        expected: List[Tuple[int, float]] = []

        def read_blocking() -> None:
            with engine.reader() as blocking:
                expected.extend((f.index, float(f.samples.sum())) for f in blocking)

        thread = threading.Thread(target=read_blocking)
        thread.start()

        async def main() -> Tuple[List[Tuple[int, float]], int]:
            ticks = 0
            stop = asyncio.Event()

            async def ticker() -> None:
                nonlocal ticks
                while not stop.is_set():
                    ticks += 1
                    await asyncio.sleep(0.005)

            task = asyncio.create_task(ticker())
            got = []
            with engine.reader() as reader:
                async for f in reader.aiter():
                    got.append((f.index, float(f.samples.sum())))
            stop.set()
            await task
            return got, ticks

        got, ticks = asyncio.run(main())
        thread.join(10)
    finally:
        engine.stop()
    assert len(got) == 47 and got == expected
    # 1.5 s of waiting: a blocked loop would not have ticked at all.
    assert ticks > 50, f"the event loop ran the other task only {ticks} times"


@needs_speech
def test_async_utterances_match_blocking_ones(material: Tuple[Path, List[Tuple[int, int]]]) -> None:
    wav, _ = material
    with v2m.spawn(source=f"file:{wav}", speed="max", linger=5) as engine:
        with engine.reader() as reader:
            blocking = [(u.first_index, u.frames) for u in reader.utterances()]

        async def collect() -> List[Tuple[int, int]]:
            with engine.reader() as reader:
                return [(u.first_index, u.frames) async for u in reader.utterances_async()]

        assert asyncio.run(collect()) == blocking


@needs_speech
def test_the_examples_run() -> None:
    examples = ROOT / "pyclient" / "examples"
    printed = subprocess.run(
        [
            PYTHON,
            str(examples / "print_utterances.py"),
            "--source",
            f"file:{ROOT / 'assets' / 'speech.wav'}",
            "--speed",
            "max",
            "--engine",
            str(ENGINE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert len(lines) == 3 and all(" s  rms " in line for line in lines)
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        missing = subprocess.run(
            [PYTHON, str(examples / "transcribe.py"), "--asr", "faster-whisper"]
            + ["--engine", str(ENGINE)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert missing.returncode != 0 and "pip install faster-whisper" in missing.stderr


@needs_speech
def test_an_utterance_that_wraps_the_ring_is_copied_once(
    material: Tuple[Path, List[Tuple[int, int]]],
) -> None:
    wav, _ = material
    with wave.open(str(wav)) as w:
        source = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    # 256 slots (8 s): some utterances straddle the ring's end.
    copied, viewed = 0, 0
    with v2m.spawn(source=f"file:{wav}", slots=256, speed=8, linger=5) as engine:
        with engine.reader() as reader:
            for u in reader.utterances():
                wraps = (u.first_index % 256) + u.frames > 256
                assert u.audio.flags.owndata == wraps, "copied exactly when it wraps"
                start = u.first_index * 512
                # Checked as it arrives: a view is only valid until the writer laps it.
                assert np.array_equal(u.audio, source[start : start + len(u.audio)]) and u.valid()
                copied += wraps
                viewed += not wraps
    assert copied and viewed


def test_spawn_options_are_typed_and_a_typo_is_an_error() -> None:
    with pytest.raises(TypeError, match="unknown engine option.*sped"):
        v2m.spawn(source="silence", sped="max")  # type: ignore[call-arg]
    assert v2m.spawn.__annotations__["options"] == "Unpack[EngineOptions]"


def test_a_bare_path_is_a_file_source(ring_name: str) -> None:
    wav = ROOT / "assets" / "speech.wav"
    with v2m.spawn(source=str(wav), name=ring_name, vad="energy", speed="max", linger=3) as e:
        with e.reader() as r:
            assert r.info.source == f"file:{wav}"
            frames = list(r)
    assert len(frames) == 511
    assert frames[100].stream_s == 100 * 0.032, "frames know their place in the file"


def test_devices_and_rings_from_python() -> None:
    assert isinstance(v2m.devices(), list)
    result = subprocess.run(
        [PYTHON, "-m", "v2m", "devices"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    # No command is a usage error, as in any CLI: the usage on stderr, exit 2, and no
    # reST markup from a docstring.
    bare = subprocess.run([PYTHON, "-m", "v2m"], capture_output=True, text=True, timeout=60)
    assert bare.returncode == 2 and bare.stderr.startswith("usage: python -m v2m COMMAND")
    assert "``" not in bare.stderr and "rings " in bare.stderr and bare.stdout == ""
    asked = subprocess.run([PYTHON, "-m", "v2m", "--help"], capture_output=True, text=True)
    assert asked.returncode == 0 and asked.stdout.startswith("usage: python -m v2m")
    wrong = subprocess.run([PYTHON, "-m", "v2m", "bogus"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "unknown command 'bogus'" in wrong.stderr
