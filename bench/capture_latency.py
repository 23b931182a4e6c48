"""Capture to Python: from the moment the capture callback receives a frame's last
sample (``arrival_ns``) to the moment a Python reader holds the frame, live from a
private PulseAudio server's null sink (a real-time clocked device; this machine has
no sound card), at several frame sizes, with and without Silero.

The figure starts at the callback: the device period (5 ms by default) and
PulseAudio's own buffering come before it and are not in it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
from transports import BENCH, ENGINE, PYTHON, ROOT, _await_ready, _collect

sys.path.insert(0, str(ROOT / "tests"))
from support.pulse_server import PulseServer, tone_file  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
WARMUP_S = 2.5


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


SAMPLES_FIRST = ", samples first"
"""A VAD case ending in this reads with ``Reader(wait_for_vad=False)``: each frame's
samples as soon as they are published, before the VAD result."""


def capture_case(pulse: PulseServer, frame: int, vad: str, seconds: float) -> Dict[str, object]:
    engine_vad = vad.removesuffix(SAMPLES_FIRST)
    name = f"suite-capture-{os.getpid()}-{frame}-{engine_vad}-{len(vad)}"
    reader_options = ["--samples-first"] if vad.endswith(SAMPLES_FIRST) else []
    consumer = subprocess.Popen(
        [PYTHON, str(BENCH / "consumer.py"), "v2m", name, *reader_options],
        stdout=subprocess.PIPE,
        text=True,
    )
    _await_ready(consumer, "the capture consumer")
    engine = subprocess.Popen(
        [ENGINE, "run", "--name", name, "--source", "device:pulse", "--frame", str(frame)]
        + ["--vad", engine_vad, "--duration", str(seconds), "--linger", "1"],
        env=pulse.env,
        stderr=subprocess.DEVNULL,
    )
    try:
        # cpal's ALSA thread spins for the first 1-2 s of a PulseAudio stream (until
        # the server delivers); CPU is measured after that.
        time.sleep(WARMUP_S)
        cpu0, wall0 = _cpu_s(engine.pid), time.monotonic()
        time.sleep(max(0.5, seconds - WARMUP_S - 1.0))
        cpu, wall = _cpu_s(engine.pid) - cpu0, time.monotonic() - wall0
        rss = _rss_mib(engine.pid)
        stats = _header_stats(name)
        (result,) = _collect([consumer], timeout=seconds + 60)
    finally:
        engine.wait(30)
    arrival = np.asarray(result["arrival_ns"], np.int64)
    published = np.asarray(result["publish_ns"], np.int64)
    held = np.asarray(result["held_ns"], np.int64)
    to_python = (held - arrival) / 1000
    engine_added = (published - arrival) / 1000
    return {
        "frame": frame,
        "frame_ms": frame / 16,
        "vad": vad,
        "frames": len(held),
        "capture_to_python_us": _percentiles(to_python),
        "engine_added_us": _percentiles(engine_added),
        "engine_cpu_percent": 100 * cpu / wall,
        "engine_rss_mib": rss,
        "vad_us_per_frame": stats.get("vad_us", 0.0),
        "lost": int(str(result["lost"])),
    }


def _header_stats(name: str) -> Dict[str, float]:
    sys.path.insert(0, str(ROOT / "pyclient"))
    import v2m

    try:
        with v2m.Reader(name) as reader:
            s = reader.stats()
    except v2m.V2MError:
        return {}
    return {"vad_us": s["vad_ns_total"] / max(1, s["vad_frames"]) / 1000}


def _percentiles(values: np.ndarray) -> Dict[str, float]:
    if len(values) == 0:
        return {}
    return {f"p{p:g}": float(np.percentile(values, p)) for p in (50, 90, 99, 99.9)} | {
        "max": float(values.max())
    }


def capture_cases(seconds: float, frames: List[int], vads: List[str]) -> List[Dict[str, object]]:
    """Every (frame size, VAD) case against one private PulseAudio server."""
    if not PulseServer.available():
        return []
    with tempfile.TemporaryDirectory() as tmp:
        pulse = PulseServer(Path(tmp) / "pulse", tone_file(Path(tmp) / "tone.raw", 900))
        pulse.start()
        try:
            return [capture_case(pulse, f, v, seconds) for f in frames for v in vads]
        finally:
            pulse.stop()
