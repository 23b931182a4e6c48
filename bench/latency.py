"""Publish->reader latency of the shared-memory ring, for 1 and N Python readers.

The engine replays a tone at several frame cadences; each reader is its own
process and timestamps every frame when its iterator returns it
(CLOCK_MONOTONIC, the clock the engine stamps `publish_ns` with).

    .venv/bin/python bench/latency.py [--seconds 5] [--speeds 1,10,100] [--readers 1,4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ENGINE = os.environ.get("V2M_ENGINE", str(ROOT / "target" / "release" / "v2m-engine"))
READER = Path(__file__).with_name("latency_reader.py")


def run_case(speed: float, readers: int, seconds: float, frame: int) -> Dict[str, float]:
    name = f"bench-{os.getpid()}"
    audio_s = seconds * speed
    engine = subprocess.Popen(
        [
            ENGINE,
            "run",
            "--name",
            name,
            "--source",
            "tone:440",
            "--speed",
            str(speed),
            "--duration",
            str(audio_s),
            "--frame",
            str(frame),
            "--vad",
            "energy",
            "--linger",
            "0.5",
        ],
        stderr=subprocess.DEVNULL,
    )
    procs = [
        subprocess.Popen([sys.executable, str(READER), name], stdout=subprocess.PIPE, text=True)
        for _ in range(readers)
    ]
    results = [json.loads(p.communicate(timeout=seconds + 60)[0]) for p in procs]
    if engine.poll() is None:
        engine.send_signal(signal.SIGTERM)
    engine.wait(10)
    lat = np.concatenate([np.asarray(r["latency_ns"], dtype=np.float64) for r in results]) / 1000
    return {
        "speed": speed,
        "cadence_ms": frame / 16000 / speed * 1000,
        "readers": readers,
        "frames": int(len(lat)),
        "p50": float(np.percentile(lat, 50)),
        "p90": float(np.percentile(lat, 90)),
        "p99": float(np.percentile(lat, 99)),
        "p99.9": float(np.percentile(lat, 99.9)),
        "max": float(lat.max()),
        "cpu": float(np.mean([r["cpu_percent"] for r in results])),
        "dropped": int(sum(r["dropped"] for r in results)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="wall time per case")
    parser.add_argument("--speeds", default="1,10,100", help="replay speeds (x real time)")
    parser.add_argument("--readers", default="1,4", help="reader process counts")
    parser.add_argument("--frame", type=int, default=512)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if not Path(ENGINE).exists():
        print(f"no engine at {ENGINE}; run `make build` first", file=sys.stderr)
        return 2
    rows: List[Dict[str, float]] = []
    print(
        f"# {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d')}; {args.seconds:g} s per case, {args.frame}-sample frames"
    )
    print(
        f"{'cadence':>10} {'readers':>7} {'frames':>7} {'p50 µs':>8} {'p90 µs':>8} "
        f"{'p99 µs':>8} {'p99.9 µs':>9} {'max µs':>8} {'CPU %/rdr':>9} {'dropped':>7}"
    )
    for speed in (float(s) for s in args.speeds.split(",")):
        for readers in (int(n) for n in args.readers.split(",")):
            row = run_case(speed, readers, args.seconds, args.frame)
            rows.append(row)
            print(
                f"{row['cadence_ms']:8.2f}ms {readers:7d} {row['frames']:7d} {row['p50']:8.0f} "
                f"{row['p90']:8.0f} {row['p99']:8.0f} {row['p99.9']:9.0f} {row['max']:8.0f} "
                f"{row['cpu']:9.1f} {row['dropped']:7d}",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
