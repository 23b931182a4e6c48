"""Seats: names in the abstract Unix socket namespace that readers take in turn.

A name is bound by one socket at a time and released by the kernel when the socket
closes or its process dies: nothing to clean up, nothing left behind. Readers use
them to share out what is scarce (a CPU to watch on, a CPU to sleep on) and to count
each other. A name squatted by someone else costs a reader at most the seat.
"""

from __future__ import annotations

import socket
from typing import List, Optional, Tuple


def take_first(names: List[str]) -> Optional[Tuple[int, socket.socket]]:
    """The first free seat of ``names``: its position and the socket that holds it."""
    for position, name in enumerate(names):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(name)
        except OSError:
            sock.close()
            continue
        return position, sock
    return None


def taken(names: List[str]) -> int:
    """How many of ``names`` someone holds."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        count = 0
        for name in names:
            try:
                probe.connect(name)
                count += 1
            except OSError:
                pass
        return count
    finally:
        probe.close()
