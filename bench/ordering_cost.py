"""The price of portability: what the ARM64 reader's fences cost per frame, on this CPU.

    .venv/bin/python bench/ordering_cost.py [--frames 1024] [--rounds 20]

The engine replays a counter into a ring and closes it; one reader then reads every
frame back (``Reader.peek``: the stamp check, the copy, the second check; and
``Frame.valid()``), as views and as copies, without fences (the x86-64 reader) and with
the membarrier(2) fences every ARM64 reader uses (``V2M_READER_FENCES=always``). The
writer pays nothing for them: no byte of the layout or the engine changed. Medians of
``--rounds`` passes over all frames; ratios against the unfenced reader of the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "pyclient"))

import v2m  # noqa: E402
from v2m.ordering import FENCES_ENV  # noqa: E402

ENGINE = os.environ.get("V2M_ENGINE", str(ROOT / "target" / "release" / "v2m-engine"))
FRAME_S = 512 / 16000


def _closed_ring(name: str, frames: int) -> "subprocess.Popen[bytes]":
    engine = subprocess.Popen(
        [ENGINE, "run", "--name", name, "--source", "counter", "--vad", "off", "--speed", "max"]
        + ["--duration", f"{frames * FRAME_S:.3f}", "--slots", "2048", "--linger", "60"],
        stderr=subprocess.DEVNULL,
    )
    with v2m.Reader(name, wait=30) as reader:
        while not reader.closed:
            time.sleep(0.01)
    return engine


def _pass_ns(reader: v2m.Reader, first: int, last: int, valid: bool) -> float:
    """ns per frame for one pass of ``peek`` (and ``valid()``) over the frames."""
    started = time.perf_counter_ns()
    for index in range(first, last):
        frame = reader.peek(index)
        assert frame is not None, f"frame {index} is in the closed ring"
        if valid:
            assert frame.valid()
    return (time.perf_counter_ns() - started) / (last - first)


def measure(frames: int = 1024, rounds: int = 20) -> List[Dict[str, object]]:
    """Rows of {reader, copy, valid, ns_per_frame, ratio} for this CPU."""
    name = f"ordering-cost-{os.getpid()}"
    engine = _closed_ring(name, frames)
    rows: List[Dict[str, object]] = []
    saved = os.environ.get(FENCES_ENV)
    try:
        for copy in (False, True):
            for valid in (False, True):
                base = 0.0
                for fenced in (False, True):
                    os.environ[FENCES_ENV] = "always" if fenced else "auto"
                    with v2m.Reader(name, start="oldest", copy=copy) as reader:
                        first, last = reader.start_index, reader.write_seq
                        _pass_ns(reader, first, last, valid)  # warm up
                        ns = statistics.median(
                            _pass_ns(reader, first, last, valid) for _ in range(rounds)
                        )
                    base = base or ns
                    rows.append(
                        {
                            "reader": "fenced (ARM64 path)" if fenced else "unfenced (x86-64)",
                            "copy": copy,
                            "valid": valid,
                            "ns_per_frame": ns,
                            "ratio": ns / base,
                        }
                    )
    finally:
        if saved is None:
            os.environ.pop(FENCES_ENV, None)
        else:
            os.environ[FENCES_ENV] = saved
        engine.terminate()
        engine.wait(10)
    return rows


def crc_ns(rounds: int = 20, frames: int = 1024) -> float:
    """ns per frame for the alternative the fences replaced: CRC-32 (zlib) of one frame's
    samples and metadata (2048 + 64 bytes), which a checksumming reader would compute
    per copy and per ``valid()`` (and the writer once per frame)."""
    frame = os.urandom(2048 + 64)
    passes = []
    for _ in range(rounds):
        started = time.perf_counter_ns()
        for _ in range(frames):
            zlib.crc32(frame)
        passes.append((time.perf_counter_ns() - started) / frames)
    return statistics.median(passes)


def markdown(rows: List[Dict[str, object]]) -> List[str]:
    lines = [
        "| reader | samples | + valid() | µs per frame | × unfenced |",
        "|---|---|---|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['reader']} | {'copy' if r['copy'] else 'view'} | "
            f"{'yes' if r['valid'] else 'no'} | {float(r['ns_per_frame']) / 1000:.2f} | "  # type: ignore[arg-type]
            f"{float(r['ratio']):.2f} |"  # type: ignore[arg-type]
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    print("\n".join(markdown(measure(args.frames, args.rounds))))
    print(f"\nCRC-32 of one frame (zlib, the checksum alternative): {crc_ns() / 1000:.2f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
