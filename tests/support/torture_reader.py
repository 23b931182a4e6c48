"""One torture reader process: reads a `counter` ring, checks every frame it accepts
against the content its index implies, and prints what it saw as JSON.

    python torture_reader.py NAME copy|view [--slow]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import v2m

PERIOD = 1 << 24  # the counter source: sample n is (n mod 2^24) / 2^24


def expected(index: int, frame: int) -> np.ndarray:
    n = (index * frame + np.arange(frame, dtype=np.int64)) % PERIOD
    return (n / PERIOD).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("mode", choices=["copy", "view"])
    parser.add_argument("--slow", action="store_true", help="nap 2 ms every 8 frames")
    args = parser.parse_args()
    received = torn_after_use = accepted_wrong = out_of_order = 0
    last = -1
    with v2m.Reader(args.name, start="oldest", wait=10, copy=args.mode == "copy") as reader:
        first = reader.start_index
        frame_samples = reader.frame_samples
        for frame in reader:
            if frame.index <= last:
                out_of_order += 1
            last = frame.index
            n = frame.valid_samples
            right = np.array_equal(frame.samples[:n], expected(frame.index, frame_samples)[:n])
            # Only the last frame may be padded, and then with zeros.
            right = right and (
                not np.any(frame.samples[n:]) if frame.padded else n == frame_samples
            )
            if args.mode == "copy" or frame.valid():  # a view is checked after its use
                received += 1
                accepted_wrong += not right
            else:
                torn_after_use += 1
            if args.slow and frame.index % 8 == 0:
                time.sleep(0.002)
        written, dropped = reader.write_seq, reader.dropped
    print(
        json.dumps(
            {
                "mode": args.mode + (" slow" if args.slow else ""),
                "first": first,
                "written": written,
                "received": received,
                "dropped": dropped,
                "torn_after_use": torn_after_use,
                "accepted_wrong": accepted_wrong,
                "out_of_order": out_of_order,
            }
        )
    )


if __name__ == "__main__":
    main()
