"""One version, from one place (the workspace's Cargo.toml): the installed package's
metadata, ``v2m.__version__``, ``v2m-engine --version`` and ``v2m-bridge --version``
agree."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess

import v2m
from support.bridge import BRIDGE
from support.engine import ENGINE, ROOT


def reported(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[-1]


def test_every_part_reports_the_workspace_version() -> None:
    workspace = (ROOT / "Cargo.toml").read_text().split("[workspace.package]", 1)[1]
    found = re.search(r'^version\s*=\s*"([^"]+)"', workspace, re.MULTILINE)
    assert found is not None
    version = found.group(1)
    assert importlib.metadata.version("v2m-engine") == version
    assert v2m.__version__ == version
    assert reported(str(ENGINE)) == version
    assert reported(str(BRIDGE)) == version
