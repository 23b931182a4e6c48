"""Does the native PipeWire host lose audio on busy cores? Per device buffer size.

Plays white noise into a private PipeWire server's null sink (graph at 16 kHz),
loads every core twice over with `stress-ng --cpu`, captures it through
`--host pipewire` at each `--device-buffer-ms`, and lines the capture up with the
noise block by block (2048 samples): a block that sits later in the noise than the
one before means samples were lost, earlier means samples were inserted. A loss the
engine flagged would show as a discontinuity; PipeWire does not report these.
`--client pw-record` captures with PipeWire's own recorder at the same latencies
instead, to tell the engine's losses from any PipeWire client's.

    .venv/bin/python bench/pipewire_buffers.py [--buffers 5,10,20] [--runs 10] [--client pw-record]

Needs an engine built with `--features pipewire` and the PipeWire packages, both of
which `make test` provides.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import List, Tuple

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "pyclient"))
sys.path.insert(0, str(ROOT / "tests"))
import v2m  # noqa: E402
from engine import ENGINE  # noqa: E402
from support.pipewire_server import SINK, PipeWireServer, wav_file  # noqa: E402

RATE = 16000
BLOCK = 2048
Samples = npt.NDArray[np.float64]


def noise(seconds: float) -> Samples:
    levels = np.random.default_rng(7).integers(-9000, 9000, int(seconds * RATE))
    return levels / 32768.0


def feed_position(block: npt.NDArray[np.float32], feed: Samples) -> int:
    """Where in the (looping) feed `block` starts, by cross-correlation."""
    n = 2 * len(feed) + len(block)
    spectrum = np.fft.rfft(np.concatenate([feed, feed]), n) * np.conj(np.fft.rfft(block, n))
    return int(np.argmax(np.fft.irfft(spectrum, n))) % len(feed)


def gaps(captured: npt.NDArray[np.float32], feed: Samples) -> Tuple[int, int]:
    """Samples lost and samples inserted, from how each block's place in the feed
    differs from where the previous block says it should be."""
    lost = inserted = 0
    starts = range(0, len(captured) - BLOCK + 1, BLOCK)
    places = [feed_position(captured[s : s + BLOCK], feed) for s in starts]
    half = len(feed) // 2
    for before, after in zip(places, places[1:]):
        step = (after - before - BLOCK + half) % len(feed) - half
        lost += max(step, 0)
        inserted += max(-step, 0)
    return lost, inserted


def one_run(buffer_ms: int, seconds: float, tmp: Path, run: int) -> Tuple[int, int, int]:
    feed = noise(20)
    server = PipeWireServer(tmp / f"rt{run}", wav_file(tmp / f"feed{run}.wav", feed, RATE), RATE)
    server.start()
    name = f"bench-pwbuf-{os.getpid()}-{run}"
    engine = subprocess.Popen(
        [
            str(ENGINE),
            "run",
            "--name",
            name,
            "--host",
            "pipewire",
            "--source",
            f"device:{SINK}",
            "--device-buffer-ms",
            str(buffer_ms),
            "--vad",
            "energy",
            "-q",
        ],
        env=server.env,
    )
    try:
        with v2m.Reader(name, wait=10, copy=True) as reader:
            for _ in range(3):  # past the stream's start-up
                reader.read(timeout=10)
            frames = [reader.read(timeout=10) for _ in range(int(seconds * RATE / 512))]
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(15)
        server.stop()
    got = [f for f in frames if f is not None]
    captured = np.concatenate([f.samples for f in got])
    lost, inserted = gaps(captured, feed)
    return lost, inserted, sum(1 for f in got if f.discontinuity)


def one_recording(latency_ms: int, seconds: float, tmp: Path, run: int) -> Tuple[int, int, int]:
    """The same through `pw-record` (pw-cat) with `--latency` of `latency_ms`."""
    feed = noise(20)
    server = PipeWireServer(tmp / f"rt{run}", wav_file(tmp / f"feed{run}.wav", feed, RATE), RATE)
    server.start()
    out = tmp / f"rec{run}.wav"
    recorder = subprocess.Popen(
        [
            "pw-cat",
            "--record",
            "--latency",
            f"{latency_ms}ms",
            "--target",
            SINK,
            "--rate",
            str(RATE),
            "--channels",
            "1",
            "--format",
            "s16",
            str(out),
        ],
        env=server.env,
    )
    time.sleep(seconds + 1.0)
    recorder.terminate()
    recorder.wait(10)
    server.stop()
    with wave.open(str(out)) as recording:
        pcm = np.frombuffer(recording.readframes(recording.getnframes()), "<i2")
    sound = np.nonzero(pcm)[0]
    start = int(sound[0]) + BLOCK if len(sound) else 0  # past the stream's start-up
    captured = (pcm[start:] / 32768.0).astype(np.float32)
    lost, inserted = gaps(captured, feed)
    return lost, inserted, 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buffers", default="5,10,20", help="--device-buffer-ms values")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=2.0, help="captured per run")
    parser.add_argument("--client", choices=("engine", "pw-record"), default="engine")
    args = parser.parse_args()
    if not PipeWireServer.available():
        print("needs pipewire, wireplumber, pw-cat and dbus-daemon (make test installs them)")
        return 1
    hogs = 2 * (os.cpu_count() or 1)
    print(
        f"# {platform.machine()}, {time.strftime('%Y-%m-%d')}; stress-ng --cpu {hogs} on "
        f"{os.cpu_count()} cores; {args.runs} runs of {args.seconds:g} s per buffer size; {args.client}"
    )
    print(
        f"{'buffer ms':>9} {'runs':>5} {'runs with loss':>15} {'lost':>6} {'inserted':>9} {'flagged':>8}"
    )
    load = subprocess.Popen(
        ["stress-ng", "--cpu", str(hogs)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for buffer_ms in [int(ms) for ms in args.buffers.split(",")]:
                capture = one_run if args.client == "engine" else one_recording
                results: List[Tuple[int, int, int]] = [
                    capture(buffer_ms, args.seconds, Path(tmp), run) for run in range(args.runs)
                ]
                bad = sum(1 for lost, inserted, _ in results if lost or inserted)
                print(
                    f"{buffer_ms:>9} {args.runs:>5} {bad:>15} {sum(r[0] for r in results):>6} "
                    f"{sum(r[1] for r in results):>9} {sum(r[2] for r in results):>8}",
                    flush=True,
                )
    finally:
        load.terminate()
        load.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
