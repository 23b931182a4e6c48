"""Rings on this machine, waiting for things to happen, processes and users that are
not ours."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Callable


def ring_file(name: str) -> Path:
    return Path(f"/dev/shm/v2m-{name}")


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


OTHER_UID = 65534
"""A uid that is not ours (nobody), for files planted as another user's."""


def can_chown() -> bool:
    return os.geteuid() == 0
