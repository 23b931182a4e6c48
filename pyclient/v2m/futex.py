"""``FUTEX_WAIT`` from Python through ctypes, which releases the GIL for the call.

Only what a reader needs: wait while a 32-bit word in shared memory still holds
an expected value, with a timeout. Readers never write the word, so the wait
works on a read-only mapping.
"""

from __future__ import annotations

import ctypes

from . import syscalls

_FUTEX_WAIT = 0  # shared (no FUTEX_PRIVATE_FLAG): the waker is another process


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def futex_wait(address: int, expected: int, timeout_s: float) -> None:
    """Sleeps while the u32 at ``address`` equals ``expected``, at most ``timeout_s``.

    Returns on a wake-up, a timeout, a signal, or at once if the word already
    differs; the caller re-checks the ring either way.
    """
    timeout_s = max(0.0, timeout_s)
    seconds = int(timeout_s)
    timeout = _Timespec(seconds, int((timeout_s - seconds) * 1e9))
    syscalls.libc_syscall()(
        ctypes.c_long(syscalls.number("futex")),
        ctypes.c_void_p(address),
        ctypes.c_int(_FUTEX_WAIT),
        ctypes.c_uint32(expected & 0xFFFFFFFF),
        ctypes.byref(timeout),
        ctypes.c_void_p(None),
        ctypes.c_uint32(0),
    )
