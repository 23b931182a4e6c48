#!/usr/bin/env python3
"""Puts the measured tables into the docs: every block

    <!-- results: bench/results/NAME.md -->
    ...
    <!-- end results -->

in README.md and docs/*.md is replaced by that results file, so a figure in the docs is
the one the bench wrote, with the command that wrote it. ``--check`` changes nothing and
exits 1 naming each stale block (tests/test_docs.py runs it).

    python3 scripts/render-docs.py [--check]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(<!-- results: (\S+) -->\n)(.*?)(<!-- end results -->)", re.S)


def rendered(text: str) -> str:
    def fill(block: "re.Match[str]") -> str:
        source = ROOT / block.group(2)
        if not source.is_file():
            raise SystemExit(f"a docs block names {block.group(2)}, which does not exist")
        return block.group(1) + source.read_text() + block.group(4)

    return BLOCK.sub(fill, text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say what is stale")
    args = parser.parse_args()
    stale: List[str] = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        new = rendered(text)
        if new != text:
            stale.append(str(page.relative_to(ROOT)))
            if not args.check:
                page.write_text(new)
    if args.check and stale:
        print(f"stale results in {', '.join(stale)}: run scripts/render-docs.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
