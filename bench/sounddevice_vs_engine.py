"""python-sounddevice against the v2m engine, side by side on the same live source,
each consumer sharing its process with a CPU-bound "transcriber" thread (pure-Python
arithmetic, as a speech model's Python glue would be).

sounddevice runs its callback in the interpreter: it needs the GIL every 32 ms, and
the transcriber holds it. The engine captures in Rust and its ring holds 65 s; only
delivery to the Python thread waits for the GIL. Both count what they lose:
sounddevice's callback overflow flags and the frames that never arrived, the
engine's lost samples and the reader's dropped frames.

    python sounddevice_vs_engine.py [SECONDS] [--free-threaded PYTHON]
    python sounddevice_vs_engine.py side sd|v2m|v2m-tuned RING SECONDS python|c-call

``--free-threaded`` adds the engine's side once more, run by a free-threaded CPython
(``make test-free-threaded`` builds one into build/python3.13t): no GIL to wait for.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
FRAME = 512
RATE = 16000


def transcriber(seconds: float, kind: str) -> None:
    """CPU work in the consumer's process: ``python``, pure-Python arithmetic (the
    interpreter hands the GIL over every 5 ms), or ``c-call``, one C call at a time
    that holds the GIL for about 100 ms (as some extensions do)."""
    end, total = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        if kind == "python":
            for i in range(10_000):
                total += i * i % 7
        else:
            total += sum(range(3_000_000))


def sounddevice_side(seconds: float, kind: str) -> Dict[str, object]:
    import sounddevice as sd

    frames: "queue.Queue[Tuple[float, np.ndarray]]" = queue.Queue()
    overflows = 0

    def callback(indata: np.ndarray, count: int, times: Any, status: sd.CallbackFlags) -> None:
        # times.currentTime: when PortAudio invoked the callback, before the GIL was taken.
        nonlocal overflows
        overflows += bool(status.input_overflow)
        frames.put((times.currentTime, indata[:, 0].copy()))

    delivery: List[float] = []
    with sd.InputStream(
        device="pulse",
        samplerate=RATE,
        channels=1,
        blocksize=FRAME,
        dtype="float32",
        callback=callback,
        latency="low",
    ) as stream:
        frames.get(timeout=30)  # the stream is running
        # PortAudio's clock against CLOCK_MONOTONIC: the closest of a few readings.
        offset = min(time.monotonic() - stream.time for _ in range(50))
        start = time.monotonic()
        end = start + seconds
        overflows = 0
        work = threading.Thread(target=transcriber, args=(seconds, kind))
        work.start()
        received = 0
        # Frames called back within the window count, however late they are delivered.
        while time.monotonic() < end + 2.0:
            try:
                callback_time, _samples = frames.get(timeout=0.5)
            except queue.Empty:
                continue
            called = callback_time + offset
            if start <= called < end:
                delivery.append(time.monotonic() - called)
                received += 1
        work.join()
    expected = int(seconds * RATE / FRAME)
    return {
        "side": "python-sounddevice",
        "transcriber": kind,
        "expected": expected,
        "received": received,
        "lost": max(0, expected - received),
        "overflow_flags": overflows,
        "delivery_us": _percentiles(np.asarray(delivery) * 1e6),
    }


def engine_side(ring: str, seconds: float, kind: str, tuned: bool = False) -> Dict[str, object]:
    """``tuned``: the knobs v2m offers against the GIL and a busy CPU, a 0.5 ms GIL
    switch interval and a real-time reading thread."""
    sys.path.insert(0, str(ROOT / "pyclient"))
    import v2m

    if tuned:
        v2m.shorten_gil_switch_interval()
    delivery: List[int] = []
    with v2m.Reader(ring, wait=30, priority=tuned) as reader:
        reader.read(timeout=30)  # the stream is running
        start = time.monotonic_ns()
        end = start + int(seconds * 1e9)
        work = threading.Thread(target=transcriber, args=(seconds, kind))
        work.start()
        received = 0
        # Frames that arrived within the window count, however late they are delivered.
        while time.monotonic_ns() < end + 2_000_000_000:
            frame = reader.read(timeout=0.5)
            if frame is None:
                continue
            if start <= frame.arrival_ns < end:
                delivery.append(time.monotonic_ns() - frame.arrival_ns)
                received += 1
        work.join()
        stats = reader.stats()
    expected = int(seconds * RATE / FRAME)
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    return {
        "side": "v2m engine + v2m.Reader"
        + (" (GIL switch 0.5 ms, priority=True)" if tuned else "")
        + ("" if gil else f" (free-threaded CPython {sys.version.split()[0]})"),
        "transcriber": kind,
        "expected": expected,
        "received": received,
        "lost": max(0, expected - received),
        "reader_dropped": reader.dropped,
        "engine_samples_lost": stats["samples_lost"],
        "device_overruns": stats["device_overruns"],
        "delivery_us": _percentiles(np.asarray(delivery) / 1000),
    }


def _percentiles(values: np.ndarray) -> Dict[str, float]:
    if len(values) == 0:
        return {}
    return {f"p{p:g}": float(np.percentile(values, p)) for p in (50, 90, 99, 99.9)} | {
        "max": float(values.max())
    }


def compare(
    seconds: float,
    kinds: Tuple[str, ...] = ("python", "c-call"),
    free_threaded: Optional[str] = None,
) -> List[Dict[str, object]]:
    """Both sides at once on one private PulseAudio source, for each transcriber kind;
    with ``free_threaded`` (an interpreter), the engine's side on it too."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support.pulse_server import PulseServer, tone_file

    engine_binary = os.environ.get("V2M_ENGINE", str(ROOT / "target" / "release" / "v2m-engine"))
    ring = f"suite-sd-{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        pulse = PulseServer(Path(tmp) / "pulse", tone_file(Path(tmp) / "tone.raw", 900))
        pulse.start()
        engine = subprocess.Popen(
            [engine_binary, "run", "--name", ring, "--source", "device:pulse", "--vad", "silero"],
            env=pulse.env,
            stderr=subprocess.DEVNULL,
        )
        records: List[Dict[str, object]] = []
        try:
            for kind in kinds:
                runs = [(sys.executable, which) for which in ("sd", "v2m", "v2m-tuned")]
                runs += [(free_threaded, "v2m")] if free_threaded else []
                sides = [
                    subprocess.Popen(
                        [python, __file__, "side", which, ring, str(seconds), kind],
                        env=dict(pulse.env, PYTHON_GIL="0"),
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                    for python, which in runs
                ]
                records += [json.loads(p.communicate(timeout=seconds + 120)[0]) for p in sides]
        finally:
            engine.terminate()
            engine.wait(30)
            pulse.stop()
    return records


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "side":
        which, ring, seconds, kind = sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
        record = (
            sounddevice_side(seconds, kind)
            if which == "sd"
            else engine_side(ring, seconds, kind, tuned=which == "v2m-tuned")
        )
        json.dump(record, sys.stdout)
        return 0
    args = sys.argv[1:]
    free_threaded = None
    if "--free-threaded" in args:
        at = args.index("--free-threaded")
        free_threaded = args[at + 1]
        del args[at : at + 2]
    print(
        json.dumps(compare(float(args[0]) if args else 20.0, free_threaded=free_threaded), indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
