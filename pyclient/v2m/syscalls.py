"""Raw Linux system calls through ctypes, by number for each supported CPU.

ctypes releases the GIL around every call (``CDLL``, not ``PyDLL``), so a
reader blocked in one does not hold up the program's other threads.
"""

from __future__ import annotations

import ctypes
import platform
import sys
from typing import Optional

from .errors import UnsupportedPlatform

_NUMBERS = {
    "x86_64": {"futex": 202, "membarrier": 324},
    "aarch64": {"futex": 98, "membarrier": 283},
}
_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}

MACHINE = _ALIASES.get(platform.machine().lower(), platform.machine().lower())
"""This CPU's architecture, as Linux names it (``x86_64``, ``aarch64``, …)."""

_syscall: Optional[ctypes._CFuncPtr] = None  # type: ignore[name-defined]


def check_platform() -> None:
    """Raises ``UnsupportedPlatform`` unless this is Linux on x86-64 or ARM64."""
    if not sys.platform.startswith("linux"):
        raise UnsupportedPlatform(f"v2m readers need Linux (futex, /dev/shm), not {sys.platform}")
    if MACHINE not in _NUMBERS:
        raise UnsupportedPlatform(
            f"v2m readers run on x86_64 and aarch64 Linux, not {MACHINE!r} "
            "(their system call numbers and memory ordering are checked only there)"
        )


def number(name: str) -> int:
    """The system call number of ``name`` on this CPU (after :func:`check_platform`)."""
    return _NUMBERS[MACHINE][name]


def libc_syscall() -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    """libc's ``syscall(2)``, returning ``long``, with ``errno`` kept for ctypes."""
    global _syscall
    if _syscall is None:
        libc = ctypes.CDLL(None, use_errno=True)
        _syscall = libc.syscall
        _syscall.restype = ctypes.c_long
    return _syscall
