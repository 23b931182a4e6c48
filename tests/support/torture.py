"""The torture run: one engine replaying the position-encoding `counter` source into a
64-slot ring far faster than real time, four reader processes (copies and zero-copy
views, one deliberately slow) lapped constantly. Every accepted frame must carry the
content its index implies, and every frame must be received or counted dropped."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

from support.engine import ENGINE

HERE = Path(__file__).resolve().parent

READERS = [["copy"], ["view"], ["view"], ["copy", "--slow"]]


def torture(name: str, seconds: float, speed: float = 1000, slots: int = 64) -> Dict[str, object]:
    """Runs the engine for ``seconds`` of wall time; returns the engine's and each reader's counts."""
    readers = [
        subprocess.Popen(
            [sys.executable, str(HERE / "torture_reader.py"), name, *mode],
            stdout=subprocess.PIPE,
            text=True,
        )
        for mode in READERS
    ]
    audio_s = seconds * speed
    started = time.monotonic()
    engine = subprocess.run(
        [
            str(ENGINE),
            "run",
            "--name",
            name,
            "--source",
            "counter",
            "--slots",
            str(slots),
            "--speed",
            str(speed),
            "--duration",
            str(audio_s),
            "--vad",
            "off",
            "--linger",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    results: List[Dict[str, int]] = [json.loads(r.communicate(timeout=60)[0]) for r in readers]
    return {
        "engine_exit": engine.returncode,
        "engine_stderr": engine.stderr,
        "wall_s": time.monotonic() - started,
        "frames_written": results[0]["written"] if results else 0,
        "readers": results,
    }
