"""``python -m v2m``: the package's commands in one place (see :data:`USAGE`)."""

from __future__ import annotations

import sys
from typing import List, Optional

from .discovery import rings

USAGE = """\
usage: python -m v2m COMMAND [ARGS...]

commands:
  rings              every ring on this machine and its state
  devices            capture devices (asks v2m-engine)
  monitor  [...]     a live view of rings (v2m-monitor; --help for its options)
  exporter [...]     Prometheus metrics of every ring (v2m-exporter)
  record   [...]     a ring to a WAV file (v2m-record)
"""


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
    command, rest = (args[0], args[1:]) if args else ("", [])
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
    elif command in ("-h", "--help"):
        print(USAGE, end="")
        return 0
    else:
        said = f"python -m v2m: unknown command '{command}'\n" if command else ""
        print(f"{USAGE}\n{said}".rstrip(), file=sys.stderr)
        return 2
    return run(rest)


if __name__ == "__main__":
    sys.exit(main())
