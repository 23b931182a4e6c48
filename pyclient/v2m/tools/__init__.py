"""The v2m command-line tools, each a ring reader like any other: ``v2m-monitor`` (a
live terminal view), ``v2m-exporter`` (Prometheus metrics), ``v2m-record`` (WAV with
VAD labels). Their extra dependencies come with ``pip install "v2m-engine[tools]"``."""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType
from typing import Callable, Optional

from .. import checks, distribution


class MissingExtra(SystemExit):
    """A tool's optional dependency is not installed (exit code 2, with what to run)."""


def need(module: str, tool: str) -> ModuleType:
    """Imports ``module`` for ``tool``, or exits saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        message = (
            f"{tool} needs the Python package {module!r}, which is not installed; "
            f"install the tools extra: {distribution.install_hint('tools')}"
        )
        raise MissingExtra(message) from None


PRIORITIES = ("idle", "low", "normal")
"""``idle``: SCHED_IDLE, the tool runs only when no other task wants the CPU, so when a
frame wakes every reader at once the application's readers go first (the default);
``low``: nice 10; ``normal``: compete equally."""


def add_priority_argument(parser: argparse.ArgumentParser) -> None:
    """The tools' ``--priority`` (see :data:`PRIORITIES`)."""
    parser.add_argument(
        "--priority",
        choices=PRIORITIES,
        default="idle",
        help="scheduling priority: idle (default: runs only when no one else needs the CPU), "
        "low (nice 10) or normal",
    )


def number(
    unit: str,
    low: Optional[float] = None,
    high: Optional[float] = None,
    above: Optional[float] = None,
    whole: bool = False,
) -> Callable[[str], float]:
    """An argparse ``type`` for a number in a range; a bad value exits 2 saying the range."""

    def parse(text: str) -> float:
        try:
            value: object = int(text) if whole else float(text)
        except ValueError:
            kind = "a whole number" if whole else "a number"
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {kind}{' of ' + unit if unit else ''}"
            ) from None
        try:
            checked = checks.number("the value", value, unit=unit, low=low, high=high, above=above)
        except ValueError as e:
            raise argparse.ArgumentTypeError(
                str(e).replace("the value must be", "must be")
            ) from None
        return int(checked) if whole else checked

    return parse


def ring_name(text: str) -> str:
    """An argparse ``type`` for a ring name."""
    from ..reader import ring_path

    try:
        ring_path(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


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
