#!/usr/bin/env python3
"""Writes docs/cli.md, the command-line reference, from the programs' own ``--help``:
``v2m-engine`` and ``v2m-bridge`` and every subcommand of each (hidden ones are for
the project's own tools and stay hidden). ``--check`` writes nothing and exits 1 when
the checked-in page differs from what the built programs print (tests/test_docs.py
runs it), so the reference cannot drift from the flags.

    python3 scripts/cli-reference.py [--check] [--bin target/release]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "cli.md"
PROGRAMS = ["v2m-engine", "v2m-bridge"]


def help_text(program: Path, *words: str) -> str:
    done = subprocess.run(
        [str(program), *words, "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "100", "NO_COLOR": "1"},
    )
    return done.stdout.rstrip() + "\n"


def subcommands(text: str) -> List[str]:
    """The subcommands a clap ``--help`` lists under "Commands:" (but ``help``)."""
    names: List[str] = []
    listing = text.split("Commands:", 1)[1].split("\n\n", 1)[0] if "Commands:" in text else ""
    for line in listing.splitlines():
        match = re.match(r"\s{2}(\S+)", line)
        if match and match.group(1) != "help":
            names.append(match.group(1))
    return names


def page(bin_dir: Path) -> str:
    out = [
        "# Command line",
        "",
        "Every program and subcommand as its own `--help` prints it. This page is written",
        "by `python3 scripts/cli-reference.py` from the built programs; a test fails when",
        "it is stale. What the flags are for: [The engine](engine.md),",
        "[Voice hardware](voice-hardware.md), [Across machines](across-machines.md).",
        "The Python tools (`v2m-monitor`, `v2m-exporter`, `v2m-record`) are on",
        "[Monitoring](monitoring.md).",
    ]
    for name in PROGRAMS:
        program = bin_dir / name
        top = help_text(program)
        out += ["", f"## {name}", "", "```text", f"$ {name} --help", top.rstrip(), "```"]
        for sub in subcommands(top):
            out += ["", f"### {name} {sub}", "", "```text", f"$ {name} {sub} --help"]
            out += [help_text(program, sub).rstrip(), "```"]
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is stale")
    parser.add_argument("--bin", type=Path, default=ROOT / "target" / "release")
    args = parser.parse_args()
    text = page(args.bin)
    if args.check:
        if not PAGE.is_file() or PAGE.read_text() != text:
            print(
                f"{PAGE.relative_to(ROOT)} is stale: run scripts/cli-reference.py", file=sys.stderr
            )
            return 1
        return 0
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
