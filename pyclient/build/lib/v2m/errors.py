"""Exceptions raised by the v2m reader, one class per thing that went wrong."""


class V2MError(Exception):
    """Base class of every v2m error."""


class NotFound(V2MError, FileNotFoundError):
    """No ring exists under the given name (is the engine running?)."""


class LayoutError(V2MError):
    """The segment is not a ring this reader can read: bad magic, unknown
    major version, truncated or inconsistent header."""


class WriterGone(V2MError):
    """The engine died without closing the ring."""


class UnsupportedPlatform(V2MError):
    """The reader's memory-ordering assumptions do not hold on this machine."""
