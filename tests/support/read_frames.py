"""Reader process for the cross-process tests: reads a whole ring, saves what it saw."""

from __future__ import annotations

import argparse
import json

import numpy as np

import v2m


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("out")
    args = parser.parse_args()
    indices, flags, valid, frames = [], [], [], []
    print("waiting", flush=True)  # imports done: the test may start the engine now
    with v2m.Reader(args.name, start="oldest", wait=10.0) as reader:
        for frame in reader:
            frames.append(frame.samples.copy())
            ok = frame.valid()
            indices.append(frame.index if ok else -1)
            flags.append(frame.flags)
            valid.append(frame.valid_samples)
        dropped = reader.dropped
    np.savez(
        args.out,
        indices=np.array(indices),
        flags=np.array(flags),
        valid=np.array(valid),
        samples=np.array(frames, dtype=np.float32).reshape(len(frames), -1),
    )
    print(json.dumps({"frames": len(indices), "dropped": dropped}))


if __name__ == "__main__":
    main()
