"""Runs the engine and prints one line per VAD change, as `make demo` does.

Uses the default capture device when the engine finds one, and the bundled
speech sample otherwise (it says which). Ctrl-C stops it.

    python pyclient/examples/vad_demo.py --engine target/release/v2m-engine
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import v2m

SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "speech.wav"


def pick_source(engine: str) -> str:
    """The default capture device if the engine lists one, else the bundled sample."""
    listing = subprocess.run([engine, "devices", "--json"], capture_output=True, text=True)
    if listing.returncode == 0:
        try:
            devices = json.loads(listing.stdout)
        except json.JSONDecodeError:
            devices = []
        if any(d.get("default") for d in devices):
            print("demo: capturing from the default input device (Ctrl-C to stop)")
            return "default"
    print(f"demo: no capture device found; replaying the bundled sample {SAMPLE.name}")
    return f"file:{SAMPLE}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="v2m-engine", help="path of the v2m-engine binary")
    parser.add_argument("--name", default="demo", help="ring name")
    parser.add_argument("--source", help="engine --source (default: device or bundled sample)")
    parser.add_argument("--vad", default="silero", help="engine --vad")
    args = parser.parse_args()
    # Line by line even into a pipe (`make demo | tee`): each line as it happens, in
    # order with the engine's own lines on stderr.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    source = args.source or pick_source(args.engine)
    engine = subprocess.Popen(
        [args.engine, "run", "--name", args.name, "--source", source, "--vad", args.vad]
    )
    summary = None
    try:
        summary = watch(args.name)
    except KeyboardInterrupt:
        pass
    finally:
        if engine.poll() is None:
            engine.send_signal(signal.SIGTERM)
        engine.wait(10)
    # After the engine has exited, so that its last line comes before this one.
    if summary:
        print(summary)
    return 0


def watch(name: str) -> str | None:
    """Prints the VAD changes until the stream ends; returns the summary line."""
    speaking = False
    started_at = 0.0
    latencies = []
    with v2m.Reader(name, start="oldest", wait=10) as reader:
        frame_s = reader.frame_duration
        print(
            f"demo: ring {name!r}: {reader.sample_rate} Hz, {reader.frame_samples}-sample frames "
            f"({frame_s * 1000:.0f} ms), {reader.slots} slots"
        )
        frames = 0
        for frame in reader:
            latencies.append(time.monotonic_ns() - frame.publish_ns)
            frames += 1
            at = frame.index * frame_s
            if frame.speech and not speaking:
                speaking, started_at = True, at
                print(f"{at:7.2f} s  speech starts  (p={frame.vad_prob:.2f}, rms={frame.rms:.3f})")
            elif not frame.speech and speaking:
                speaking = False
                print(f"{at:7.2f} s  speech ends    ({at - started_at:.2f} s of speech)")
        dropped = reader.dropped
    if not latencies:
        return None
    latencies.sort()
    p50 = latencies[len(latencies) // 2] / 1000
    return f"demo: {frames} frames, {dropped} dropped, publish->read latency p50 {p50:.0f} us"


if __name__ == "__main__":
    sys.exit(main())
