"""The engine binary under test and how the tests run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[2]
ENGINE = Path(os.environ.get("V2M_ENGINE", ROOT / "target" / "release" / "v2m-engine"))
PYTHON = sys.executable
TIMEOUT_SCALE = float(os.environ.get("V2M_TEST_TIMEOUT_SCALE", "1"))
"""Multiplies the engine commands' timeouts: ``make test-arm64`` runs everything under
qemu, where ONNX Runtime's per-frame calls take ~50 times longer."""


def engine_argv(name: str, source: str, **options: object) -> List[str]:
    """``run``'s arguments for ring ``name`` and ``source``, the other flags as keywords
    the way :func:`v2m.spawn` takes them (``vad="off"``, ``slots=16``, ``loop=True``)."""
    from v2m.spawn import engine_flags  # the package's own keyword-to-flag rule

    argv = ["--name", name, "--source", source]
    vad = options.pop("vad", None)
    if vad is not None:
        argv += ["--vad", str(vad)]
    return argv + engine_flags(options)  # type: ignore[arg-type]


class Engines:
    """Starts engines and makes sure none outlives the test."""

    def __init__(self) -> None:
        self.procs: List[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """``v2m-engine run ARGS`` (see :func:`engine_argv` for building them)."""
        proc = subprocess.Popen(
            [str(ENGINE), "run", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.procs.append(proc)
        return proc

    def run(self, name: str, source: str, **options: object) -> subprocess.Popen[bytes]:
        """An engine for ring ``name`` and ``source``, the flags as keywords."""
        return self.start(*engine_argv(name, source, **options))

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def run_engine(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Runs an engine command to completion."""
    return subprocess.run(
        [str(ENGINE), *args],
        capture_output=True,
        text=True,
        timeout=timeout * TIMEOUT_SCALE,
        check=False,
    )


def live_engine(name: str, args: List[str], env: Dict[str, str]) -> "subprocess.Popen[str]":
    """``v2m-engine run`` on a capture device of a private sound server (``env`` points
    at it): energy VAD, no linger, stderr kept for the test to read."""
    return subprocess.Popen(
        [str(ENGINE), "run", "--name", name, "--vad", "energy", "--linger", "0", *args],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_live_engine(engine: "subprocess.Popen[str]") -> str:
    """Stops a :func:`live_engine` as a user would (SIGTERM); its stderr. It must exit 0."""
    engine.send_signal(signal.SIGTERM)
    _, stderr = engine.communicate(timeout=15)
    assert engine.returncode == 0, stderr
    return stderr
