"""What the bridge adds: publish → mirror → Reader against a local Reader of the same
ring, in the same run, over loopback TCP and UDP; the CPU the publisher and the
mirror use per ring; batching on 5 ms (80-sample) frames; and the peer row, the same
frames sent from Python with eclipse-zenoh (bench/py_bridge_publisher.py).

    .venv/bin/python bench/bridge_latency.py --seconds 30

One live engine per row (a tone; 5, 10 or 32 ms frames) and a publisher and a mirror
on loopback endpoints; two reader processes record when each frame reached Python.
Latency of a frame = the moment a reader got it − the source engine's publish_ns (one
host, one CLOCK_MONOTONIC). Writes ``bench/results/bridge.json`` and
``bench/results/bridge.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "target" / "release" / "v2m-engine"
BRIDGE = ROOT / "target" / "release" / "v2m-bridge"
PY_PUBLISHER = ROOT / "bench" / "py_bridge_publisher.py"
RESULTS = ROOT / "bench" / "results"
TICK = os.sysconf("SC_CLK_TCK")

READER = """
import sys, time, json, v2m
name, seconds = sys.argv[1], float(sys.argv[2])
rows = []
with v2m.Reader(name, wait=20) as reader:
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        frame = reader.read(timeout=1.0)
        if frame is not None:
            rows.append((frame.index, time.monotonic_ns(), frame.publish_ns))
    dropped = reader.dropped
