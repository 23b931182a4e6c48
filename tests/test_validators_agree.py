"""The Rust and Python header validators accept exactly the same headers."""

from __future__ import annotations

import collections
import subprocess

from support.engine import ENGINE
from support.header_corpus import corpus, encode, python_verdict

CASES = 12_000


def test_rust_and_python_give_the_same_verdict_on_every_header() -> None:
    cases = list(corpus(CASES))
    rust = (
        subprocess.run(
            [str(ENGINE), "check-headers"],
            input=encode(cases),
            capture_output=True,
            check=True,
            timeout=60,
        )
        .stdout.decode()
        .split()
    )
    python = [python_verdict(header, size) for header, size in cases]
    assert len(rust) == len(python) == CASES
    differ = [(i, r, p) for i, (r, p) in enumerate(zip(rust, python)) if r != p]
    assert not differ, f"{len(differ)} of {CASES} differ, first: {differ[:5]}"
    counts = collections.Counter(python)
    # The corpus exercises every outcome, accepted headers included.
    assert counts["ok"] > 1000 and counts["invalid"] > 1000, counts
    assert counts["truncated"] > 100 and counts["bad_magic"] > 10 and counts["version"] > 10
