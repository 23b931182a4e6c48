"""``v2m.spawn()`` hands out its own child's ring and nothing else: not a live engine's
that owns the name, not a finished engine's still lingering there, not a stale one;
and the engine's refusals reach a Python user in words they can act on."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

import v2m
from support.engine import ENGINE, ROOT, Engines, engine_argv, run_engine
from support.rings import ring_file, wait_for
from support.wav_files import noise_signal, write_wav


def test_a_name_a_live_engine_owns_is_refused_naming_it(ring_name: str, engines: Engines) -> None:
    owner = engines.run(ring_name, "tone:440", vad="energy")
    wait_for(lambda: ring_file(ring_name).exists(), what="the owner's ring")
    with pytest.raises(v2m.EngineFailed) as refused:
        v2m.spawn(source="silence", name=ring_name, vad="off")
    message = str(refused.value)
    assert f"in use by a running engine (pid {owner.pid})" in message, message
    assert "pick another name=" in message and "--help" not in message, message
    assert owner.poll() is None
    with v2m.Reader(ring_name) as reader:
        assert reader.info.writer_pid == owner.pid, "the owner's ring is untouched"


def test_a_lingering_ring_is_replaced_by_the_new_engine(
    ring_name: str, engines: Engines, tmp_path: Path
) -> None:
    first = write_wav(tmp_path / "first.wav", noise_signal(1.0, seed=4), 16000)
    old = engines.run(ring_name, f"file:{first}", speed="max", vad="off")
    wait_for(lambda: _state(ring_name) == "closed", what="the first ring to close")
    assert old.poll() is None, "the finished engine lingers (2 s by default)"
    with v2m.spawn(source="tone:440", name=ring_name, vad="energy") as engine:
        assert engine.generation is not None
        with engine.reader() as reader:
            frame = reader.read(timeout=5)
            assert reader.info.writer_pid == engine.pid and reader.info.source == "tone:440"
            # The tone (amplitude 0.5), not the old file's noise (RMS 0.52).
            assert frame is not None and abs(frame.rms - 0.5 / np.sqrt(2)) < 0.01
        old.wait(10)
        assert ring_file(ring_name).exists(), "the old engine left the new ring alone"
        assert "has finished" in engine.stderr


def _state(name: str) -> str:
    return next((r.state for r in v2m.rings() if r.name == name), "missing")


def test_a_stale_ring_is_waited_out_until_the_child_replaces_it(
    ring_name: str, engines: Engines, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = engines.run(ring_name, "silence", vad="off")
    wait_for(lambda: ring_file(ring_name).exists(), what="the ring")
    dead.kill()
    dead.wait()
    # The child removes the stale ring a second after deciding to: meanwhile spawn sees
    # the stale ring, then no ring at all (the name freed), and must take neither.
    monkeypatch.setenv("V2M_TEST_PAUSE_BEFORE_STALE_UNLINK_MS", "1000")
    with v2m.spawn(source="tone:440", name=ring_name, vad="energy") as engine:
        assert "removing stale ring" in engine.stderr or engine.running()
        with engine.reader() as reader:
            assert reader.info.writer_pid == engine.pid
            assert reader.info.source == "tone:440"


def test_a_reader_of_an_engine_that_lost_its_name_is_refused(ring_name: str) -> None:
    engine = v2m.spawn(source="tone:440", name=ring_name, vad="energy")
    engine.process.kill()
    engine.process.wait()
    with v2m.spawn(source="silence", name=ring_name, vad="off") as successor:
        with pytest.raises(v2m.EngineFailed, match=f"engine pid {successor.pid} writes it now"):
            engine.reader()
    engine.stop()


@pytest.mark.parametrize("given", ["{wav}", "file:{wav}"], ids=["bare path", "file:"])
def test_a_missing_file_says_so_from_the_cli_and_from_spawn(
    given: str, tmp_path: Path, ring_name: str
) -> None:
    source = given.format(wav=tmp_path / "missing.wav")
    result = run_engine("run", *engine_argv(ring_name, source))
    assert result.returncode == 2
    assert f"no such file: {tmp_path / 'missing.wav'}" in result.stderr, result.stderr
    with pytest.raises(v2m.EngineFailed, match="no such file: .*missing.wav") as failed:
        v2m.spawn(source=source, name=ring_name)
    assert "--help" not in str(failed.value) and "unknown source" not in str(failed.value)
    assert not ring_file(ring_name).exists()


@pytest.fixture
def unprivileged_engine() -> Iterator[Path]:
    """A copy of the engine any user can run (the checkout may be in a private home)."""
    directory = Path(tempfile.mkdtemp(prefix="v2m-engine-"))
    directory.chmod(0o755)
    copy = directory / "v2m-engine"
    shutil.copy2(ENGINE, copy)
    yield copy
    shutil.rmtree(directory)


@pytest.mark.skipif(os.geteuid() != 0, reason="running as another user needs root")
def test_an_unreadable_file_says_so(
    tmp_path: Path, ring_name: str, unprivileged_engine: Path
) -> None:
    private = write_wav(tmp_path / "private.wav", np.zeros(1600, np.float32), 16000)
    private.chmod(0o600)
    tmp_path.chmod(0o755)
    result = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", str(unprivileged_engine)]
        + ["run", "--name", ring_name, "--source", str(private)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert f"cannot read {private}: permission denied" in result.stderr, result.stderr


def test_an_option_the_engine_refuses_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"^rate=5: sample rate must be .*1000\.\.=384000"):
        v2m.spawn(source="silence", rate=5)
    with pytest.raises(v2m.EngineRefused, match=r"^slots=3: .*power of two.*try 4"):
        v2m.spawn(source="silence", slots=3)
    with pytest.raises(v2m.EngineRefused, match=r"^source='defualt': unknown source"):
        v2m.spawn(source="defualt")
    with pytest.raises(TypeError, match="engine option rate must be int, not str"):
        v2m.spawn(source="silence", rate="16000")  # type: ignore[typeddict-item]
    with pytest.raises(TypeError, match="loop must be bool"):
        v2m.spawn(source="silence", loop=1)  # type: ignore[typeddict-item]
    with pytest.raises(ValueError, match="timeout must be a number of seconds more than 0"):
        v2m.spawn(source="silence", timeout=0)
    with pytest.raises(ValueError, match="vad must be one of 'silero', 'energy', 'off'"):
        v2m.spawn(source="silence", vad="webrtc")


def test_spawn_takes_every_engine_flag_it_documents() -> None:
    with v2m.spawn(source="tone:440", vad="energy", host="alsa", speed=4.0, duration=0.2) as e:
        with e.reader() as reader:
            assert sum(1 for _ in reader) > 0
    assert (ROOT / "target").exists()
