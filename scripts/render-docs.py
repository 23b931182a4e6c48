#!/usr/bin/env python3
"""Puts the measured tables into the docs: every block

    <!-- results: bench/results/NAME.md -->
    ...
    <!-- end results -->

in README.md and docs/*.md is replaced by that results file, so a figure in the docs is
the one the bench wrote, with the command that wrote it. ``NAME.md#WORD`` takes only the
file's "## " section whose heading begins with WORD (``#summary``, ``#capture``), with the
file's lines of provenance (its date and command). ``--check`` changes nothing and exits 1 naming each stale block
(tests/test_docs.py runs it).

    python3 scripts/render-docs.py [--check]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(<!-- results: ([^\s#]+)(?:#(\S+))? -->\n)(.*?)(<!-- end results -->)", re.S)


def section_of(text: str, name: str, word: str) -> str:
    """The section of a results file whose heading begins with ``word``, introduced by
    where it came from."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.lower().startswith(f"## {word.lower()}")]
    if not starts:
        raise SystemExit(f"{name} has no '## {word}...' section to take")
    end = next(
        (i for i in range(starts[0] + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
    )
    provenance = [line for line in lines[: starts[0]] if line.startswith(("Command:", "20"))]
    return "\n".join(provenance[:2]) + "\n" + "".join(lines[starts[0] + 1 : end]).strip() + "\n"


def rendered(text: str) -> str:
    def fill(block: "re.Match[str]") -> str:
        source = ROOT / block.group(2)
        if not source.is_file():
            raise SystemExit(f"a docs block names {block.group(2)}, which does not exist")
        content = source.read_text()
        if block.group(3):
            content = section_of(content, block.group(2), block.group(3))
        return block.group(1) + content + block.group(5)

    return BLOCK.sub(fill, text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say what is stale")
    args = parser.parse_args()
    stale: List[str] = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]:
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
