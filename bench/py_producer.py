"""Producers of the latency suite's Python-side peers: pyzmq PUB, iceoryx2 publish/
subscribe with its event service, and multiprocessing.Queue (which also runs its
consumers, as that transport only connects related processes).

    python py_producer.py zmq|iceoryx2 ADDRESS --cadence-us 1000 --frames 3000
    python py_producer.py mpqueue - --readers 2 --cadence-us 1000 --frames 3000

zmq and iceoryx2 print ``ready`` once bound and wait for ``go`` on stdin (so every
consumer is subscribed before the first frame); mpqueue prints its consumers'
results as a JSON list. Frames are paced from absolute CLOCK_MONOTONIC deadlines
and stamped with their publish time just before they are sent.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import multiprocessing as mp
import sys
import time
from typing import Callable, Iterator, List

import numpy as np
from consumer import END, HEADER, SAMPLES, IceoryxFrame, Received, measure


def content(index: int) -> np.ndarray:
    """The frame's samples (position-encoded, like the engine's counter source)."""
    n = (index * SAMPLES + np.arange(SAMPLES, dtype=np.int64)) % (1 << 24)
    return (n / (1 << 24)).astype(np.float32)


def paced(frames: int, cadence_ns: int, send: Callable[[int, int, np.ndarray], None]) -> None:
    """Calls ``send(index, publish_ns, samples)`` on the cadence, then with the end marker."""
    start = time.monotonic_ns() + 10_000_000
    for index in range(frames):
        samples = content(index)
        delay = start + index * cadence_ns - time.monotonic_ns()
        if delay > 0:
            time.sleep(delay / 1e9)
        send(index, time.monotonic_ns(), samples)
    send(END, time.monotonic_ns(), content(0))


def wait_for_go() -> None:
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("expected 'go' on stdin")


def run_zmq(endpoint: str, frames: int, cadence_ns: int) -> None:
    import zmq

    sock = zmq.Context.instance().socket(zmq.PUB)
    sock.setsockopt(zmq.SNDHWM, 100_000)
    sock.bind(endpoint)
    wait_for_go()

    def send(index: int, publish_ns: int, samples: np.ndarray) -> None:
        sock.send(HEADER.pack(index, publish_ns) + samples.tobytes())

    paced(frames, cadence_ns, send)
    time.sleep(0.5)  # let the end marker reach every subscriber


def run_iceoryx2(service: str, frames: int, cadence_ns: int) -> None:
    import iceoryx2 as iox2

    iox2.set_log_level(iox2.LogLevel.Error)
    node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
    channel = (
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
    publisher = channel.publisher_builder().create()
    notifier = events.notifier_builder().create()
    wait_for_go()
    frame = np.zeros(HEADER.size + SAMPLES * 4, np.uint8)

    def send(index: int, publish_ns: int, samples: np.ndarray) -> None:
        HEADER.pack_into(frame, 0, index, publish_ns)
        frame[HEADER.size :] = samples.view(np.uint8)
        sample = publisher.loan_uninit()
        ctypes.memmove(sample.payload_ptr, frame.ctypes.data, frame.nbytes)
        sample.assume_init().send()
        notifier.notify()

    paced(frames, cadence_ns, send)
    time.sleep(0.5)


def _queue_frames(queue: "mp.Queue[Received]") -> Iterator[Received]:
    while True:
        index, publish_ns, samples = queue.get()
        if index == END:
            return
        yield index, publish_ns, samples


def _queue_consumer(queue: "mp.Queue[Received]", results: "mp.Queue[str]") -> None:
    results.put(json.dumps(measure(_queue_frames(queue))))


def run_mpqueue(readers: int, frames: int, cadence_ns: int) -> None:
    queues: List["mp.Queue[Received]"] = [mp.Queue() for _ in range(readers)]
    results: "mp.Queue[str]" = mp.Queue()
    workers = [mp.Process(target=_queue_consumer, args=(q, results)) for q in queues]
    for worker in workers:
        worker.start()
    time.sleep(0.5)  # the consumers are importing and waiting

    def send(index: int, publish_ns: int, samples: np.ndarray) -> None:
        for queue in queues:
            queue.put((index, publish_ns, samples))

    paced(frames, cadence_ns, send)
    collected = [json.loads(results.get()) for _ in workers]
    for worker in workers:
        worker.join()
    json.dump(collected, sys.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("transport", choices=["zmq", "iceoryx2", "mpqueue"])
    parser.add_argument("address")
    parser.add_argument("--readers", type=int, default=1)
    parser.add_argument("--cadence-us", type=int, default=32_000)
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args()
    cadence_ns = args.cadence_us * 1000
    if args.transport == "zmq":
        run_zmq(args.address, args.frames, cadence_ns)
    elif args.transport == "iceoryx2":
        run_iceoryx2(args.address, args.frames, cadence_ns)
    else:
        run_mpqueue(args.readers, args.frames, cadence_ns)
    return 0


if __name__ == "__main__":
    sys.exit(main())
