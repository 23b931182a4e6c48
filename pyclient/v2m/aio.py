"""asyncio iteration: the blocking waits run on a worker thread, so the event loop
is never blocked and nothing polls."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import AsyncIterator, Iterator, Optional, Protocol, TypeVar

from . import utterances as _utterances
from .frame import Frame

T = TypeVar("T")
WAIT_S = 0.25
"""Longest single wait on the worker thread, so a cancelled iteration frees it promptly."""


class Readable(_utterances.FrameSource, Protocol):
    """What asyncio iteration needs of a reader."""

    def read(self, timeout: Optional[float] = None) -> Optional[Frame]: ...

    @property
    def ended(self) -> bool: ...


async def frames(reader: Readable) -> AsyncIterator[Frame]:
    """The frames of ``for frame in reader``, awaited."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1, thread_name_prefix="v2m-aiter") as pool:
        while True:
            frame = await loop.run_in_executor(pool, reader.read, WAIT_S)
            if frame is not None:
                yield frame
            elif reader.ended:
                return


async def iterate(items: Iterator[T]) -> AsyncIterator[T]:
    """Any blocking iterator of a reader's (utterances, events), awaited: each ``next``
    runs on a worker thread."""
    loop = asyncio.get_running_loop()
    done = object()
    with ThreadPoolExecutor(1, thread_name_prefix="v2m-aio") as pool:
        while True:
            item = await loop.run_in_executor(pool, next, items, done)
            if item is done:
                return
            yield item  # type: ignore[misc]
