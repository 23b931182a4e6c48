"""The monitoring tools are readers like any other: a monitor, an exporter and a
recorder attached at once do not change what a plain reader gets; each tool does
its job, follows the engine, and leaves valid output whatever stops it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import time
import urllib.error
import urllib.request
import wave
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

import v2m
from support.engine import ENGINE, PYTHON, ROOT, Engines
from support.readers import frame_reader, frame_reader_summary
from support.rings import ring_file, wait_for
from support.wav_files import noise_signal, write_wav

SPEECH = ROOT / "assets" / "speech.wav"
BIN = Path(PYTHON).parent


STARTED: List["subprocess.Popen[str]"] = []


def _default_sigint() -> None:
    # A test run started in the background of a shell inherits SIGINT ignored; the
    # tests that stop a tool with SIGINT need it to arrive.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def tool(name: str, *args: str, **kw: object) -> "subprocess.Popen[str]":
    process = subprocess.Popen(
        [str(BIN / name), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_default_sigint, **kw,  # type: ignore[call-overload]
    )  # fmt: skip
    STARTED.append(process)
    return process


@pytest.fixture(autouse=True)
def no_tool_outlives_its_test() -> Iterator[None]:
    """A failed test must not leave a tool waiting for engines forever."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.communicate()


def speech_samples() -> np.ndarray:
    with wave.open(str(SPEECH)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768


def read_wav(path: Path) -> Tuple[int, np.ndarray]:
    """Rate and samples of a WAV file, checking its header agrees with its size."""
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8, "RIFF size matches the file"
    fmt_size = struct.unpack_from("<I", data, 16)[0]
    code, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, 20)
    at = 20 + fmt_size
    while data[at : at + 4] != b"data":
        at += 8 + struct.unpack_from("<I", data, at + 4)[0]
    size = struct.unpack_from("<I", data, at + 4)[0]
    assert at + 8 + size == len(data), "data size matches the file"
    payload = data[at + 8 :]
    samples = (
        np.frombuffer(payload, "<f4")
        if code == 3
        else np.frombuffer(payload, "<i2").astype(np.float32) / 32767
    )
    assert channels == 1 and bits in (16, 32)
    return rate, samples


