"""The latency suite's smoke run: every transport carries a few hundred frames, the
live capture cases and the sounddevice comparison run once, so the suite cannot rot.
It reports; nothing here asserts a time."""

from __future__ import annotations

import json
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
        assert row["frames"] >= 250, (name, row)
        assert 0 < row["p50_us"] <= row["p99_us"] <= row["max_us"], (name, row)
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
