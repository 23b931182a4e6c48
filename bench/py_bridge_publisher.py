"""The peer row of the bridge bench: what a Python user would write instead of
``v2m-bridge publish``. It reads a ring with ``v2m.Reader`` and sends the same
frames with ``eclipse-zenoh`` (PyPI) in the bridge's wire format, with the same
configuration queryable and liveliness token, so an unchanged ``v2m-bridge mirror``
receives it.

    python bench/py_bridge_publisher.py RING KEY ENDPOINT [--batch-frames N]
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import struct
import time
from typing import List

import zenoh

import v2m

BATCH_HEADER = struct.Struct("<4sHHQqII")
FRAME_RECORD = struct.Struct("<QQQfffIII")
WIRE_VERSION = 1


def clock_offset_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_REALTIME) - time.monotonic_ns()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ring")
    parser.add_argument("key")
    parser.add_argument("endpoint")
    parser.add_argument("--batch-frames", type=int, default=32)
    args = parser.parse_args()
    stopping: List[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    config = zenoh.Config.from_json5(
        json.dumps(
            {
                "mode": "peer",
                "scouting": {"multicast": {"enabled": False}},
                "listen": {"endpoints": [args.endpoint]},
                "connect": {"endpoints": []},
            }
        )
    )
    with zenoh.open(config) as session, v2m.Reader(args.ring, wait=20) as reader:
        info = reader.info
        spf = info.frame_samples * info.channels
        next_index = [reader.next_index]
        described = {
            "wire_version": WIRE_VERSION,
            "host": socket.gethostname(),
            "ring": args.ring,
            "key": args.key,
            "generation": info.generation,
            "sample_rate": info.sample_rate,
            "channels": info.channels,
            "frame_samples": info.frame_samples,
            "slot_count": info.slot_count,
            "vad_kind": info.vad_kind,
            "vad_threshold": info.vad_threshold,
            "vad_neg_threshold": info.vad_neg_threshold,
            "vad_min_silence_ms": info.vad_min_silence_ms,
            "source_speed": info.source_speed,
            "source": info.source,
        }

        def answer(query: zenoh.Query) -> None:
            query.reply(query.key_expr, json.dumps(described | {"next_index": next_index[0]}))

        publisher = session.declare_publisher(
            args.key,
            congestion_control=zenoh.CongestionControl.DROP,
            priority=zenoh.Priority.REAL_TIME,
            express=True,
        )
        queryable = session.declare_queryable(f"{args.key}/config", answer)
        token = session.liveliness().declare_token(args.key)
        print("ready", flush=True)
        frames = messages = 0
        while not stopping:
            frame = reader.read(timeout=0.1)
            if frame is None:
                continue
            parts = []
            while frame is not None:
                parts.append(
                    FRAME_RECORD.pack(
                        frame.index,
                        frame.capture_ns,
                        frame.arrival_ns,
                        frame.vad_prob,
                        frame.rms,
                        frame.peak,
                        frame.flags,
                        frame.valid_samples,
                        int(frame.speech),
                    )
                )
                parts.append(frame.samples.tobytes())
                if len(parts) // 2 == args.batch_frames:
                    break
                frame = reader.read(timeout=0)
            count = len(parts) // 2
            header = BATCH_HEADER.pack(
                b"V2MF", WIRE_VERSION, 0, info.generation, clock_offset_ns(), spf, count
            )
            next_index[0] = reader.next_index
            publisher.put(header + b"".join(parts))
            frames, messages = frames + count, messages + 1
        print(json.dumps({"frames": frames, "messages": messages}), flush=True)
        token.undeclare()
        queryable.undeclare()
        publisher.undeclare()


if __name__ == "__main__":
    main()
