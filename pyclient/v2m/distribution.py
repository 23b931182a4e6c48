"""The name the package is published under, and the install hints built from it.

It differs from the import name (``v2m``), as ``eclipse-zenoh`` installs ``zenoh``: the
distribution carries the engine, so it is named for it."""

from __future__ import annotations

from typing import Optional

NAME = "v2m-engine"


def install_hint(extra: Optional[str] = None) -> str:
    """The pip command that installs the package, with ``extra`` when given."""
    return f'pip install "{NAME}[{extra}]"' if extra else f"pip install {NAME}"
