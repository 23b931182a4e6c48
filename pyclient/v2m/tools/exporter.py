"""``v2m-exporter``: Prometheus metrics of every ring on the machine, over HTTP.

One exporter serves all rings (or those named); rings may appear and disappear. It
is a ring reader like any other: it never slows the engine or other readers.
Metric names follow Prometheus conventions: a ``v2m_`` prefix, base units
(seconds), ``_total`` for counters, the ring's name as the ``ring`` label.

    v2m-exporter [--port 9464] [--address 127.0.0.1] [--name NAME ...]

It listens on 127.0.0.1 unless told otherwise, and no client can tie it up (see
:mod:`v2m.tools.metrics_http`).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ..discovery import ring_names
from . import add_priority_argument, lower_priority, need, number, ring_name
from .metrics_http import MetricsServer
from .watch import LATENCY_BUCKETS_S, Figures, RingWatch

SCAN_S = 1.0
"""How often the exporter looks for rings that appeared or vanished."""


class RingsCollector:
    """A prometheus_client collector over one :class:`RingWatch` per ring."""

    def __init__(self, names: Optional[List[str]]) -> None:
        self.names = names
        self.watches: Dict[str, RingWatch] = {}
        self._lock = threading.Lock()
        self.scan()

    def scan(self) -> None:
        """Starts watching new rings; forgets rings that are gone and not running."""
        present = set(ring_names())
        with self._lock:
            # Named rings are watched from the start (they may not exist yet).
            for name in (set(self.names) if self.names else present) - set(self.watches):
                self.watches[name] = RingWatch(name).start()
            for name in list(self.watches):
                if name not in present and self.watches[name].state != "running":
                    if not self.names:
                        self.watches.pop(name).close()

    def collect(self) -> Iterator[Any]:
        metrics = need("prometheus_client.core", "v2m-exporter")
        with self._lock:
            figures = [w.figures() for w in self.watches.values()]

        def family(kind: str, name: str, doc: str, **kw: Any) -> Any:
            maker = {
                "counter": metrics.CounterMetricFamily,
                "gauge": metrics.GaugeMetricFamily,
                "info": metrics.InfoMetricFamily,
                "histogram": metrics.HistogramMetricFamily,
            }[kind]
            return maker(name, doc, **kw)

        up = family("gauge", "v2m_engine_up", "1 while the ring's engine runs", labels=["ring"])
        info = family("info", "v2m_engine", "The engine writing the ring", labels=["ring"])
        start = family(
            "gauge",
            "v2m_engine_start_time_seconds",
            "When the ring's engine started (Unix time); changes on every restart",
            labels=["ring"],
        )
        counters = {
            key: family("counter", f"v2m_{key}", doc, labels=["ring"])
            for key, doc in (
                ("frames", "Frames the engine published"),
                ("frames_read", "Frames this exporter read"),
                ("dropped_frames", "Frames this exporter lost to overrun"),
                ("device_overruns", "Capture device overruns (xruns)"),
                ("samples_lost", "Samples lost before they reached the ring"),
                ("source_restarts", "Times the source restarted"),
                ("discontinuities", "Frames published after a gap"),
                ("speech_seconds", "Seconds of audio flagged as speech"),
                ("utterances", "Speech onsets (rising edges of the speech flag)"),
                ("vad_seconds", "Time the engine spent in the VAD"),
                ("vad_frames", "Frames the VAD ran on"),
            )
        }
        level = family(
            "gauge", "v2m_level_dbfs", "Level of the latest frame", labels=["ring", "measure"]
        )
        channel_level = family(
            "gauge",
            "v2m_channel_level_dbfs",
            "Level of the latest frame, per ring channel (counted from 0)",
            labels=["ring", "channel", "measure"],
        )
        probability = family(
            "gauge", "v2m_vad_probability", "VAD probability of the latest frame", labels=["ring"]
        )
        speech = family("gauge", "v2m_speech", "1 while the speech flag is up", labels=["ring"])
        vad_per_frame = family(
            "gauge", "v2m_vad_frame_seconds", "Mean VAD time per frame", labels=["ring"]
        )
        latency = family(
            "histogram",
            "v2m_delivery_latency_seconds",
            "Publish to this exporter holding the frame",
            labels=["ring"],
        )
        for f in figures:
            ring = [f.name]
            running = f.state == "running"
            up.add_metric(ring, 1.0 if running else 0.0)
            if f.generation is None:
                continue
            info.add_metric(
                ring,
                {
                    "generation": f"{f.generation:016x}",
                    "pid": str(f.pid),
                    "source": f.source,
                    "vad": f.vad_kind,
                },
            )
            start.add_metric(ring, f.start_time_s)
            e = f.engine
            values = {
                "frames": f.frames_published,
                "frames_read": f.frames,
                "dropped_frames": f.dropped,
                "device_overruns": e.get("device_overruns", 0),
                "samples_lost": e.get("samples_lost", 0),
                "source_restarts": e.get("source_restarts", 0),
                "discontinuities": e.get("discontinuities", 0),
                "speech_seconds": f.speech_s,
                "utterances": f.utterances,
                "vad_seconds": e.get("vad_ns_total", 0) / 1e9,
                "vad_frames": e.get("vad_frames", 0),
            }
            for key, value in values.items():
                counters[key].add_metric(ring, float(value))
            level.add_metric([f.name, "rms"], f.rms_dbfs)
            level.add_metric([f.name, "peak"], f.peak_dbfs)
            for k, (rms, peak) in enumerate(zip(f.channel_rms_dbfs, f.channel_peak_dbfs)):
                channel_level.add_metric([f.name, str(k), "rms"], rms)
                channel_level.add_metric([f.name, str(k), "peak"], peak)
            probability.add_metric(ring, f.vad_prob)
            speech.add_metric(ring, 1.0 if f.speech else 0.0)
            vad_per_frame.add_metric(ring, f.vad_us_per_frame / 1e6)
            if f.latency_buckets:
                bounds = [f"{b:g}" for b in LATENCY_BUCKETS_S] + ["+Inf"]
                latency.add_metric(
                    ring,
                    list(zip(bounds, (float(c) for c in f.latency_buckets))),
                    f.latency_sum_s,
                )
        yield from (up, info, start, *counters.values(), level, channel_level)
        yield from (probability, speech)
        yield from (vad_per_frame, latency)

    def figures(self) -> List[Figures]:
        with self._lock:
            return [w.figures() for w in self.watches.values()]

    def close(self) -> None:
        with self._lock:
            for watch in self.watches.values():
                watch.close()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="v2m-exporter", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port",
        type=number("", low=0, high=65535, whole=True),
        default=9464,
        help="TCP port (0: any free one, printed at start)",
    )
    parser.add_argument(
        "--address", default="127.0.0.1", help="address to bind (0.0.0.0: every interface)"
    )
    parser.add_argument(
        "--name", action="append", type=ring_name, help="only these rings (default: all)"
    )
    add_priority_argument(parser)
    args = parser.parse_args(argv)
    lower_priority(args.priority)
    prometheus = need("prometheus_client", "v2m-exporter")
    collector = RingsCollector(args.name)
    registry = prometheus.CollectorRegistry()
    registry.register(collector)

    def render() -> Tuple[bytes, str]:
        return prometheus.generate_latest(registry), prometheus.CONTENT_TYPE_LATEST

    try:
        server = MetricsServer(args.address, args.port, render).start()
    except OSError as e:
        print(f"v2m-exporter: cannot listen on {args.address}:{args.port}: {e}", file=sys.stderr)
        collector.close()
        return 2
    print(f"v2m-exporter: serving http://{args.address}:{server.port}/metrics", flush=True)
    try:
        while True:
            time.sleep(SCAN_S)
            collector.scan()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        collector.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
