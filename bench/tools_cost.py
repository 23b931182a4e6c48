"""What the monitoring tools cost: the CPU of each at real time, and whether a plain
reader's delivery latency changes when all three are attached to the same stream.

One engine replays the bundled speech in real time (Silero on). In alternating
rounds a plain reader (the latency suite's consumer) runs alone, then with
``v2m-monitor`` drawing in a terminal (a pseudo-terminal, 4 redraws/s),
``v2m-exporter`` scraped every second and ``v2m-record`` writing a WAV.

    .venv/bin/python bench/tools_cost.py [--seconds 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Dict, List

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from capture_latency import _cpu_s  # noqa: E402
from transports import ENGINE, PYTHON, ROOT, _await_ready, _collect  # noqa: E402

BIN = Path(PYTHON).parent


def _drain(fd: int) -> None:
    """Reads a pseudo-terminal's output away, as a terminal would display it."""
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass


def plain_reader(ring: str, seconds: float) -> "subprocess.Popen[str]":
    proc = subprocess.Popen(
        [PYTHON, str(BENCH / "consumer.py"), "v2m", ring], stdout=subprocess.PIPE, text=True
    )
    _await_ready(proc, "the plain reader")
    return proc


def one_round(ring: str, seconds: float, with_tools: bool, tmp: Path) -> Dict[str, object]:
    tools: Dict[str, "subprocess.Popen[bytes]"] = {}
    masters: List[int] = []
    port = 19000 + os.getpid() % 1000
    if with_tools:
        master, slave = pty.openpty()
        masters.append(master)
        threading.Thread(target=_drain, args=(master,), daemon=True).start()
        tools["monitor"] = subprocess.Popen(
            [str(BIN / "v2m-monitor"), "--name", ring, "--refresh", "4"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=dict(os.environ, COLUMNS="120", LINES="30", TERM="xterm-256color"),
        )
        os.close(slave)
        tools["exporter"] = subprocess.Popen(
            [str(BIN / "v2m-exporter"), "--port", str(port), "--name", ring],
            stdout=subprocess.DEVNULL,
        )
        tools["recorder"] = subprocess.Popen(
            [
                str(
                    BIN / "v2m-record",
                ),
                str(tmp / "rec.wav"),
                "--name",
                ring,
            ],
            stderr=subprocess.DEVNULL,
        )
        time.sleep(2.0)  # started and attached
    reader = plain_reader(ring, seconds)
    cpu0 = {name: _cpu_s(p.pid) for name, p in tools.items()}
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        time.sleep(1.0)
        if with_tools:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
            except OSError:
                pass
    wall = time.monotonic() - started
    cpu = {name: 100 * (_cpu_s(p.pid) - cpu0[name]) / wall for name, p in tools.items()}
    reader.send_signal(signal.SIGINT)
    for p in tools.values():
        p.send_signal(signal.SIGINT)
        p.wait(10)
    for fd in masters:
        os.close(fd)
    try:
        (result,) = _collect([reader], timeout=30)
    except (json.JSONDecodeError, ValueError):
        result = {"held_ns": [], "publish_ns": []}
    lat = (np.asarray(result["held_ns"]) - np.asarray(result["publish_ns"])) / 1000
    return {"with_tools": with_tools, "cpu": cpu, "latency_us": lat.tolist()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ring = f"tools-cost-{os.getpid()}"
    engine = subprocess.Popen(
        [ENGINE, "run", "--name", ring, "--source", f"file:{ROOT}/assets/speech.wav", "--loop"],
        stderr=subprocess.DEVNULL,
    )
    rounds = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            time.sleep(1.0)
            for _ in range(args.rounds):
                for with_tools in (False, True):
                    rounds.append(one_round(ring, args.seconds, with_tools, Path(tmp)))
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(10)
    print(f"# {args.rounds} rounds of {args.seconds:g} s each way, engine in real time, Silero on")
    for name in ("monitor", "exporter", "recorder"):
        values = [r["cpu"][name] for r in rounds if r["with_tools"]]  # type: ignore[index]
        print(f"{name:<9} CPU {np.median(values):5.2f} % of a core (median of rounds)")
    for with_tools in (False, True):
        lat = np.concatenate([r["latency_us"] for r in rounds if r["with_tools"] == with_tools])
        label = "plain reader with the three tools" if with_tools else "plain reader alone"
        print(
            f"{label:<34} frames {len(lat):5d}  p50 {np.percentile(lat, 50):6.0f}  "
            f"p99 {np.percentile(lat, 99):6.0f}  max {lat.max():6.0f} µs"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
