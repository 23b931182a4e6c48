"""A ring's segment, opened without trusting what sits at its name, validated
with a small read, then mapped read-only: the mapping's life cycle.

Whatever another process (or another user) put at ``/dev/shm/v2m-NAME`` can
only end in :class:`~v2m.NotFound`, :class:`~v2m.NotARing`,
:class:`~v2m.PermissionDenied` or :class:`~v2m.LayoutError`: the name is
opened with ``O_NOFOLLOW | O_NONBLOCK`` (a symbolic link or a FIFO cannot
redirect or block the open), the file must be a regular file owned by the
expected user, and the header is read with ``pread`` and validated (sizes
bounded by what an engine can create) before anything is mapped.
"""

from __future__ import annotations

import errno as _errno
import mmap as _mmap
import os as _os
import stat as _stat
from typing import Dict, Optional, Tuple

import numpy as np
import numpy.typing as npt

from . import layout
from .errors import LayoutError, NotARing, NotFound, PermissionDenied
from .liveness import writer_alive

_KINDS = (
    (_stat.S_ISDIR, "a directory"),
    (_stat.S_ISFIFO, "a FIFO"),
    (_stat.S_ISSOCK, "a socket"),
    (_stat.S_ISCHR, "a character device"),
    (_stat.S_ISBLK, "a block device"),
    (_stat.S_ISLNK, "a symbolic link"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_segment(path: str, name: str, owner: Optional[int]) -> int:
    """Opens ``path`` read-only for a ring named ``name``; returns the descriptor.

    Parameters
    ----------
    owner
        The uid the file must belong to (None: this process's effective uid).

    Raises
    ------
    NotFound
        Nothing at ``path``.
    NotARing
        A symbolic link, directory, FIFO, socket or device is there.
    PermissionDenied
        The file belongs to another user, or this user may not read it.
    """
    flags = _os.O_RDONLY | _os.O_NOFOLLOW | _os.O_NONBLOCK | _os.O_CLOEXEC
    try:
        fd = _os.open(path, flags)
    except FileNotFoundError:
        raise NotFound(
            f"no ring named {name!r} ({path}); is the engine running? "
            f"start it with `v2m-engine run --name {name}`"
        ) from None
    except PermissionError:
        raise PermissionDenied(
            f"{path} is not readable by this user (uid {_os.geteuid()}); the ring belongs to "
            "another user: run the reader as that user, or start the engine with --group-readable"
        ) from None
    except OSError as e:
        if e.errno in (_errno.ELOOP, _errno.EMLINK):
            raise NotARing(
                f"{path} is a symbolic link, not a ring; remove it (rm {path}) or pick another name"
            ) from None
        if e.errno == _errno.ENXIO:  # a socket refuses open(2)
            raise NotARing(
                f"{path} is a socket, not a ring; remove it or pick another name"
            ) from None
        raise NotARing(f"{path} cannot be opened as a ring: {e.strerror}") from None
    try:
        check_file(fd, path, owner)
    except BaseException:
        _os.close(fd)
        raise
    return fd


def check_file(fd: int, path: str, owner: Optional[int]) -> None:
    """Raises unless ``fd`` is a regular file owned by ``owner`` (default: us)."""
    st = _os.fstat(fd)
    if not _stat.S_ISREG(st.st_mode):
        raise NotARing(
            f"{path} is {_kind(st.st_mode)}, not a ring; remove it or pick another ring name"
        )
    expected = _os.geteuid() if owner is None else owner
    if st.st_uid != expected:
        raise PermissionDenied(
            f"{path} belongs to uid {st.st_uid}, not uid {expected}; a reader only trusts rings "
            "of its own user: pass owner=UID to read a --group-readable ring of another user"
        )


def read_header(fd: int, path: str) -> Tuple[layout.HeaderInfo, int]:
    """Reads and validates the header with one small ``pread``; returns it and the file size."""
    size = _os.fstat(fd).st_size
    head = _os.pread(fd, layout.HEADER_DEFINED, 0)
    try:
        return layout.parse_header(head, size), size
    except LayoutError as e:
        raise LayoutError(f"{path}: {e}") from None


class RingMapping:
    """One validated, read-only mapping of a ring segment and the NumPy views into it.

    Every view derives from one ``np.frombuffer`` array, which holds a buffer
    export on the mmap: the mapping cannot be unmapped while any frame,
    window or utterance still points into it (``np.ndarray(buffer=mmap)``
    would hold none). :meth:`close` releases this object's references; the
    memory goes when the last view does.
    """

    def __init__(self, path: str, name: str, owner: Optional[int]) -> None:
        self.path = path
        self.fd = open_segment(path, name, owner)
        self._map: Optional[_mmap.mmap] = None
        try:
            self.info, size = read_header(self.fd, path)
            self._map = _mmap.mmap(self.fd, size, flags=_mmap.MAP_SHARED, prot=_mmap.PROT_READ)
            self._make_views()
        except BaseException:
            self.close()
            raise

    def _make_views(self) -> None:
        info = self.info
        assert self._map is not None
        self.bytes: npt.NDArray[np.uint8] = np.frombuffer(self._map, np.uint8)
        self.write_seq = self._word("write_seq", np.uint64)
        self.futex = self._word("futex", np.uint32)
        self.state = self._word("state", np.uint32)
        self.stamps = self._slot_column(layout.SLOT_FIELDS["stamp"][0])
        self.samples_stamps: Optional[npt.NDArray[np.uint64]] = None
        self._samples_ns: Optional[npt.NDArray[np.uint64]] = None
        if info.samples_first:
            self.sample_seq = self._word("sample_seq", np.uint64)
            self.sample_futex = self._word("sample_futex", np.uint32)
            self.samples_stamps = self._slot_column(layout.SLOT_SAMPLES_FIELDS["samples_stamp"][0])
            self._samples_ns = self._slot_column(layout.SLOT_SAMPLES_FIELDS["samples_ns"][0])
        self.follow(samples_first=False)
        shape: Tuple[int, ...] = (info.slot_count, info.frame_samples)
        strides: Tuple[int, ...] = (info.slot_bytes, 4)
        if info.channels > 1:
            shape, strides = shape + (info.channels,), (info.slot_bytes, 4 * info.channels, 4)
        self.samples: npt.NDArray[np.float32] = np.ndarray(
            shape, np.float32, buffer=self.bytes, offset=info.samples_offset, strides=strides
        )

    def follow(self, samples_first: bool) -> None:
        """Chooses what a reader waits on and checks: whole frames (``write_seq``,
        ``futex``, the frame stamps) or, on a 1.2 ring, samples published before
        their VAD result (``sample_seq``, ``sample_futex``, the samples stamps)."""
        if samples_first and self.samples_stamps is not None:
            self.seq, self.word, self.slot_stamps = (
                self.sample_seq,
                self.sample_futex,
                self.samples_stamps,
            )
        else:
            self.seq, self.word, self.slot_stamps = self.write_seq, self.futex, self.stamps
        self.word_address = int(self.word.ctypes.data)

    def samples_ns(self, slot: int) -> int:
        """When slot ``slot``'s samples were published (0 before layout 1.2; racy:
        check the stamp around it)."""
        return 0 if self._samples_ns is None else int(self._samples_ns[slot])

    def _slot_column(self, field_offset: int) -> npt.NDArray[np.uint64]:
        """One u64 field of every slot's record, as a strided view."""
        info = self.info
        return np.ndarray(
            (info.slot_count,),
            np.uint64,
            buffer=self.bytes,
            offset=info.meta_offset + field_offset,
            strides=(info.meta_stride,),
        )

    def _word(self, field: str, dtype: type) -> npt.NDArray[np.generic]:
        offset = layout.HEADER_FIELDS[field][0]
        return np.ndarray((1,), dtype, buffer=self.bytes, offset=offset)

    @property
    def open(self) -> bool:
        """False once :meth:`close` ran."""
        return self._map is not None

    def slot_meta(
        self, slot: int
    ) -> Tuple[int, int, int, int, float, int, float, float, int, int, int]:
        """The metadata record of ``slot``, unpacked (racy: check the stamp around it)."""
        assert self._map is not None
        offset = self.info.meta_offset + slot * self.info.meta_stride
        meta: Tuple[int, int, int, int, float, int, float, float, int, int, int] = (
            layout.SLOT_STRUCT.unpack_from(self._map, offset)
        )
        return meta

    def stats(self) -> Dict[str, int]:
        """The engine's statistics counters."""
        assert self._map is not None
        return {name: int(layout.read_field(self._map, name)) for name in layout.STATS_FIELDS}

    def writer_alive(self) -> bool:
        """True while the engine holds the segment's liveness lock."""
        return writer_alive(self.fd, self.info.version)

    def close(self) -> None:
        """Drops this object's views and unmaps (unless frames still view the memory)."""
        for attr in (
            "write_seq",
            "futex",
            "state",
            "stamps",
            "samples",
            "bytes",
            "sample_seq",
            "sample_futex",
            "samples_stamps",
            "_samples_ns",
            "seq",
            "word",
            "slot_stamps",
        ):
            if hasattr(self, attr):
                delattr(self, attr)
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass  # views are still out there; the mapping goes when they do
            self._map = None
        if self.fd >= 0:
            _os.close(self.fd)
            self.fd = -1
