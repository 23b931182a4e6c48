"""Prints the start, duration and RMS level of every utterance the engine hears.

    python print_utterances.py                       # default input device
    python print_utterances.py --source file:talk.wav

Starts its own engine (``v2m.spawn``), or attaches to a running one with ``--name``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import v2m


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="default", help="engine --source when spawning")
    parser.add_argument("--name", help="attach to this running ring instead of spawning")
    parser.add_argument("--engine", help="path of v2m-engine")
    parser.add_argument("--speed", default="realtime", help="engine --speed for file sources")
    args = parser.parse_args()

    engine = (
        None if args.name else v2m.spawn(source=args.source, engine=args.engine, speed=args.speed)
    )
    name = args.name or engine.name  # type: ignore[union-attr]
    try:
        with v2m.Reader(name, start="oldest", wait=5) as reader:
            for u in reader.utterances():
                rms = float(np.sqrt(np.mean(np.square(u.audio)))) if len(u.audio) else 0.0
                note = "" if u.complete else "  (cut)"
                # start_s: the position in the stream (in a file: whatever the --speed).
                print(f"{u.start_s:8.2f} s  {u.duration:5.2f} s  rms {rms:.3f}{note}")
    except KeyboardInterrupt:
        pass
    finally:
        if engine is not None:
            engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
