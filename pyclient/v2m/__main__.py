"""``python -m v2m``: the package's commands in one place.

python -m v2m rings               # every ring on this machine and its state
python -m v2m devices             # capture devices (asks v2m-engine)
python -m v2m monitor  [...]      # v2m-monitor
python -m v2m exporter [...]      # v2m-exporter
python -m v2m record   [...]      # v2m-record
"""

from __future__ import annotations

import sys
from typing import List, Optional

from .discovery import rings


def _rings() -> int:
    found = rings()
    if not found:
        print("no rings")
    for r in found:
        if r.error is not None:
            print(f"{r.name:<20} {r.state:<10} {r.error}")
            continue
        print(
            f"{r.name:<20} {r.state:<10} pid {r.pid:<8} {r.sample_rate} Hz, {r.frame_samples}"
            f"-sample frames, {r.slots} slots, vad {r.vad}, {r.frames_written} frames, "
            f"up {r.uptime_s:.0f} s, source {r.source}"
        )
    return 0


def _devices() -> int:
    from .devices import devices

    for d in devices():
        mark = "*" if d.get("default") else " "
        print(f"{mark} {d.get('name')} [{d.get('id')}]")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command, rest = (args[0], args[1:]) if args else ("--help", [])
    if command == "rings":
        return _rings()
    if command == "devices":
        return _devices()
    if command == "monitor":
        from .tools.monitor import main as run
    elif command == "exporter":
        from .tools.exporter import main as run
    elif command == "record":
        from .tools.record import main as run
    else:
        print(__doc__.strip(), file=sys.stderr if command not in ("-h", "--help") else sys.stdout)
        return 0 if command in ("-h", "--help") else 2
    return run(rest)


if __name__ == "__main__":
    sys.exit(main())
