"""One consumer of the latency suite: receives frames over one transport, stamps each
when it holds the frame as a NumPy array, and prints what it measured as JSON.

    python consumer.py TRANSPORT ADDRESS [--wake STRATEGY]

Every transport here is written as a Python user would write it. Each prints
``ready`` once it is connected (or, for the v2m ring, waiting for it), then
receives until the stream ends. Frames from other producers carry a 16-byte
header (index, CLOCK_MONOTONIC publish time) before 512 float32 samples.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import socket
import struct
import sys
import time
from typing import Callable, Dict, Iterator, List, Tuple

import numpy as np
from raw_consumers import busy_poll_frames, futex_frames

import v2m
from v2m.ordering import FENCES_ENV

SAMPLES = 512
HEADER = struct.Struct("<QQ")
END = (1 << 64) - 1
WARMUP = 5
"""Frames received before measuring starts (connections and caches settle)."""

Received = Tuple[int, int, np.ndarray]
"""(index, publish_ns, samples) of one frame as the consumer holds it."""
ARRIVALS: List[int] = []
WAKE_STATS: Dict[str, int] = {}
"""For the v2m ring: each frame's ``arrival_ns`` (the capture callback's time)."""


class IceoryxFrame(ctypes.Structure):
    _fields_ = [
        ("index", ctypes.c_uint64),
        ("publish_ns", ctypes.c_uint64),
        ("samples", ctypes.c_float * SAMPLES),
    ]


def ready() -> None:
    print("ready", flush=True)


def v2m_frames(
    name: str, wake: str | None = None, samples_first: bool = False, priority: bool = False
) -> Iterator[Received]:
    """The v2m ring through ``v2m.Reader`` (waking as ``wake`` says, default futex;
    ``samples_first``: each frame's samples before its VAD, stamped ``samples_ns``)."""
    options = {} if wake is None else {"wake": wake}
    ready()
    with v2m.Reader(
        name,
        wait=60,
        wait_for_vad=not samples_first,
        priority=priority,
        **options,  # type: ignore[arg-type]
    ) as reader:
        for frame in reader:
            ARRIVALS.append(frame.arrival_ns)
            published = frame.samples_ns if frame.vad_pending else frame.publish_ns
            yield frame.index, published, frame.samples
            WAKE_STATS.update(reader.wake_stats or {})


def uds_frames(path: str) -> Iterator[Received]:
    """A Unix SOCK_SEQPACKET socket; each datagram one frame."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.connect(path)
    ready()
    buffer = bytearray(HEADER.size + SAMPLES * 4)
    while True:
        sock.recv_into(buffer)
        index, publish_ns = HEADER.unpack_from(buffer)
        if index == END:
            return
        yield index, publish_ns, np.frombuffer(buffer, np.float32, offset=HEADER.size)


def zmq_frames(endpoint: str) -> Iterator[Received]:
    """pyzmq SUB over ``ipc://``; the samples are a view of the received message."""
    import zmq

    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, 100_000)
    sock.connect(endpoint)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    ready()
    while True:
        message = sock.recv(copy=False)
        index, publish_ns = HEADER.unpack_from(message.buffer)
        if index == END:
            return
        yield index, publish_ns, np.frombuffer(message.buffer, np.float32, offset=HEADER.size)


def iceoryx2_frames(service: str) -> Iterator[Received]:
    """iceoryx2 publish/subscribe, woken by its event service; payload copied out via ctypes."""
    import iceoryx2 as iox2

    iox2.set_log_level(iox2.LogLevel.Error)
    node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
    frames = (
        node.service_builder(iox2.ServiceName.new(f"{service}/frames"))
        .publish_subscribe(IceoryxFrame)
        .max_subscribers(16)
        .subscriber_max_buffer_size(256)
        .open_or_create()
    )
    events = (
        node.service_builder(iox2.ServiceName.new(f"{service}/event"))
        .event()
        .max_listeners(16)
        .open_or_create()
    )
    subscriber = frames.subscriber_builder().buffer_size(256).create()
    listener = events.listener_builder().create()
    ready()
    wait = iox2.Duration.from_millis(500)
    while True:
        listener.timed_wait(wait)
        while (sample := subscriber.receive()) is not None:
            payload = sample.payload().contents
            index, publish_ns = payload.index, payload.publish_ns
            samples = np.ctypeslib.as_array(payload.samples).copy()
            del sample
            if index == END:
                return
            yield index, publish_ns, samples


def measure(frames: Iterator[Received]) -> Dict[str, object]:
    """Stamps every frame as it arrives; the record the suite aggregates."""
    indices: List[int] = []
    published: List[int] = []
    held: List[int] = []
    cpu0 = wall0 = 0.0
    try:
        for count, (index, publish_ns, samples) in enumerate(frames):
            now = time.monotonic_ns()
            samples.sum()  # touch the audio, as a consumer would
            if count == WARMUP:
                cpu0, wall0 = time.process_time(), time.monotonic()
            if count >= WARMUP:
                indices.append(index)
                published.append(publish_ns)
                held.append(now)
    except KeyboardInterrupt:
        pass  # SIGINT ends an endless stream: report what was measured
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    span = indices[-1] - indices[0] + 1 if indices else 0
    return {
        "index": indices,
        "publish_ns": published,
        "held_ns": held,
        "cpu_s": cpu if indices else 0.0,
        "wall_s": wall if indices else 0.0,
        "lost": span - len(indices),
    }


TRANSPORTS: Dict[str, Callable[..., Iterator[Received]]] = {
    "uds": uds_frames,
    "zmq": zmq_frames,
    "iceoryx2": iceoryx2_frames,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("transport", choices=["v2m", "raw-futex", "raw-poll", *TRANSPORTS])
    parser.add_argument("address", help="ring name, socket path, endpoint or service")
    parser.add_argument("--wake", help="v2m.Reader wake strategy")
    parser.add_argument(
        "--samples-first", action="store_true", help="v2m.Reader(wait_for_vad=False)"
    )
    parser.add_argument(
        "--priority", action="store_true", help="v2m.Reader(priority=True): real-time thread"
    )
    parser.add_argument(
        "--fenced",
        action="store_true",
        help="v2m.Reader with the ARM64 reader's membarrier fences, on any CPU",
    )
    args = parser.parse_args()
    if args.fenced:
        os.environ[FENCES_ENV] = "always"
    if args.transport == "v2m":
        frames = v2m_frames(args.address, args.wake, args.samples_first, args.priority)
    elif args.transport in ("raw-futex", "raw-poll"):
        ready()
        raw = futex_frames if args.transport == "raw-futex" else busy_poll_frames
        frames = raw(args.address)
    else:
        frames = TRANSPORTS[args.transport](args.address)
    result = measure(frames)
    if WAKE_STATS:
        result["wake"] = WAKE_STATS
    if ARRIVALS:
        result["arrival_ns"] = ARRIVALS[-len(result["index"]) :] if result["index"] else []  # type: ignore[arg-type]
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
