"""Attaching to a ring: wait (up to a deadline) for it to exist, to run, and to have a
live engine; map it; follow whole frames or samples first."""

from __future__ import annotations

import time

from . import layout
from .errors import NotFound, WriterGone
from .liveness import engine_alive
from .mapping import RingMapping

REMOVER_GRACE_S = 0.25
"""How long a reader waits out a layout-1.2 ring's lock held while its engine is gone (a
new engine of that layout removing it) before it believes the lock is a live engine's
it cannot see."""
_POLL_S = 0.005
RETRY_S = 0.25
"""How long each look for a new engine's ring lasts before the deadline is checked."""


def attach(
    path: str, name: str, owner: int | None, deadline: float, samples_first: bool
) -> RingMapping:
    """The mapped ring at ``path`` once it exists, runs, and its engine lives (or it is
    closed: a finished ring is still readable). A ring left by a dead engine is waited
    out until ``deadline``: the next engine under the same name replaces it.

    Raises ``NotFound`` (nothing there by the deadline), ``WriterGone`` (only a dead
    engine's ring by then), and what :class:`v2m.mapping.RingMapping` raises for what is
    not a ring of ``owner``."""
    while True:
        try:
            ring = RingMapping(path, name, owner)
        except NotFound:
            if time.monotonic() >= deadline:
                raise
            time.sleep(_POLL_S)
            continue
        try:
            while int(ring.state[0]) == layout.STATE_STARTING and time.monotonic() < deadline:
                time.sleep(0.001)
            if _ready(ring) or time.monotonic() >= deadline:
                _check_ready(ring, name)
                ring.follow(samples_first=samples_first)
                return ring
        except BaseException:
            ring.close()
            raise
        ring.close()
        time.sleep(_POLL_S)


def next_engine(
    path: str,
    name: str,
    owner: int | None,
    old_generation: int,
    samples_first: bool,
    deadline: float | None,
) -> RingMapping | None:
    """After an engine died: the ring of the next engine under ``name`` (another
    generation), once it runs; None if ``deadline`` passed first (None: no deadline)."""
    while True:
        try:
            ring = attach(path, name, owner, time.monotonic() + RETRY_S, samples_first)
            if ring.info.generation != old_generation:
                return ring
            ring.close()
        except (NotFound, WriterGone):
            pass
        if deadline is not None and time.monotonic() >= deadline:
            return None


def writer_gone(name: str, pid: int) -> WriterGone:
    """The error of a ring whose engine died without closing it."""
    return WriterGone(
        f"the engine (pid {pid}) of ring {name!r} died without closing it; restart the "
        "engine (it removes the stale ring)"
    )


def _ready(ring: RingMapping) -> bool:
    state = int(ring.state[0])
    if state == layout.STATE_STARTING:
        return False
    # engine_alive, not writer_alive: a 1.2 ring's lock may be a new engine's, held while
    # it removes that ring.
    info = ring.info
    return state == layout.STATE_CLOSED or engine_alive(
        ring.fd, info.version, info.writer_pid, REMOVER_GRACE_S
    )


def _check_ready(ring: RingMapping, name: str) -> None:
    state = int(ring.state[0])
    if state == layout.STATE_STARTING:
        raise NotFound(f"ring {name!r} exists but its engine has not started running")
    if state != layout.STATE_CLOSED and not ring.writer_alive():
        raise writer_gone(name, ring.info.writer_pid)
