"""``FUTEX_WAIT`` from Python through ctypes, which releases the GIL for the call.

Only what a reader needs: wait while a 32-bit word in shared memory still holds
an expected value, with a timeout. Readers never write the word, so the wait
works on a read-only mapping.
"""

from __future__ import annotations

import ctypes
import platform
import sys

from .errors import UnsupportedPlatform

_SYS_FUTEX_X86_64 = 202
_FUTEX_WAIT = 0  # shared (no FUTEX_PRIVATE_FLAG): the waker is another process


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def check_platform() -> None:
    """Raises ``UnsupportedPlatform`` unless this is Linux on x86-64.

    The reader's seqlock relies on x86-64 never reordering loads with other
    loads; on weaker architectures (ARM, POWER) a pure-Python reader cannot
    issue the fences it would need, so it refuses rather than risk torn reads.
    """
    machine = platform.machine().lower()
    if not sys.platform.startswith("linux"):
        raise UnsupportedPlatform(f"v2m readers need Linux (futex, /dev/shm), not {sys.platform}")
    if machine not in ("x86_64", "amd64"):
        raise UnsupportedPlatform(
            f"v2m readers rely on x86-64 load ordering and do not support {machine!r}"
        )


_syscall = None


def _libc_syscall() -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    global _syscall
    if _syscall is None:
        # CDLL (not PyDLL): ctypes drops the GIL around every call.
        libc = ctypes.CDLL(None, use_errno=True)
        _syscall = libc.syscall
        _syscall.restype = ctypes.c_long
    return _syscall


def futex_wait(address: int, expected: int, timeout_s: float) -> None:
    """Sleeps while the u32 at ``address`` equals ``expected``, at most ``timeout_s``.

    Returns on a wake-up, a timeout, a signal, or at once if the word already
    differs; the caller re-checks the ring either way.
    """
    timeout_s = max(0.0, timeout_s)
    seconds = int(timeout_s)
    timeout = _Timespec(seconds, int((timeout_s - seconds) * 1e9))
    _libc_syscall()(
        ctypes.c_long(_SYS_FUTEX_X86_64),
        ctypes.c_void_p(address),
        ctypes.c_int(_FUTEX_WAIT),
        ctypes.c_uint32(expected & 0xFFFFFFFF),
        ctypes.byref(timeout),
        ctypes.c_void_p(None),
        ctypes.c_uint32(0),
    )
