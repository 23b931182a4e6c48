"""v2m: zero-copy NumPy readers for the v2m engine's shared-memory audio ring.

The engine (``v2m-engine run``) publishes frames of float32 audio with their
VAD probability, speech flag and timestamps into ``/dev/shm/v2m-NAME``; a
:class:`Reader` maps that ring read-only and yields :class:`Frame` objects whose
``samples`` are views of the ring itself. Waiting for the next frame blocks in
``FUTEX_WAIT`` with the GIL released.

>>> import v2m
>>> with v2m.Reader("default") as reader:  # doctest: +SKIP
...     for frame in reader:
...         print(frame.index, frame.speech)
"""

import importlib.metadata

from . import distribution
from .devices import devices
from .discovery import RingStatus, rings
from .errors import (
    EngineFailed,
    EngineRefused,
    LayoutError,
    NotARing,
    NotFound,
    PermissionDenied,
    UnsupportedPlatform,
    V2MError,
    WriterGone,
)
from .events import VadEvent, VadEventOptions
from .frame import Frame
from .layout import FLAG_DEVICE_OVERRUN, FLAG_DISCONTINUITY, FLAG_PADDED, FLAG_SOURCE_RESTART
from .priority import Priority, raise_priority, shorten_gil_switch_interval
from .reader import Reader, ring_path
from .spawn import Engine, find_engine, spawn
from .utterances import Utterance, UtteranceOptions

__all__ = [
    "Reader",
    "Frame",
    "Utterance",
    "UtteranceOptions",
    "VadEvent",
    "VadEventOptions",
    "spawn",
    "Engine",
    "EngineFailed",
    "EngineRefused",
    "find_engine",
    "devices",
    "rings",
    "RingStatus",
    "ring_path",
    "raise_priority",
    "shorten_gil_switch_interval",
    "Priority",
    "V2MError",
    "NotFound",
    "LayoutError",
    "NotARing",
    "PermissionDenied",
    "WriterGone",
    "UnsupportedPlatform",
    "FLAG_DISCONTINUITY",
    "FLAG_PADDED",
    "FLAG_DEVICE_OVERRUN",
    "FLAG_SOURCE_RESTART",
]


def _installed_version() -> str:
    """The version pip installed, which is the project's one version (the workspace's
    Cargo.toml, read by setup.py), as ``v2m-engine --version`` reports it."""
    try:
        return importlib.metadata.version(distribution.NAME)
    except importlib.metadata.PackageNotFoundError:  # imported from a checkout, not installed
        return "0+unknown"


__version__ = _installed_version()
