"""Reader processes: a separate interpreter per reader, as an application would be."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support.engine import PYTHON


def frame_reader(name: str, out: Path) -> "subprocess.Popen[str]":
    """A reader process (``read_frames.py``) of ring ``name``, saving to ``out``; returns
    once it is about to attach (imports can take seconds on a slow or emulated CPU)."""
    proc = subprocess.Popen(
        [PYTHON, str(Path(__file__).parent / "read_frames.py"), name, str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "waiting", "the reader process failed to start"
    return proc


def frame_reader_summary(proc: "subprocess.Popen[str]", timeout: float = 60) -> object:
    """What a :func:`frame_reader` saw: ``{"frames": n, "dropped": d}``."""
    return json.loads(proc.communicate(timeout=timeout)[0])
