"""Reader process for the bridge tests: reads a ring from its oldest frame until it
closes or stays quiet for ``--idle`` seconds, and saves every frame's fields."""

from __future__ import annotations

import argparse
import json
import signal
import sys

import numpy as np

import v2m

FIELDS = ("index", "capture_ns", "arrival_ns", "vad_prob", "speech", "flags", "valid_samples")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("out")
    parser.add_argument("--idle", type=float, default=5.0)
    parser.add_argument("--reattach", action="store_true")
    parser.add_argument("--wait", type=float, default=30.0)
    args = parser.parse_args()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    fields: dict[str, list[float]] = {field: [] for field in FIELDS}
    samples = []
    print("waiting", flush=True)
    with v2m.Reader(
        args.name, start="oldest", wait=args.wait, reattach=args.reattach, copy=True
    ) as reader:
        info = reader.info
        while not stopping:
            frame = reader.read(timeout=args.idle)
            if frame is None:
                break
            for field in FIELDS:
                fields[field].append(getattr(frame, field))
            samples.append(frame.samples.reshape(-1))
        summary = {
            "frames": len(samples),
            "dropped": reader.dropped,
            "reattached": reader.reattached,
            "origin": info.origin,
            "mirror": info.is_mirror,
            "first_index": info.first_index,
            "samples_lost": reader.stats()["samples_lost"],
        }
    arrays = {field: np.array(values) for field, values in fields.items()}
    arrays["samples"] = np.array(samples, dtype=np.float32).reshape(len(samples), -1)
    np.savez(args.out, **arrays)
    json.dump(summary, sys.stdout)
    print(flush=True)


if __name__ == "__main__":
    main()