json.dump({"rows": rows, "dropped": dropped}, sys.stdout)
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def reader(name: str, seconds: float) -> "subprocess.Popen[str]":
    proc = subprocess.Popen(
        [sys.executable, "-c", READER, name, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def percentiles(values: np.ndarray) -> Dict[str, float]:
    return {f"p{q}": float(np.percentile(values, q)) / 1e3 for q in (50, 99, 99.9)} | {
        "samples": int(len(values))
    }


def start_publisher(
    kind: str, tag: str, key: str, endpoint: str, transport: str, batch: int
) -> "subprocess.Popen[str]":
    if kind == "python":
        command = [sys.executable, str(PY_PUBLISHER), tag, key, endpoint]
        command += ["--batch-frames", str(batch)]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            proc.kill()
            proc.wait()
            raise SystemExit(
                f"the Python publisher did not start (exit {proc.returncode}, its error is "
                "above): it needs eclipse-zenoh, which has no wheel for every interpreter"
            )
        return proc
    delivery = ["--delivery", "best-effort"] if transport == "udp" else []
    command = [str(BRIDGE), "publish", "--ring", tag, "--key", key, "--listen", endpoint]
    command += ["--batch-frames", str(batch), *delivery]
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True)


def messages_sent(kind: str, publisher: "subprocess.Popen[str]") -> Dict[str, int]:
    """Frames and messages the publisher sent, from its last words."""
    if kind == "python":
        assert publisher.stdout is not None
        counts: Dict[str, int] = json.loads(publisher.stdout.read())
        return counts
    assert publisher.stderr is not None
    said = re.search(r"published (\d+) frames in (\d+) messages", publisher.stderr.read())
    assert said is not None
    return {"frames": int(said.group(1)), "messages": int(said.group(2))}


def run(row: Dict[str, object], seconds: float, port: int) -> Dict[str, object]:
    transport, frame, batch, kind = row["transport"], row["frame"], row["batch"], row["publisher"]
    assert isinstance(transport, str) and isinstance(kind, str)
    assert isinstance(frame, int) and isinstance(batch, int)
    tag = f"bench{os.getpid()}{transport}{frame}{batch}{kind[0]}"
    endpoint = f"{transport}/127.0.0.1:{port}"
    engine = subprocess.Popen(
        [str(ENGINE), "run", "-q", "--name", tag, "--source", "tone:440", "--frame", str(frame)]
    )
    key = f"v2m/bench/{tag}"
    mirror = subprocess.Popen(
        [str(BRIDGE), "-q", "mirror", "--key", key, "--ring", f"{tag}m", "--connect", endpoint]
    )
    publisher: "Optional[subprocess.Popen[str]]" = None
    try:
        publisher = start_publisher(kind, tag, key, endpoint, transport, batch)
        local, mirrored = reader(tag, seconds), reader(f"{tag}m", seconds)
        start = {p.pid: cpu_seconds(p.pid) for p in (publisher, mirror)}
        began = time.monotonic()
        got_local = json.loads(local.communicate(timeout=seconds + 30)[0])
        got_mirror = json.loads(mirrored.communicate(timeout=seconds + 30)[0])
        wall = time.monotonic() - began
        cpu = {p.pid: (cpu_seconds(p.pid) - start[p.pid]) / wall * 100 for p in (publisher, mirror)}
    finally:
        # Whatever started stops, on any failure too: a child left running would keep
        # the caller's pipes open and hang it.
        started = [proc for proc in (publisher, mirror, engine) if proc is not None]
        for proc in started:
            proc.send_signal(signal.SIGTERM)
        if publisher is not None:
            sent = messages_sent(kind, publisher)
        for proc in started:
            proc.wait(10)
    source = {index: (read, publish) for index, read, publish in got_local["rows"]}
    local_ns, mirror_ns = [], []
    for index, read, _ in got_mirror["rows"]:
        if index in source:
            local_read, publish = source[index]
            local_ns.append(local_read - publish)
            mirror_ns.append(read - publish)
    local_arr, mirror_arr = np.array(local_ns), np.array(mirror_ns)
    return {
        "transport": transport,
        "publisher": kind,
        "batch_frames": batch,
        "frames_per_message": sent["frames"] / max(1, sent["messages"]),
        "frame_ms": frame / 16,
        "local_us": percentiles(local_arr),
        "mirror_us": percentiles(mirror_arr),
        "added_us": percentiles(mirror_arr - local_arr),
        "mirror_dropped": got_mirror["dropped"],
        "publisher_cpu_pct": cpu[publisher.pid],
        "mirror_cpu_pct": cpu[mirror.pid],
    }


def table(results: List[Dict[str, object]], command: str) -> str:
    lines = [
        f"Generated by `{command}` ({time.strftime('%Y-%m-%d')}, this machine).",
        "",
        "| publisher | link | frame | batch ≤ (mean) | local Reader p50 / p99 / p99.9 µs "
        "| mirror Reader p50 / p99 / p99.9 µs | added p50 / p99 µs | frames (mirror lost) "
        "| publisher CPU | mirror CPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        loc, mir, add = r["local_us"], r["mirror_us"], r["added_us"]
        assert isinstance(loc, dict) and isinstance(mir, dict) and isinstance(add, dict)
        lines.append(
            f"| {r['publisher']} | {r['transport']} | {r['frame_ms']:g} ms "
            f"| {r['batch_frames']} ({r['frames_per_message']:.2f}) "
            f"| {loc['p50']:.0f} / {loc['p99']:.0f} / {loc['p99.9']:.0f} "
            f"| {mir['p50']:.0f} / {mir['p99']:.0f} / {mir['p99.9']:.0f} "
            f"| {add['p50']:.0f} / {add['p99']:.0f} | {mir['samples']} ({r['mirror_dropped']}) "
            f"| {r['publisher_cpu_pct']:.1f} % | {r['mirror_cpu_pct']:.1f} % |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the results go")
    args = parser.parse_args()
    rows: List[Dict[str, object]] = [
        {"publisher": "v2m-bridge", "transport": transport, "frame": frame, "batch": 32}
        for frame in (160, 512)
        for transport in ("tcp", "udp")
    ]
    rows += [
        {"publisher": "v2m-bridge", "transport": "tcp", "frame": 80, "batch": batch}
        for batch in (1, 32)
    ]
    rows += [
        {"publisher": "python", "transport": "tcp", "frame": frame, "batch": 32}
        for frame in (80, 160)
    ]
    results = []
    for port, row in enumerate(rows, start=7651):
        results.append(run(row, args.seconds, port))
        print(json.dumps(results[-1]), flush=True)
    args.out.mkdir(exist_ok=True)
    (args.out / "bridge.json").write_text(json.dumps(results, indent=1) + "\n")
    command = f"python bench/bridge_latency.py --seconds {args.seconds:g}"
    (args.out / "bridge.md").write_text(table(results, command))
    print(table(results, command))


if __name__ == "__main__":
    main()
