"""The reader's memory fences: free on x86-64, ``membarrier(2)`` on ARM64.

The seqlock (``LAYOUT.md`` §6) asks two orderings of a reader: the first load
of a slot's stamp before the copy, and the copy before the second load. On
x86-64 (TSO) loads are never reordered with loads, so program order is enough
and :func:`reader_fence` hands out a function that does nothing. A weakly
ordered CPU (ARM64) may satisfy the loads in any order, and CPython cannot
emit a barrier instruction, but the kernel can: ``membarrier(2)`` with
``MEMBARRIER_CMD_PRIVATE_EXPEDITED`` runs a full memory barrier (``smp_mb``)
in the calling thread on entry and before returning, so every load before the
call is ordered before every load after it. A reader calls it twice per frame
(``bench/ordering_cost.py`` measures what that costs). ``LAYOUT.md`` §6 has the argument and
``layout/tests/loom_seqlock.rs`` models exactly these loads and fences.

``V2M_READER_FENCES=always`` in the environment makes readers fence on x86-64
too: the test suite runs the ARM64 reader's path that way, and the latency
suite measures what it costs.
"""

from __future__ import annotations

import ctypes
import os
from typing import Callable

from . import syscalls
from .errors import UnsupportedPlatform

Fence = Callable[[], None]

FENCES_ENV = "V2M_READER_FENCES"
"""``always``: fence on every CPU (for tests and measurement); unset or ``auto``:
only where loads may be reordered."""
_ORDERED_LOADS = {"x86_64"}  # CPUs whose loads are never reordered with loads

_CMD_QUERY = 0
_CMD_PRIVATE_EXPEDITED = 1 << 3
_CMD_REGISTER_PRIVATE_EXPEDITED = 1 << 4
_EPERM = 1


def no_fence() -> None:
    """The fence of a CPU that does not reorder loads: nothing to do."""


def needs_fences() -> bool:
    """Whether readers in this process fence (the CPU, or ``V2M_READER_FENCES``)."""
    choice = os.environ.get(FENCES_ENV, "auto")
    if choice not in ("auto", "always"):
        raise ValueError(f"{FENCES_ENV} must be 'auto' or 'always', not {choice!r}")
    return choice == "always" or syscalls.MACHINE not in _ORDERED_LOADS


def reader_fence() -> Fence:
    """The fence a reader calls between loads that must not be reordered.

    Raises ``UnsupportedPlatform`` where fences are needed and the kernel does not
    offer ``membarrier(2)``'s private expedited command (Linux ≥ 4.14 built with
    ``CONFIG_MEMBARRIER``, and not filtered out by a seccomp policy).
    """
    syscalls.check_platform()
    if not needs_fences():
        return no_fence
    _register()
    return _make_membarrier_fence()


def _membarrier(command: int) -> int:
    """``membarrier(command, 0)``: its result, or ``-errno``."""
    result = int(syscalls.libc_syscall()(ctypes.c_long(syscalls.number("membarrier")), command, 0))
    return result if result >= 0 else -ctypes.get_errno()


def _register() -> None:
    """Registers this process for private expedited barriers (once per process;
    a forked child registers again on its first fence)."""
    supported = _membarrier(_CMD_QUERY)
    if supported < 0 or not supported & _CMD_PRIVATE_EXPEDITED:
        why = os.strerror(-supported) if supported < 0 else "not offered by this kernel"
        raise UnsupportedPlatform(
            f"on {syscalls.MACHINE} v2m readers order their loads with membarrier(2) "
            f"MEMBARRIER_CMD_PRIVATE_EXPEDITED, which is unavailable here ({why}); "
            "it needs Linux 4.14 or later with CONFIG_MEMBARRIER, and a seccomp "
            "policy (container) that allows membarrier"
        )
    result = _membarrier(_CMD_REGISTER_PRIVATE_EXPEDITED)
    if result < 0:
        raise UnsupportedPlatform(f"membarrier(2) registration failed: {os.strerror(-result)}")


def _make_membarrier_fence() -> Fence:
    """A full memory barrier in this thread (``smp_mb`` on entry and exit of the call),
    its arguments built once: the call is on every frame's path."""
    call = syscalls.libc_syscall()
    args = (ctypes.c_long(syscalls.number("membarrier")), ctypes.c_int(_CMD_PRIVATE_EXPEDITED), 0)

    def membarrier_fence() -> None:
        if call(*args) == 0:
            return
        if ctypes.get_errno() == _EPERM:  # a forked child: registration does not survive fork
            _register()
            if call(*args) == 0:
                return
        error = ctypes.get_errno()
        raise OSError(error, f"membarrier(2) failed: {os.strerror(error)}")

    return membarrier_fence
