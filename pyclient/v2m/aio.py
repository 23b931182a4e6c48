"""asyncio iteration: the blocking waits run on a worker thread, so the event loop
is never blocked and nothing polls."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, AsyncIterator

from .frame import Frame
from .reader import LIVENESS_INTERVAL_S, _CLOSED

if TYPE_CHECKING:
    from .reader import Reader
    from .utterances import Utterance


async def frames(reader: "Reader") -> AsyncIterator[Frame]:
    """The frames of ``for frame in reader``, awaited."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1, thread_name_prefix="v2m-aiter") as pool:
        while True:
            # A bounded wait, so a cancelled iteration frees its thread promptly.
            frame = await loop.run_in_executor(pool, reader._read, LIVENESS_INTERVAL_S)
            if isinstance(frame, Frame):
                yield frame
            elif frame is _CLOSED:
                return


async def utterances(reader: "Reader", **options: float) -> AsyncIterator["Utterance"]:
    """The utterances of ``reader.utterances(**options)``, awaited."""
    loop = asyncio.get_running_loop()
    segments = reader.utterances(**options)
    done = object()
    with ThreadPoolExecutor(1, thread_name_prefix="v2m-autterances") as pool:
        while True:
            utterance = await loop.run_in_executor(pool, next, segments, done)
            if utterance is done:
                return
            yield utterance  # type: ignore[misc]
