"""One benchmark reader process: receives frames, records publish->receive latency and CPU."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import v2m


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--skip", type=int, default=5, help="frames to ignore while warming up")
    args = parser.parse_args()
    latencies = []
    with v2m.Reader(args.name, wait=10) as reader:
        for _ in range(args.skip):
            if reader.read(timeout=10) is None:
                break
        cpu0, wall0 = time.process_time(), time.monotonic()
        for frame in reader:
            latencies.append(time.monotonic_ns() - frame.publish_ns)
            frame.samples.sum()  # touch the audio as a consumer would
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        dropped = reader.dropped
    print(
        json.dumps(
            {
                "latency_ns": np.asarray(latencies, dtype=np.int64).tolist(),
                "cpu_percent": 100.0 * cpu / wall if wall > 0 else 0.0,
                "dropped": dropped,
            }
        )
    )


if __name__ == "__main__":
    main()
