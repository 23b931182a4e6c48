"""The capture devices the engine can open: ``v2m.devices()`` (as
``sounddevice.query_devices()`` lists PortAudio's), asked of ``v2m-engine``."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Dict, List, Union

from .errors import EngineFailed
from .spawn import find_engine

Device = Dict[str, object]
"""``name``, ``id`` (for ``source="device:ID"``), ``default``, ``channels`` and ``rates``
as ``[lowest, highest]``, ``formats``."""


def devices(engine: Union[str, "os.PathLike[str]", None] = None) -> List[Device]:
    """Every capture device that opens, the default marked.

    Example
    -------
    >>> [d["id"] for d in v2m.devices() if d["default"]]  # doctest: +SKIP
    ['default']
    """
    binary = find_engine(engine)
    result = subprocess.run(
        [binary, "devices", "--json"], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise EngineFailed(f"v2m-engine devices failed: {result.stderr.strip()}")
    listed: List[Device] = json.loads(result.stdout)
    return listed
