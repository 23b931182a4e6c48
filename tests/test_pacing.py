"""--pace-to-readers: a file replayed only as fast as the readers that asked to hold it
back can read it, so a slow consumer of a file loses nothing; other readers, and
losses, stay as they were, and losses are reported through logging."""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import v2m
from support.engine import PYTHON, Engines, engine_argv, run_engine
from support.rings import ring_file, wait_for
from support.wav_files import noise_signal, write_wav

SLOW_READER = """
import json, sys, time
import numpy as np
import v2m
name, pace, nap = sys.argv[1], sys.argv[2] == "pace", float(sys.argv[3])
frames, samples = [], []
with v2m.Reader(name, start="oldest", wait=10, pace=pace) as reader:
    print("ready", flush=True)
    for frame in reader:
        samples.append(frame.samples.copy())
        frames.append(frame.index)
        time.sleep(nap)
    dropped = reader.dropped
np.save(sys.argv[4], np.concatenate(samples))
print(json.dumps({"frames": frames, "dropped": dropped}))
"""


def reader(name: str, pace: bool, nap: float, out: Path) -> "subprocess.Popen[str]":
    proc = subprocess.Popen(
        [PYTHON, "-c", SLOW_READER, name, "pace" if pace else "free", str(nap), str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc


def test_a_slow_pacing_reader_loses_nothing_and_others_are_not_held(
    tmp_path: Path, ring_name: str, engines: Engines
) -> None:
    source = noise_signal(3.0, seed=9)
    wav = write_wav(tmp_path / "talk.wav", source, 16000)
    frames = -(-len(source) // 512)
    # A 16-slot ring replayed as fast as possible, and a reader taking 10 ms a frame.
    engines.run(ring_name, f"file:{wav}", speed="max", slots=16, pace_to_readers=True, linger=3)
    paced = reader(ring_name, True, 0.01, tmp_path / "paced.npy")
    free = reader(ring_name, False, 0.02, tmp_path / "free.npy")  # slower still
    paced_result = json.loads(paced.communicate(timeout=60)[0].splitlines()[-1])
    free_result = json.loads(free.communicate(timeout=60)[0].splitlines()[-1])
    assert paced_result["frames"] == list(range(frames)) and paced_result["dropped"] == 0
    expected = np.zeros(frames * 512, np.float32)
    expected[: len(source)] = source
    assert np.array_equal(np.load(tmp_path / "paced.npy"), expected), "bit-exact"
    # The slow reader that did not ask to pace the engine was lapped, as before.
    assert free_result["dropped"] > 0


def test_without_a_pacing_reader_a_slow_reader_loses_frames_and_says_so(
    tmp_path: Path, ring_name: str, engines: Engines, caplog: pytest.LogCaptureFixture
) -> None:
    wav = write_wav(tmp_path / "talk.wav", noise_signal(3.0, seed=9), 16000)
    engines.run(ring_name, f"file:{wav}", speed=2, slots=16, linger=3)
    with caplog.at_level(logging.WARNING, logger="v2m"):
        with v2m.Reader(ring_name, start="oldest", wait=10) as slow:
            wait_for(lambda: slow.closed, what="the replay to finish")
            list(slow)
            dropped = slow.dropped
    assert dropped > 0
    warnings = [r.getMessage() for r in caplog.records if r.name == "v2m"]
    assert warnings and "frames lost" in warnings[0] and "--pace-to-readers" in warnings[0]


def test_a_dead_pacing_reader_holds_the_engine_no_longer(
    tmp_path: Path, ring_name: str, engines: Engines
) -> None:
    wav = write_wav(tmp_path / "talk.wav", noise_signal(3.0, seed=9), 16000)
    engine = engines.run(
        ring_name, f"file:{wav}", speed="max", slots=16, pace_to_readers=True, linger=1
    )
    stuck = reader(ring_name, True, 60.0, tmp_path / "stuck.npy")  # takes a frame, then sleeps
    assert stuck.stdout is not None and stuck.stdout.readline().strip() == "ready"
    wait_for(
        lambda: bool(list(Path("/dev/shm").glob(f".v2m-{ring_name}.cursor.*"))),
        what="the cursor file",
    )
    stuck.kill()
    stuck.wait()
    finisher = reader(ring_name, True, 0.0, tmp_path / "finisher.npy")
    result = json.loads(finisher.communicate(timeout=60)[0].splitlines()[-1])
    assert result["dropped"] == 0 and result["frames"][-1] == 93
    assert engine.wait(20) == 0
    assert not list(Path("/dev/shm").glob(f".v2m-{ring_name}.cursor.*")), "no cursor left"
    assert not ring_file(ring_name).exists()


def test_a_live_source_cannot_be_paced(ring_name: str) -> None:
    result = run_engine("run", *engine_argv(ring_name, "default", pace_to_readers=True))
    assert result.returncode == 2 and "cannot wait for readers" in result.stderr


def test_a_pacing_reader_that_attaches_mid_replay_is_held_to_at_once(
    tmp_path: Path, ring_name: str, engines: Engines
) -> None:
    # A fast pacing reader drives a replay at full speed; a slow one attaches meanwhile.
    # From the moment its cursor exists the engine must wait for it too: it gets every
    # frame from where it started, none lost (an engine that looks for new cursors only
    # now and then lets the fast reader run it past the slow one's first frames).
    wav = write_wav(tmp_path / "talk.wav", noise_signal(20.0, seed=3), 16000)
    engines.run(ring_name, f"file:{wav}", speed="max", slots=32, pace_to_readers=True, vad="off", linger=5)  # fmt: skip

    with v2m.Reader(ring_name, start="oldest", wait=10, pace=True) as fast:
        runner = threading.Thread(target=lambda: sum(1 for _ in fast), daemon=True)
        runner.start()
        while fast.next_index < 100:
            time.sleep(0.001)
        with v2m.Reader(ring_name, start="oldest", pace=True) as slow:
            seen = []
            for frame in slow:
                seen.append(frame.index)
                time.sleep(0.002)
            # It begins with the oldest frame it could hold (the fast reader may have
            # run the engine on while this one attached); from there on, everything.
            first = slow.start_index
            assert slow.dropped == 0 and seen[0] == first
        runner.join(30)
    assert seen == list(range(first, -(-20 * 16000 // 512))), "every frame to the file's end"
