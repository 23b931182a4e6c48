"""asyncio iteration: the blocking waits run on a worker thread, so the event loop
is never blocked and nothing polls."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, AsyncIterator, Optional, Protocol

from . import utterances as _utterances
from .frame import Frame

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .utterances import Utterance, UtteranceOptions

WAIT_S = 0.25
"""Longest single wait on the worker thread, so a cancelled iteration frees it promptly."""


class _Readable(_utterances.FrameSource, Protocol):
    def read(self, timeout: Optional[float] = None) -> Optional[Frame]: ...

    @property
    def ended(self) -> bool: ...


async def frames(reader: _Readable) -> AsyncIterator[Frame]:
    """The frames of ``for frame in reader``, awaited."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1, thread_name_prefix="v2m-aiter") as pool:
        while True:
            frame = await loop.run_in_executor(pool, reader.read, WAIT_S)
            if frame is not None:
                yield frame
            elif reader.ended:
                return


async def utterances(
    reader: _Readable, **options: Unpack[UtteranceOptions]
) -> AsyncIterator[Utterance]:
    """The utterances of ``reader.utterances(**options)``, awaited."""
    loop = asyncio.get_running_loop()
    segments = _utterances.utterances(reader, **options)
    done = object()
    with ThreadPoolExecutor(1, thread_name_prefix="v2m-autterances") as pool:
        while True:
            utterance = await loop.run_in_executor(pool, next, segments, done)
            if utterance is done:
                return
            yield utterance  # type: ignore[misc]
