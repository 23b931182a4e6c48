"""The latency suite's smoke run: every transport carries a few hundred frames, the
live capture cases and the sounddevice comparison run once, so the suite cannot rot.
It reports; nothing here asserts a time."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from support.engine import PYTHON, ROOT
from support.pulse_server import PulseServer


def test_the_latency_suite_runs_every_transport(tmp_path: Path) -> None:
    result = subprocess.run(
        [PYTHON, str(ROOT / "bench" / "latency_suite.py"), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads((tmp_path / "smoke.json").read_text())
    rows = {r["transport"]: r for r in doc["matrix"]}
    assert set(rows) >= {
        "v2m Reader (futex)",
        "v2m Reader (adaptive)",
        "v2m Reader (priority)",
        "raw futex (floor)",
        "raw busy poll (floor)",
        "Unix socket SEQPACKET",
        "pyzmq PUB/SUB ipc",
        "iceoryx2 pub/sub + event",
        "multiprocessing.Queue",
    }
    for name, row in rows.items():
        assert row["frames"] >= 250 and row["frames_per_reader"] >= 250, (name, row)
        assert 0 < row["p50_us"] <= row["max_us"], (name, row)
        # 300 frames per reader resolve no p99: the suite says so rather than guess.
        assert row["p99_us"] is None and row["p99.9_us"] is None, (name, row)
    config = doc["configuration"]
    assert config["versions"]["iceoryx2"] == "0.10.0" and "machine" in config
    assert (tmp_path / "smoke.md").read_text().count("| 1 ms | 1 | idle |") == len(rows)
    if PulseServer.available():
        assert {c["vad"] for c in doc["capture"]} == {"off", "silero", "silero, samples first"}
        for capture in doc["capture"]:
            assert capture["frames"] > 50 and capture["capture_to_python_us"]["p50"] > 0
        sides = {s["side"] for s in doc["sounddevice"]}
        assert sides == {
            "python-sounddevice",
            "v2m engine + v2m.Reader",
            "v2m engine + v2m.Reader (GIL switch 0.5 ms, priority=True)",
        }
        assert all(s["received"] > 50 for s in doc["sounddevice"])


def test_the_bridge_benches_run(tmp_path: Path) -> None:
    """Both bridge benches, briefly: every row carries frames through a mirror, and
    the capacity run mirrors every ring it was given and stops on SIGTERM, 128 rings
    too (a mirror that asked for each publisher's configuration inside its loop
    ignored SIGTERM for over 30 s there)."""
    bench = ROOT / "bench"
    latency = subprocess.run(
        [PYTHON, str(bench / "bridge_latency.py"), "--seconds", "2", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert latency.returncode == 0, latency.stderr[-3000:]
    rows = json.loads((tmp_path / "bridge.json").read_text())
    assert {r["publisher"] for r in rows} == {"v2m-bridge", "python"}
    assert {r["frame_ms"] for r in rows} == {5, 10, 32}
    for row in rows:
        assert row["mirror_us"]["samples"] > 20 and row["frames_per_message"] >= 1, row
    capacity = subprocess.run(
        [PYTHON, str(bench / "bridge_capacity.py"), "--seconds", "2", "--rings", "1", "128"]
        + ["--keep-going", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert capacity.returncode == 0, capacity.stderr[-3000:]
    rings = json.loads((tmp_path / "bridge_capacity.json").read_text())
    assert [r["rings_mirrored"] for r in rings] == [1, 128], rings
    assert all(r["frames_published"] > 0 for r in rings), rings


def test_a_publisher_that_cannot_start_stops_the_bridge_bench_with_its_reason(
    tmp_path: Path,
) -> None:
    """An interpreter without eclipse-zenoh (there is no free-threaded wheel): the bench
    says why and exits, and stops the engine and mirror it started (left running, they
    held its output pipe open and the caller hung)."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "zenoh.py").write_text('raise ImportError("no eclipse-zenoh for this interpreter")\n')
    latency = subprocess.run(
        [PYTHON, str(ROOT / "bench" / "bridge_latency.py"), "--seconds", "1"]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(shadow)},
    )
    assert latency.returncode != 0
    assert "the Python publisher did not start" in latency.stderr, latency.stderr[-2000:]
    assert not list(Path("/dev/shm").glob("v2m-bench*")), "no ring is left behind"


def test_the_long_run_labels_what_its_frames_cannot_resolve(tmp_path: Path) -> None:
    result = subprocess.run(
        [PYTHON, str(ROOT / "bench" / "latency_suite.py"), "--long", "--frames", "150"]
        + ["--transports", "v2m Reader (futex)", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads((tmp_path / "long.json").read_text())
    cases = {(r["readers"], r["load"]) for r in doc["matrix"]}
    assert {(1, "idle"), (4, "idle")} <= cases
    assert all(r["cadence"] == "10 ms" and r["p99_us"] is None for r in doc["matrix"])
    summary = (tmp_path / "long.md").read_text()
    assert "| v2m Reader (futex) |" in summary and "p99.9: 10,000" in summary
    assert (tmp_path / "long_tail_4reader.png").stat().st_size > 0


def test_the_channel_cost_bench_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [PYTHON, str(ROOT / "bench" / "channels_cost.py"), "--seconds", "1", "--runs", "1"]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((tmp_path / "channels.json").read_text())["rows"]
    assert [(r["device_rate"], r["channels"]) for r in rows] == [
        (rate, channels) for rate in (16000, 48000) for channels in (1, 2, 4, 8)
    ]
    assert all(r["core_share"] > 0 for r in rows)
    assert (tmp_path / "channels.md").read_text().count("| 48 kHz |") == 4
