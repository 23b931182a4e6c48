"""The latency and jitter suite: v2m against what a Python user would pick instead, on
the same machine, in one run.

Every transport in ``transports.TRANSPORTS`` carries the same 512-sample float32
frames (16 kHz mono) at the real 32 ms cadence and at 1 ms, to 1, 2, 4 and 8
consumer processes, on an idle machine and with both cores loaded (``stress-ng --cpu
2``). Each consumer stamps a frame when it holds it as a NumPy array; latency is that
stamp minus the producer's publish stamp (both CLOCK_MONOTONIC). Then, live from a
private PulseAudio source: capture → Python latency at several frame sizes, and
python-sounddevice against the engine with a busy "transcriber" thread.

    .venv/bin/python bench/latency_suite.py            # or: make bench (about 10 minutes)
    .venv/bin/python bench/latency_suite.py --long     # or: make bench-long (about 50 minutes)
    .venv/bin/python bench/latency_suite.py --smoke    # a few hundred frames, no plots

Writes ``bench/results/suite.json`` (every figure with its configuration),
``suite.md`` (the tables) and PNG plots; ``--long`` writes ``long.json``, ``long.md``
and its plots: the headline cases at a 10 ms cadence, 10,000 frames per reader, long
enough for p99.9.

Every percentile comes with its sample count, and only where the count resolves it:
p99 needs ``P99_MIN_FRAMES`` frames per reader, p99.9 ``P999_MIN_FRAMES``; the quick
suite (161 frames per reader at 32 ms) prints "–" where it cannot say.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "pyclient"))
import ordering_cost  # noqa: E402
from capture_latency import SAMPLES_FIRST, capture_cases  # noqa: E402
from sounddevice_vs_engine import compare  # noqa: E402
from transports import ENGINE, TRANSPORTS, Case, Result  # noqa: E402

CADENCES_NS = {"32 ms": 32_000_000, "1 ms": 1_000_000}
LONG_CADENCES_NS = {"10 ms": 10_000_000}
LONG_FRAMES = 10_000
LONG_TRANSPORTS = [
    "v2m Reader (futex)",
    "v2m Reader (adaptive)",
    "v2m Reader (priority)",
    "raw futex (floor)",
    "raw busy poll (floor)",
    "Unix socket SEQPACKET",
    "iceoryx2 pub/sub + event",
]
"""The long run's cases: the default Reader and the adaptive one against the floors and
the peers that come closest, 1 and 4 readers, idle and with both cores busy."""
P99_MIN_FRAMES = 1_000
P999_MIN_FRAMES = 10_000
"""Frames per reader a percentile needs: p99 from fewer than 1,000 is one of the ten
worst frames, p99.9 from fewer than 10,000 the worst one or two."""
NEEDED = {"p99_us": P99_MIN_FRAMES, "slowest_reader_p99_us": P99_MIN_FRAMES}
NEEDED["p99.9_us"] = P999_MIN_FRAMES
SINGLE_READER = {"raw busy poll (floor)"}
"""Transports that spin a core per reader: only measured with one."""


CAPTURE_VADS = ["off", "silero", "silero" + SAMPLES_FIRST]
"""Capture cases: no VAD, Silero read as whole frames, Silero read samples first."""


def summarize(results: List[Result], cadence_ns: int) -> Dict[str, object]:
    """The figures of one case, pooled over its readers."""
    latencies, per_reader_p99, jitter_sd, jitter_max, cpu = [], [], [], [], []
    for r in results:
        held = np.asarray(r["held_ns"], np.int64)
        lat = (held - np.asarray(r["publish_ns"], np.int64)) / 1000
        if len(lat) == 0:
            continue
        latencies.append(lat)
        per_reader_p99.append(float(np.percentile(lat, 99)))
        index = np.asarray(r["index"], np.int64)
        if len(held) > 2:
            # Deviation of each inter-arrival time from the cadence (gaps counted as such).
            deviation = (np.diff(held) - np.diff(index) * cadence_ns) / 1000
            jitter_sd.append(float(np.std(deviation)))
            jitter_max.append(float(np.max(np.abs(deviation))))
        wall = float(str(r["wall_s"]))
        cpu.append(100 * float(str(r["cpu_s"])) / wall if wall > 0 else 0.0)
    pooled = np.concatenate(latencies) if latencies else np.zeros(0)
    per_reader = min((len(lat) for lat in latencies), default=0)
    out: Dict[str, object] = {
        "frames": int(len(pooled)),
        "frames_per_reader": per_reader,
        "lost": int(sum(int(str(r["lost"])) for r in results)),
        "cpu_percent_per_reader": float(np.mean(cpu)) if cpu else 0.0,
        "jitter_sd_us": float(np.mean(jitter_sd)) if jitter_sd else 0.0,
        "jitter_max_us": float(np.max(jitter_max)) if jitter_max else 0.0,
        "slowest_reader_p99_us": (
            max(per_reader_p99) if per_reader_p99 and per_reader >= P99_MIN_FRAMES else None
        ),
    }
    for p, needed in ((50, 1), (90, 1), (99, P99_MIN_FRAMES), (99.9, P999_MIN_FRAMES)):
        resolved = len(pooled) and per_reader >= needed
        out[f"p{p:g}_us"] = float(np.percentile(pooled, p)) if resolved else None
    out["max_us"] = float(pooled.max()) if len(pooled) else 0.0
    wake = [r["wake"] for r in results if "wake" in r]
    if wake:  # the adaptive reader: how often it was awake for the frame, and backed off
        out["watched_percent"] = 100 * sum(w["watched"] for w in wake) / max(1, len(pooled))  # type: ignore[index]
        out["backoffs"] = sum(w["backoffs"] for w in wake)  # type: ignore[index]
        reasons = sorted({k for w in wake for k in w if k.startswith("futex_")})  # type: ignore[union-attr]
        out["futex_waits"] = {k[6:]: sum(w.get(k, 0) for w in wake) for k in reasons}  # type: ignore[union-attr]
    return out


class CpuWakeLatency:
    """A PM QoS request held open for a with-block (nothing when ``us`` is None): no CPU
    enters an idle state whose exit takes longer than ``us``."""

    def __init__(self, us: Optional[int]) -> None:
        self.us = us
        self.fd: Optional[int] = None

    def __enter__(self) -> "CpuWakeLatency":
        if self.us is not None:
            self.fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
            os.write(self.fd, self.us.to_bytes(4, "little", signed=True))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the request


class Load:
    """``stress-ng --cpu 2`` for the duration of a with-block (nothing when idle)."""

    def __init__(self, loaded: bool) -> None:
        self.loaded = loaded
        self.proc: Optional["subprocess.Popen[bytes]"] = None

    def __enter__(self) -> "Load":
        if self.loaded:
            self.proc = subprocess.Popen(
                ["stress-ng", "--cpu", "2", "--quiet"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


def run_matrix(
    args: argparse.Namespace, samples: Dict[str, List[float]]
) -> List[Dict[str, object]]:
    rows = []
    loads = [False] + ([True] if args.loaded_readers and shutil.which("stress-ng") else [])
    for cadence_label, cadence_ns in args.cadence_set.items():
        if (args.smoke and cadence_label != "1 ms") or not _chosen(cadence_label, args.cadences):
            continue
        seconds = args.seconds_slow if cadence_ns > 10_000_000 else args.seconds_fast
        frames = args.frames or max(50, int(seconds * 1e9 / cadence_ns))
        for loaded in loads:
            reader_counts = args.loaded_readers if loaded else args.readers
            for transport in TRANSPORTS:
                if not _chosen(transport.name, args.transports):
                    continue
                for readers in reader_counts:
                    if transport.name in SINGLE_READER and readers > 1:
                        continue
                    with Load(loaded):
                        results = transport.run(Case(cadence_ns, frames, readers))
                    row: Dict[str, object] = {
                        "transport": transport.name,
                        "cadence": cadence_label,
                        "readers": readers,
                        "load": "both cores busy" if loaded else "idle",
                    }
                    row.update(summarize(results, cadence_ns))
                    rows.append(row)
                    if not loaded:
                        samples[f"{transport.name} @ {cadence_label} ×{readers}"] = [
                            (h - p) / 1000
                            for r in results
                            for h, p in zip(r["held_ns"], r["publish_ns"])  # type: ignore[call-overload]
                        ]
                    if readers == 1 and not loaded:
                        samples[f"{transport.name} @ {cadence_label}"] = [
                            (h - p) / 1000
                            for r in results
                            for h, p in zip(r["held_ns"], r["publish_ns"])  # type: ignore[call-overload]
                        ]
                        samples[f"jitter {transport.name} @ {cadence_label}"] = [
                            float(d)
                            for r in results
                            for d in (
                                (np.diff(np.asarray(r["held_ns"], np.int64)) - cadence_ns) / 1000
                            )
                        ]
                    print(_row_text(row), flush=True)
    return rows


def _chosen(name: str, wanted: Optional[List[str]]) -> bool:
    return wanted is None or any(w.lower() in name.lower() for w in wanted)


def _row_text(r: Dict[str, object]) -> str:
    watched = (
        f"  watched {r['watched_percent']:.0f}% backoffs {r['backoffs']} futex {r['futex_waits']}"
        if "watched_percent" in r
        else ""
    )
    return _row_figures(r) + watched


def _row_figures(r: Dict[str, object]) -> str:
    return (
        f"{r['transport']:<26} {r['cadence']:>5} {r['readers']:>2} rdr {r['load']:<15} "
        f"n={r['frames_per_reader']}/reader p50 {_us(r['p50_us']):>7} p99 {_us(r['p99_us']):>7} "
        f"p99.9 {_us(r['p99.9_us']):>7} max {r['max_us']:7.0f} µs  jitter sd "
        f"{r['jitter_sd_us']:6.0f} cpu {r['cpu_percent_per_reader']:5.1f}%  lost {r['lost']}"
    )


def _us(value: object) -> str:
    """A figure in whole µs, or "–" where too few frames resolve it."""
    return "–" if value is None else f"{float(str(value)):.0f}"


def configuration(args: argparse.Namespace) -> Dict[str, object]:
    """Everything a figure depends on, recorded with it."""

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    engine = subprocess.run([ENGINE, "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=BENCH
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}",
        "python": platform.python_version(),
        "versions": {
            m: version(m) for m in ("numpy", "pyzmq", "iceoryx2", "sounddevice", "matplotlib")
        }
        | {"v2m-engine": engine, "commit": commit},
        "frame": "512 float32 samples (16 kHz mono, 32 ms of audio)",
        "cadences": list(args.cadence_set),
        "parameters": {k: v for k, v in vars(args).items() if k != "cadence_set"},
        "long": bool(args.long),
        "v2m producer": "v2m-engine run --source counter --vad off --speed 1 | 32",
        "latency": "consumer's CLOCK_MONOTONIC stamp when it holds the frame as a NumPy "
        "array, minus the producer's publish stamp",
    }


def summary(doc: Dict[str, object]) -> List[str]:
    """One line per transport: the figures the docs quote."""
    rows = doc["matrix"]
    assert isinstance(rows, list)

    def pick(name: str, cadence: str, readers: int, load: str) -> Optional[Dict[str, object]]:
        return next(
            (
                r
                for r in rows
                if (r["transport"], r["cadence"], r["readers"], r["load"])
                == (name, cadence, readers, load)
            ),
            None,
        )

    def cell(row: Optional[Dict[str, object]], *keys: str, digits: int = 0) -> str:
        if row is None:
            return "–"
        values = [_resolved(row, k, NEEDED.get(k, 1)) for k in keys]
        return " / ".join("–" if v is None else f"{float(str(v)):.{digits}f}" for v in values)

    cfg = doc["configuration"]
    assert isinstance(cfg, dict)
    if cfg.get("long"):
        return long_summary(rows, pick, cell)
    if cfg["parameters"].get("cadences_ms"):
        return cadence_summary(rows, cell)
    lines = [
        "| transport | 32 ms, 1 reader: p50 / p99 µs | CPU % | 32 ms, 4 readers: slowest p99 | "
        "32 ms, cores busy: p99 | 1 ms, 1 reader: p50 / p99 | 1 ms, 8 readers: p50 / p99 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in dict.fromkeys(str(r["transport"]) for r in rows):
        one = pick(name, "32 ms", 1, "idle")
        lines.append(
            f"| {name} | {cell(one, 'p50_us', 'p99_us')} | "
            f"{cell(one, 'cpu_percent_per_reader', digits=1)} | "
            f"{cell(pick(name, '32 ms', 4, 'idle'), 'slowest_reader_p99_us')} | "
            f"{cell(pick(name, '32 ms', 1, 'both cores busy'), 'p99_us')} | "
            f"{cell(pick(name, '1 ms', 1, 'idle'), 'p50_us', 'p99_us')} | "
            f"{cell(pick(name, '1 ms', 8, 'idle'), 'p50_us', 'p99_us')} |"
        )
    return lines


def command_line(cfg: Dict[str, object]) -> str:
    """The command that made a run, from the parameters its results file recorded."""
    p = cfg.get("parameters")
    assert isinstance(p, dict)
    words = ["python bench/latency_suite.py"]
    if p.get("long"):
        words.append("--long")
    if p.get("smoke"):
        words.append("--smoke")
    defaults = {"readers": [1, 2, 4, 8], "loaded_readers": [1, 4]}
    if p.get("cadences_ms"):
        words.append("--cadences-ms " + ",".join(f"{ms:g}" for ms in p["cadences_ms"]))
    for key in ("transports", "cadences", "readers", "loaded_readers"):
        value = p.get(key)
        if value and not p.get("long") and value != defaults.get(key):
            joined = ",".join(str(v) for v in value)  # type: ignore[attr-defined]
            words.append(f"--{key.replace('_', '-')} {joined!r}" if " " in joined else
                         f"--{key.replace('_', '-')} {joined}")  # fmt: skip
    if p.get("no_live") and not p.get("long"):
        words.append("--no-live")
    for key, default in (("seconds_slow", 5.0), ("seconds_fast", 3.0)):
        if p.get(key) not in (None, default):
            words.append(f"--{key.replace('_', '-')} {p[key]:g}")
    if p.get("frames") and not (p.get("long") and p["frames"] == LONG_FRAMES or p.get("smoke")):
        words.append(f"--frames {p['frames']}")
    if p.get("cpu_wake_latency_us") is not None:
        words.append(f"--cpu-wake-latency-us {p['cpu_wake_latency_us']}")
    if p.get("name") not in (None, "partial"):
        words.append(f"--name {p['name']}")
    return " ".join(words)


def cadence_summary(rows: List[Dict[str, object]], cell: Any) -> List[str]:
    """One reader at each cadence: a row per transport and cadence, with its counts."""
    lines = [
        "| transport | cadence | p50 / p99 / p99.9 / max µs | CPU % | frames | watched |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["readers"] != 1 or r["load"] != "idle":
            continue
        watched = f"{float(str(r['watched_percent'])):.0f} %" if "watched_percent" in r else "–"
        lines.append(
            f"| {r['transport']} | {r['cadence']} | "
            f"{cell(r, 'p50_us', 'p99_us', 'p99.9_us', 'max_us')} | "
            f"{cell(r, 'cpu_percent_per_reader', digits=1)} | {r['frames_per_reader']} | "
            f"{watched} |"
        )
    return lines


def long_summary(rows: List[Dict[str, object]], pick: Any, cell: Any) -> List[str]:
    """The long run's headline: each transport at 10 ms, with its counts."""
    lines = [
        "| transport | 1 reader: p50 / p99 / p99.9 / max µs | CPU % | 4 readers: slowest p99 "
        "/ p99.9 / max µs | CPU %/reader | cores busy, 1 reader: p99 / p99.9 | cores busy, "
        "4 readers: slowest p99 / p99.9 | frames/reader | lost |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in dict.fromkeys(str(r["transport"]) for r in rows):
        one, four = pick(name, "10 ms", 1, "idle"), pick(name, "10 ms", 4, "idle")
        busy_one = pick(name, "10 ms", 1, "both cores busy")
        busy_four = pick(name, "10 ms", 4, "both cores busy")
        cases = [c for c in (one, four, busy_one, busy_four) if c is not None]
        counts = sorted({int(str(c["frames_per_reader"])) for c in cases})
        lines.append(
            f"| {name} | {cell(one, 'p50_us', 'p99_us', 'p99.9_us', 'max_us')} | "
            f"{cell(one, 'cpu_percent_per_reader', digits=1)} | "
            f"{cell(four, 'slowest_reader_p99_us', 'p99.9_us', 'max_us')} | "
            f"{cell(four, 'cpu_percent_per_reader', digits=1)} | "
            f"{cell(busy_one, 'p99_us', 'p99.9_us')} | "
            f"{cell(busy_four, 'slowest_reader_p99_us', 'p99.9_us')} | "
            f"{counts[0] if counts else 0}–{counts[-1] if counts else 0} | "
            f"{sum(int(str(c['lost'])) for c in cases)} |"
        )
    return lines


def markdown(doc: Dict[str, object]) -> str:
    cfg = doc["configuration"]
    assert isinstance(cfg, dict)
    lines = [
        "# v2m latency suite" + (" (long run)" if cfg.get("long") else ""),
        "",
        f"{cfg['date']}; {cfg['machine']}; Python {cfg['python']}; "
        + ", ".join(f"{k} {v}" for k, v in cfg["versions"].items()),
        "",
        f"Command: `{command_line(cfg)}`. A percentile "
        f"is given only where the frames per reader resolve it (p99: {P99_MIN_FRAMES:,}, "
        f"p99.9: {P999_MIN_FRAMES:,}); \u2013 marks one they do not.",
        "",
        "## Summary",
        "",
        *summary(doc),
        "",
        "## Publish → Python, every transport, same frames, same run",
        "",
        "Latency in µs from the producer's publish stamp to the consumer holding the "
        "frame as a NumPy array (pooled over readers); jitter: standard deviation and "
        "largest deviation of inter-arrival times from the cadence; CPU: per reader process.",
        "",
        "| transport | cadence | readers | load | frames (per reader) | p50 | p90 | p99 | p99.9 "
        "| max | slowest reader p99 | jitter sd | jitter max | CPU %/reader | lost |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in doc["matrix"]:  # type: ignore[attr-defined]
        per_reader = r.get("frames_per_reader", r["frames"] // r["readers"])
        lines.append(
            f"| {r['transport']} | {r['cadence']} | {r['readers']} | {r['load']} | "
            f"{r['frames']} ({per_reader}) | {_us(r['p50_us'])} | {_us(r['p90_us'])} | "
            f"{_us(_resolved(r, 'p99_us', P99_MIN_FRAMES))} | "
            f"{_us(_resolved(r, 'p99.9_us', P999_MIN_FRAMES))} | {r['max_us']:.0f} | "
            f"{_us(_resolved(r, 'slowest_reader_p99_us', P99_MIN_FRAMES))} | "
            f"{r['jitter_sd_us']:.0f} | {r['jitter_max_us']:.0f} | "
            f"{r['cpu_percent_per_reader']:.1f} | {r['lost']} |"
        )
    portability = doc.get("portability")
    if isinstance(portability, dict):
        lines += [
            "",
            "## The price of portability: the ARM64 reader's fences on this CPU",
            "",
            "Reading one frame of a closed ring (`bench/ordering_cost.py`) without fences "
            "(x86-64) and with the two membarrier(2) fences every ARM64 reader issues "
            "(three with `valid()`); the writer pays nothing. For comparison, a CRC-32 of "
            f"one frame (the checksum design not taken): {portability['crc32_ns'] / 1000:.2f} µs.",
            "",
            *ordering_cost.markdown(portability["reader"]),
        ]
    capture = doc.get("capture") or []
    if capture:
        lines += [
            "",
            "## Capture → Python (live PulseAudio null-sink source)",
            "",
            "From the capture callback receiving a frame's last sample (`arrival_ns`) to a "
            "Python reader holding it; the device period (5 ms) and PulseAudio's buffering "
            "come before the callback and are not included.",
            "",
            "| frame | VAD | frames | p50 µs | p99 µs | max µs | engine-added p50 / p99 µs | "
            "under 5 ms at p99 | under 10 ms at p99 | engine CPU % | RSS MiB | VAD µs/frame |",
            "|---|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|",
        ]
        for c in capture:  # type: ignore[attr-defined]
            t, e = c["capture_to_python_us"], c["engine_added_us"]
            lines.append(
                f"| {c['frame']} ({c['frame_ms']:g} ms) | {c['vad']} | {c['frames']} | "
                f"{t.get('p50', 0):.0f} | {t.get('p99', 0):.0f} | {t.get('max', 0):.0f} | "
                f"{e.get('p50', 0):.0f} / {e.get('p99', 0):.0f} | "
                f"{'yes' if t.get('p99', 1e9) < 5000 else 'no'} | "
                f"{'yes' if t.get('p99', 1e9) < 10000 else 'no'} | "
                f"{c['engine_cpu_percent']:.1f} | {c['engine_rss_mib']:.0f} | "
                f"{c['vad_us_per_frame']:.0f} |"
            )
    sd = doc.get("sounddevice") or []
    if sd:
        lines += [
            "",
            "## python-sounddevice vs the engine, a busy transcriber thread in each consumer",
            "",
            "Same live source, both at once. Delivery: from the callback (sounddevice: "
            "PortAudio's callback time, before the GIL; engine: `arrival_ns`) to the Python "
            "consumer holding the frame.",
            "",
            "| consumer | transcriber | frames expected | received | lost | overflow flags | "
            "delivery p50 µs | p99 µs | max µs |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in sd:  # type: ignore[attr-defined]
            d = s["delivery_us"]
            lines.append(
                f"| {s['side']} | {s['transcriber']} | {s['expected']} | {s['received']} | "
                f"{s['lost']} | {s.get('overflow_flags', '–')} | {d.get('p50', 0):.0f} | "
                f"{d.get('p99', 0):.0f} | {d.get('max', 0):.0f} |"
            )
    return "\n".join(lines) + "\n"


def _resolved(row: Dict[str, object], key: str, needed: int) -> object:
    """``row[key]``, or None where the row's frames per reader do not resolve it (a
    results file from before the counts were kept resolves what its frames allow)."""
    per_reader = row.get("frames_per_reader")
    if per_reader is None:
        per_reader = int(str(row["frames"])) // int(str(row["readers"]))
    return row[key] if int(str(per_reader)) >= needed else None


def _short_side(side: str) -> str:
    if "sounddevice" in side:
        return "sounddevice"
    return "v2m tuned" if "priority" in side else "v2m"


def plots(doc: Dict[str, object], samples: Dict[str, List[float]], out: Path) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    cfg = doc["configuration"]
    assert isinstance(cfg, dict)
    if cfg.get("long"):
        return long_plots(samples, out, plt)
    for cadence in CADENCES_NS:
        fig, ax = plt.subplots(figsize=(8, 5))
        for key, values in samples.items():
            if key.endswith(f"@ {cadence}") and not key.startswith("jitter"):
                v = np.sort(np.asarray(values))
                ax.plot(v, np.arange(1, len(v) + 1) / len(v), label=key.split(" @ ")[0])
        title = f"Latency CDF, one reader, idle machine, {cadence} cadence"
        name = f"latency_cdf_{cadence.replace(' ', '')}.png"
        made.append(_latency_figure(plt, fig, ax, title, "fraction of frames", out / name))
    fig, ax = plt.subplots(figsize=(8, 5))
    for key, values in samples.items():
        if key.startswith("jitter") and key.endswith("@ 32 ms"):
            ax.hist(
                np.clip(values, -2000, 2000),
                bins=80,
                histtype="step",
                label=key[len("jitter ") :].split(" @ ")[0],
            )
    ax.set_xlabel("inter-arrival time minus 32 ms (µs, clipped at ±2 ms)")
    ax.set_ylabel("frames")
    ax.set_yscale("log")
    ax.set_title("Jitter at the 32 ms cadence, one reader, idle machine")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "jitter_32ms.png", dpi=110)
    plt.close(fig)
    made.append("jitter_32ms.png")
    sd = doc.get("sounddevice") or []
    if sd:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
        labels = [
            f"{_short_side(str(s['side']))}\n{s['transcriber']}"
            for s in sd  # type: ignore[attr-defined]
        ]
        x = np.arange(len(labels))
        for offset, key in ((-0.2, "p50"), (0.0, "p99"), (0.2, "max")):
            left.bar(
                x + offset,
                [s["delivery_us"].get(key, 0) / 1000 for s in sd],  # type: ignore[attr-defined]
                0.2,
                label=key,
            )
        left.set_xticks(x, labels, fontsize=8)
        left.set_ylabel("callback → Python consumer (ms)")
        left.legend()
        right.bar(x, [s["lost"] for s in sd], 0.5, color="tab:red")  # type: ignore[attr-defined]
        right.set_xticks(x, labels, fontsize=8)
        right.set_ylabel("frames lost")
        fig.suptitle("python-sounddevice vs v2m, busy transcriber thread in the consumer")
        fig.tight_layout()
        fig.savefig(out / "sounddevice_vs_engine.png", dpi=110)
        plt.close(fig)
        made.append("sounddevice_vs_engine.png")
    return made


def _latency_figure(plt: Any, fig: Any, ax: Any, title: str, ylabel: str, path: Path) -> str:
    """Finishes a plot of latencies (log µs on x) and saves it; its file name."""
    ax.set_xscale("log")
    ax.set_xlabel("publish → NumPy array in the consumer (µs, log)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def long_plots(samples: Dict[str, List[float]], out: Path, plt: Any) -> List[str]:
    """Latency CDFs of the long run, 1 and 4 readers (pooled), as tail plots: the
    fraction of frames later than x, on log axes, so p99.9 and the maxima show."""
    made = []
    for readers in (1, 4):
        fig, ax = plt.subplots(figsize=(8, 5))
        for key, values in samples.items():
            if key.endswith(f"@ 10 ms ×{readers}"):
                v = np.sort(np.asarray(values))
                later = 1 - np.arange(len(v)) / len(v)
                ax.plot(v, later, label=f"{key.split(' @ ')[0]} (n={len(v)})")
        ax.set_yscale("log")
        title = f"Tail latency, {readers} reader(s), idle machine, 10 ms cadence"
        ylabel = "fraction of frames later than this (log)"
        made.append(
            _latency_figure(plt, fig, ax, title, ylabel, out / f"long_tail_{readers}reader.png")
        )
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds-slow", type=float, default=5.0, help="per case at 32 ms")
    parser.add_argument("--seconds-fast", type=float, default=3.0, help="per case at 1 ms")
    parser.add_argument("--frames", type=int, help="frames per case (overrides seconds)")
    parser.add_argument(
        "--readers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8]
    )
    parser.add_argument(
        "--loaded-readers", type=lambda s: [int(x) for x in s.split(",") if x], default=[1, 4]
    )
    parser.add_argument("--capture-seconds", type=float, default=8.0)
    parser.add_argument("--sounddevice-seconds", type=float, default=20.0)
    parser.add_argument(
        "--transports",
        type=lambda s: s.split(","),
        help="only transports whose name contains one of these (comma-separated); "
        "a partial run writes partial.json/md",
    )
    parser.add_argument("--cadences", type=lambda s: s.split(","), help="only these: 32 ms, 1 ms")
    parser.add_argument(
        "--cadences-ms",
        type=lambda s: [float(x) for x in s.split(",")],
        help="run these cadences instead (e.g. 5,10,20,32: how a wake strategy fares at each)",
    )
    parser.add_argument("--no-live", action="store_true", help="skip capture and sounddevice")
    parser.add_argument("--smoke", action="store_true", help="a few hundred frames, 1 ms, no plots")
    parser.add_argument(
        "--cpu-wake-latency-us",
        type=int,
        help="hold a PM QoS request (/dev/cpu_dma_latency, root) for the run: 0 keeps idle "
        "CPUs polling instead of halting, which on a VM removes the wake-up's exit cost",
    )
    parser.add_argument(
        "--long",
        action="store_true",
        help=f"the headline cases at 10 ms, {LONG_FRAMES:,} frames per reader (p99.9)",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument(
        "--name", default="partial", help="file name of a partial run's results (NAME.json/md)"
    )
    parser.add_argument(
        "--replot",
        action="store_true",
        help="rewrite suite.md from suite.json (with --long: long.md; with --name: NAME.md)",
    )
    args = parser.parse_args()
    if args.replot:
        name = "long" if args.long else "suite" if args.name == "partial" else args.name
        doc = json.loads((args.out / f"{name}.json").read_text())
        (args.out / f"{name}.md").write_text(markdown(doc))
        print(markdown(doc))
        return 0
    args.cadence_set = CADENCES_NS
    if args.cadences_ms:
        args.cadence_set = {f"{ms:g} ms": int(ms * 1_000_000) for ms in args.cadences_ms}
    if args.smoke:
        args.frames, args.readers, args.loaded_readers = args.frames or 300, [1], []
        args.capture_seconds, args.sounddevice_seconds = 4.0, 3.0
    if args.long:
        args.cadence_set, args.no_live = LONG_CADENCES_NS, True
        args.frames = args.frames or LONG_FRAMES
        args.readers = [1, 4]  # and --loaded-readers as given (default 1,4)
        args.transports = args.transports or LONG_TRANSPORTS
    started = time.monotonic()
    samples: Dict[str, List[float]] = {}
    doc: Dict[str, object] = {"configuration": configuration(args)}
    with CpuWakeLatency(args.cpu_wake_latency_us):
        doc["matrix"] = run_matrix(args, samples)
    rounds = 3 if args.smoke else 20
    if not args.long:
        doc["portability"] = {
            "reader": ordering_cost.measure(rounds=rounds),
            "crc32_ns": ordering_cost.crc_ns(rounds=rounds),
        }
    frame_sizes = [512] if args.smoke else [80, 160, 512]
    partial = not args.long and bool(args.transports or args.cadences or args.no_live)
    live = not args.no_live
    doc["capture"] = capture_cases(args.capture_seconds, frame_sizes, CAPTURE_VADS) if live else []
    doc["sounddevice"] = (
        compare(args.sounddevice_seconds, ("python",) if args.smoke else ("python", "c-call"))
        if doc["capture"]
        else []
    )
    doc["seconds"] = time.monotonic() - started
    args.out.mkdir(parents=True, exist_ok=True)
    long_name = "long" if args.name == "partial" else args.name
    prefix = (
        "smoke" if args.smoke else long_name if args.long else args.name if partial else "suite"
    )
    if prefix in ("suite", "long"):
        doc["plots"] = plots(doc, samples, args.out)
    (args.out / f"{prefix}.json").write_text(json.dumps(doc, indent=1, default=str))
    (args.out / f"{prefix}.md").write_text(markdown(doc))
    print(markdown(doc))
    print(f"suite took {doc['seconds']:.0f} s; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