def scrape(port: int) -> Dict[str, List[Tuple[Dict[str, str], float]]]:
    """The exporter's metrics by name; nothing while it is still starting."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except urllib.error.URLError:
        return {}
    out: Dict[str, List[Tuple[Dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_four_consumers_at_once_do_not_disturb_each_other(
    tmp_path: Path, ring_name: str, engines: Engines
) -> None:
    source = noise_signal(3.0, seed=5)
    wav = write_wav(tmp_path / "noise.wav", source, 16000)
    frames = -(-len(source) // 512)
    expected = np.zeros(frames * 512, np.float32)
    expected[: len(source)] = source

    # Alone first: what the plain reader gets with nobody else attached.
    alone = frame_reader(ring_name, tmp_path / "alone.npz")
    engines.run(ring_name, f"file:{wav}", speed=2, linger=3)
    assert frame_reader_summary(alone) == {"frames": frames, "dropped": 0}
    wait_for(lambda: not ring_file(ring_name).exists(), timeout=20, what="the first ring to go")

    # Then with a monitor, an exporter and a recorder attached to the same stream.
    port = free_port()
    reader = frame_reader(ring_name, tmp_path / "shared.npz")
    monitor = tool("v2m-monitor", "--name", ring_name, "--plain", "--duration", "4")
    exporter = tool("v2m-exporter", "--port", str(port), "--name", ring_name)
    recording = tmp_path / "recording.wav"
    # From the oldest frame: however late a slow machine starts it, it records everything.
    recorder = tool(
        "v2m-record",
        str(recording),
        "--name",
        ring_name,
        "--format",
        "float32",
        "--start",
        "oldest",
    )
    try:
        time.sleep(0.5)  # they are waiting for the ring
        engines.run(ring_name, f"file:{wav}", speed=2, linger=3)
        time.sleep(1.0)
        during = scrape(port)
        assert frame_reader_summary(reader) == {"frames": frames, "dropped": 0}
        time.sleep(1.0)
        metrics = scrape(port)
        monitor_out, _ = monitor.communicate(timeout=30)
        _, record_err = recorder.communicate(timeout=30)
    finally:
        exporter.send_signal(signal.SIGINT)
        exporter.wait(10)
    for run in ("alone", "shared"):
        got = np.load(tmp_path / f"{run}.npz")
        assert list(got["indices"]) == list(range(frames))
        assert np.array_equal(got["samples"].reshape(-1), expected), f"{run}: bit-exact"
    lines = [line for line in monitor_out.splitlines() if line.startswith(ring_name)]
    running = [line for line in lines if " running pid " in line]
    assert running and "fps" in running[-1] and "latency p50" in running[-1]
    assert f"{ring_name} closed pid " in lines[-1], "the monitor shows the ring closing"
    assert "dropped 0" in lines[-1]
    assert during["v2m_engine_up"] == [({"ring": ring_name}, 1.0)]
    assert metrics["v2m_engine_up"] == [({"ring": ring_name}, 0.0)], "closed: the engine is done"
    assert metrics["v2m_frames_total"] == [({"ring": ring_name}, float(frames))]
    assert metrics["v2m_delivery_latency_seconds_count"][0][1] > 0
    assert recorder.returncode == 0, record_err
    rate, recorded = read_wav(recording)
    assert rate == 16000 and np.array_equal(recorded, expected), "the recording is the source"


def test_the_monitor_draws_in_a_terminal(ring_name: str, engines: Engines) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is needed to give the monitor a terminal (make test installs it)")
    engines.run(ring_name, f"file:{SPEECH}", loop=True, vad="energy")
    session = f"v2m-{ring_name}"
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "120",
            "-y",
            "30",
            f"{BIN / 'v2m-monitor'} --name {ring_name} --duration 20",
        ],
        check=True,
    )
    try:
        screen = ""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            time.sleep(0.5)
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout
            if "frames/s" in screen and "█" in screen and "utterances 1" in screen:
                break
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert f"v2m ring {ring_name} — running" in screen, screen
    assert "dBFS" in screen and ("█" in screen or "░" in screen), "the level meter is drawn"
    assert any(c in screen for c in "▁▂▃▄▅▆▇"), "the level history and VAD trace are drawn"
    assert "threshold 0.50" in screen and "utterances" in screen, "the VAD trace is drawn"
    assert "frames/s" in screen and "latency p50" in screen and "xruns 0" in screen, screen


def test_the_monitor_marks_what_an_80_column_terminal_cuts(
    ring_name: str, engines: Engines
) -> None:
    """Lines too long for the terminal end in an ellipsis, not at the border mid-figure."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is needed to give the monitor a terminal (make test installs it)")
    engines.run(ring_name, "tone:440", vad="energy")
    session = f"v2m80-{ring_name}"
    command = f"{BIN / 'v2m-monitor'} --name {ring_name} --duration 20"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command])
    try:
        screen = ""
        deadline = time.monotonic() + 15
        while "frames/s" not in screen and time.monotonic() < deadline:
            time.sleep(0.5)
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    delivery = next(line for line in screen.splitlines() if "frames/s" in line)
    title = next(line for line in screen.splitlines() if "v2m ring" in line)
    assert delivery.rstrip().endswith("… │") and title.rstrip().endswith("…─╮"), screen


@pytest.mark.parametrize("stop", ["SIGINT to the recorder", "SIGKILL to the engine"])
def test_the_recording_is_valid_however_it_ends(
    stop: str, tmp_path: Path, ring_name: str, engines: Engines
) -> None:
    engine = engines.run(ring_name, f"file:{SPEECH}", vad="energy")
    recording, labels = tmp_path / "rec.wav", tmp_path / "labels.txt"
    recorder = tool("v2m-record", str(recording), "--name", ring_name, "--labels", str(labels))
    time.sleep(3.0)  # mid-stream
    if stop.startswith("SIGINT"):
        recorder.send_signal(signal.SIGINT)
    else:
        engine.kill()
    _, err = recorder.communicate(timeout=20)
    assert recorder.returncode == (0 if stop.startswith("SIGINT") else 1), err
    assert "written to" in err
    rate, recorded = read_wav(recording)
    with wave.open(str(recording)) as w:  # the standard library reads it too
        assert w.getnframes() == len(recorded) and w.getframerate() == 16000
    assert 1.5 < len(recorded) / rate < 5
    source = speech_samples()
    # Int16 in, int16 out: the recording is the source from where it attached.
    offset = int(np.argmax(np.abs(source) > 0.01)) - int(np.argmax(np.abs(recorded) > 0.01))
    part = source[offset : offset + len(recorded)]
    assert np.max(np.abs(recorded[: len(part)] - part)) < 1e-3
    ring_file(ring_name).unlink(missing_ok=True)  # what the killed engine left


