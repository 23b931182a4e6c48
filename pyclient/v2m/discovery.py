"""Which rings exist on this machine, and in what state: ``v2m.rings()``.

Every ``/dev/shm/v2m-*`` entry is inspected the way a reader opens a ring (no link
followed, nothing blocks, the header validated from a small read), so listing is
safe whatever sits there; entries that are not rings are listed with the reason.
"""

from __future__ import annotations

import os as _os
import time as _time
from dataclasses import dataclass
from typing import List, Optional

from . import layout
from .errors import V2MError
from .liveness import writer_alive
from .mapping import open_segment, read_header

SHM_DIR = "/dev/shm"
PREFIX = "v2m-"


@dataclass(frozen=True)
class RingStatus:
    """What a ring's header and lock say, read once.

    ``state`` is ``"running"``, ``"closed"``, ``"starting"``, ``"stale"`` (its engine
    died without closing it) or ``"unreadable"`` (``error`` says why).
    """

    name: str
    path: str
    state: str
    error: Optional[str] = None
    uid: Optional[int] = None
    pid: Optional[int] = None
    generation: Optional[int] = None
    source: Optional[str] = None
    sample_rate: Optional[int] = None
    frame_samples: Optional[int] = None
    slots: Optional[int] = None
    vad: Optional[str] = None
    frames_written: Optional[int] = None
    uptime_s: Optional[float] = None
    origin: Optional[str] = None
    """``"engine"``, or for a ``v2m-bridge mirror`` ring ``"mirror of HOST/RING (KEY)"``."""


def ring_status(name: str) -> RingStatus:
    """The status of ring ``name`` (any owner; nothing is mapped)."""
    path = f"{SHM_DIR}/{PREFIX}{name}"
    try:
        fd = open_segment(path, name, owner=_os.stat(path, follow_symlinks=False).st_uid)
    except (V2MError, OSError) as e:
        return RingStatus(name, path, "unreadable", error=str(e))
    try:
        info, _ = read_header(fd, path)
        head = _os.pread(fd, layout.HEADER_DEFINED, 0)
        state_code = int(layout.read_field(head, "state"))
        write_seq = int(layout.read_field(head, "write_seq"))
        created = int(layout.read_field(head, "created_mono_ns"))
        alive = writer_alive(fd, info.version)
        uid = _os.fstat(fd).st_uid
    except (V2MError, OSError) as e:
        return RingStatus(name, path, "unreadable", error=str(e))
    finally:
        _os.close(fd)
    state = {
        layout.STATE_STARTING: "starting",
        layout.STATE_RUNNING: "running",
        layout.STATE_CLOSED: "closed",
    }[state_code]
    if state != "closed" and not alive:
        state = "stale"
    return RingStatus(
        name,
        path,
        state,
        uid=uid,
        pid=info.writer_pid,
        generation=info.generation,
        source=info.source,
        sample_rate=info.sample_rate,
        frame_samples=info.frame_samples,
        slots=info.slot_count,
        vad=layout.VAD_NAMES.get(info.vad_kind, f"kind {info.vad_kind}"),
        frames_written=write_seq,
        uptime_s=(_time.monotonic_ns() - created) / 1e9,
        origin=info.origin,
    )


def ring_names() -> List[str]:
    """Names of every ``/dev/shm/v2m-*`` entry, sorted (whatever they are)."""
    try:
        entries = _os.listdir(SHM_DIR)
    except OSError:
        return []
    return sorted(e[len(PREFIX) :] for e in entries if e.startswith(PREFIX))


def rings() -> List[RingStatus]:
    """Every ring on this machine with its state, like ``v2m-engine list``.

    Example
    -------
    >>> for ring in v2m.rings():  # doctest: +SKIP
    ...     print(ring.name, ring.state, ring.source)
    """
    return [ring_status(name) for name in ring_names()]
