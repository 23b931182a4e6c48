"""The docs show what the benches measured: every results block in README.md and
docs/*.md holds the results file it names, as scripts/render-docs.py puts it there."""

from __future__ import annotations

import subprocess
import sys

from support.engine import ROOT


def test_every_results_block_in_the_docs_is_the_file_it_names() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render-docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
