"""Every exception the v2m package raises, one class per thing that went wrong."""


class V2MError(Exception):
    """Base class of every v2m error."""


class NotFound(V2MError, FileNotFoundError):
    """No ring exists under the given name (is the engine running?)."""


class LayoutError(V2MError):
    """The segment is not a ring this reader can read: bad magic, unknown
    major version, truncated or inconsistent header."""


class NotARing(LayoutError):
    """Something that is not a v2m ring sits at the ring's name: a directory,
    a FIFO, a socket, a symbolic link or a device. The message names it."""


class PermissionDenied(V2MError, PermissionError):
    """The ring belongs to another user (or cannot be opened by this one).
    Readers only trust rings owned by their own user unless told otherwise
    (``Reader(..., owner=...)``)."""


class WriterGone(V2MError):
    """The engine died without closing the ring."""


class UnsupportedPlatform(V2MError):
    """Not Linux on x86-64 or ARM64, or (on ARM64) a kernel without the ``membarrier(2)``
    command the reader orders its loads with."""


class EngineFailed(V2MError):
    """The engine could not be started, or exited before its ring was running."""


class EngineRefused(EngineFailed, ValueError):
    """The engine refused an option value (the message names the option and what it
    takes); a ``ValueError`` too."""
