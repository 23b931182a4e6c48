"""The v2m command-line tools, each a ring reader like any other: ``v2m-monitor`` (a
live terminal view), ``v2m-exporter`` (Prometheus metrics), ``v2m-record`` (WAV with
VAD labels). Their extra dependencies come with ``pip install "v2m[tools]"``."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(SystemExit):
    """A tool's optional dependency is not installed (exit code 2, with what to run)."""


def need(module: str, tool: str) -> ModuleType:
    """Imports ``module`` for ``tool``, or exits saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        message = (
            f"{tool} needs the Python package {module!r}, which is not installed; "
            'install the tools extra: pip install "v2m[tools]"'
        )
        raise MissingExtra(message) from None


PRIORITIES = ("idle", "low", "normal")
"""``idle``: SCHED_IDLE, the tool runs only when no other task wants the CPU, so when a
frame wakes every reader at once the application's readers go first (the default);
``low``: nice 10; ``normal``: compete equally."""


def lower_priority(priority: str) -> None:
    """Lowers this process's scheduling priority as ``priority`` says (best effort:
    lowering one's own priority is always allowed on Linux)."""
    import os

    try:
        if priority == "idle":
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        elif priority == "low":
            os.nice(10)
    except (OSError, AttributeError):
        pass