def test_speech_only_recording_and_labels(tmp_path: Path, ring_name: str, engines: Engines) -> None:
    engines.run(ring_name, f"file:{SPEECH}", speed=4, vad="energy")
    recording, labels = tmp_path / "speech.wav", tmp_path / "labels.txt"
    recorder = tool(
        "v2m-record", str(recording), "--name", ring_name, "--speech-only", "--labels", str(labels)
    )
    _, err = recorder.communicate(timeout=60)
    assert recorder.returncode == 0, err
    rows = [line.split("\t") for line in labels.read_text().splitlines()]
    assert len(rows) >= 2, rows
    _, recorded = read_wav(recording)
    # Speech-only labels are positions in the output file: they tile it.
    assert float(rows[0][0]) == 0.0
    assert abs(float(rows[-1][1]) - len(recorded) / 16000) < 1e-6
    assert all(float(a[1]) == float(b[0]) for a, b in zip(rows, rows[1:]))
    assert len(recorded) / 16000 < 16, "silence was left out"


def test_the_exporter_follows_an_engine_restart(ring_name: str, engines: Engines) -> None:
    port = free_port()
    exporter = tool("v2m-exporter", "--port", str(port))
    try:
        first = engines.run(ring_name, "tone:440", vad="energy")

        def info() -> Dict[str, str]:
            info = scrape(port).get("v2m_engine_info", [])
            rows = [labels for labels, _ in info if labels["ring"] == ring_name]
            return rows[0] if rows else {}

        wait_for(lambda: bool(info()), timeout=15, what="the exporter to see the ring")
        before = info()
        assert before["pid"] == str(first.pid)
        first.kill()
        first.wait()
        wait_for(
            lambda: ({"ring": ring_name}, 0.0) in scrape(port).get("v2m_engine_up", []),
            timeout=15,
            what="the exporter to see the engine die",
        )
        second = engines.run(ring_name, "tone:440", vad="energy")
        wait_for(lambda: info().get("pid") == str(second.pid), timeout=15, what="the new engine")
        after = info()
        assert after["generation"] != before["generation"]
        assert ({"ring": ring_name}, 1.0) in scrape(port)["v2m_engine_up"]
    finally:
        exporter.send_signal(signal.SIGINT)
        exporter.wait(10)


def test_a_tool_without_its_extra_says_what_to_install(tmp_path: Path) -> None:
    # Hide prometheus_client from a child interpreter: the tools extra is "not installed".
    blocker = tmp_path / "prometheus_client.py"
    blocker.write_text("raise ImportError('hidden by the test')\n")
    result = subprocess.run(
        [PYTHON, "-c", "from v2m.tools.exporter import main; main(['--port', '0'])"],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ, PYTHONPATH=f"{tmp_path}:{ROOT / 'pyclient'}"),
    )
    assert result.returncode != 0
    assert 'pip install "v2m-engine[tools]"' in result.stderr + result.stdout


def test_status_watch_refreshes_until_interrupted(ring_name: str, engines: Engines) -> None:
    engines.run(ring_name, "tone:440", vad="off")
    wait_for(lambda: ring_file(ring_name).exists(), what="the ring")
    watch = subprocess.Popen(
        [str(ENGINE), "status", "--name", ring_name, "--json", "--watch", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    watch.send_signal(signal.SIGINT)
    out, _ = watch.communicate(timeout=10)
    assert watch.returncode == 0
    docs = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(docs) >= 4 and all(d["state"] == "running" for d in docs)
    assert docs[-1]["frames_written"] > docs[0]["frames_written"], "each refresh reads anew"


def test_rings_lists_every_ring_and_what_is_not_one(
    ring_name: str, engines: Engines, tmp_path: Path
) -> None:
    engines.run(ring_name, "silence", vad="off")
    wait_for(lambda: ring_file(ring_name).exists(), what="the ring")
    odd = ring_file(f"{ring_name}-dir")
    odd.mkdir()
    try:
        found = {r.name: r for r in v2m.rings()}
        assert found[ring_name].state == "running" and found[ring_name].sample_rate == 16000
        assert found[f"{ring_name}-dir"].state == "unreadable"
        assert "directory" in str(found[f"{ring_name}-dir"].error)
        listing = subprocess.run(
            [PYTHON, "-m", "v2m", "rings"], capture_output=True, text=True, timeout=30
        ).stdout
        assert ring_name in listing and "running" in listing
    finally:
        odd.rmdir()
