"""The long torture run: a position-encoding source into a 64-slot ring at 1000x real
time, four reader processes (copies and zero-copy views, one slow) lapped constantly;
prints what each reader received, dropped and (for views) found overwritten after use,
and how many wrong frames were accepted (always 0).

    .venv/bin/python bench/torture.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.torture import torture  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    result = torture(f"torture-{os.getpid()}", args.seconds)
    if result["engine_exit"] != 0:
        print(result["engine_stderr"], file=sys.stderr)
        return 1
    readers = result["readers"]
    assert isinstance(readers, list)
    print(
        f"# {args.seconds:g} s at 1000x real time, 64 slots, 512-sample frames: "
        f"{result['frames_written']} frames written"
    )
    print(
        f"{'reader':<10} {'frames':>9} {'received':>9} {'dropped':>9} {'torn after use':>15} "
        f"{'wrong accepted':>15}"
    )
    for r in readers:
        print(
            f"{r['mode']:<10} {r['written'] - r['first']:>9} {r['received']:>9} {r['dropped']:>9} "
            f"{r['torn_after_use']:>15} {r['accepted_wrong']:>15}"
        )
    ok = all(
        r["accepted_wrong"] == 0
        and r["received"] + r["torn_after_use"] + r["dropped"] == r["written"] - r["first"]
        for r in readers
    )
    print("every frame received or counted dropped, no wrong frame accepted:", ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
