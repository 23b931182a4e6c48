"""``v2m-monitor``: a live view of one or more rings, drawn with ``rich``.

Per ring: the engine (state, pid, generation, uptime, source), the input level (RMS
and peak in dBFS, a meter and a history; a meter per channel in a multi-channel ring), the VAD (probability trace with the
threshold, the speech flag, utterances), this reader's frame rate and drops, delivery
latency and publish jitter over the last seconds, and the engine's counters (xruns,
samples lost, source restarts, VAD time per frame). It follows the engine through
restarts and shows the ring closing. When stdout is not a terminal (or with
``--plain``) it prints one plain line per ring per second instead.

    v2m-monitor [--name NAME ...] [--all] [--refresh HZ] [--plain] [--duration S]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Dict, List, Optional, Sequence

from ..discovery import ring_names
from . import add_priority_argument, lower_priority, need, number, ring_name
from .watch import Figures, RingWatch

BLOCKS = "▁▂▃▄▅▆▇█"
METER_DB = 60.0
"""The level meter spans this many dB below full scale."""


def sparkline(values: Sequence[float], low: float, high: float, width: int) -> str:
    """The last ``width`` values as block characters between ``low`` and ``high``."""
    values = list(values)[-width:]
    span = high - low
    return "".join(
        BLOCKS[min(len(BLOCKS) - 1, max(0, int((v - low) / span * len(BLOCKS))))] for v in values
    )


def meter(dbfs: float, width: int) -> str:
    filled = int(max(0.0, min(1.0, (dbfs + METER_DB) / METER_DB)) * width)
    return "█" * filled + "░" * (width - filled)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def plain_line(f: Figures) -> str:
    """One line of text for one ring."""
    head = f"{f.name} {f.state}"
    if f.pid is not None and f.generation is not None:
        head += f" pid {f.pid} gen {f.generation:016x} up {_clock(f.uptime_s)}"
    lat, jit, e = f.latency_us, f.jitter_us, f.engine
    return (
        f"{head} | {f.fps:.1f} fps, {f.frames} frames, dropped {f.dropped} | "
        f"rms {f.rms_dbfs:.1f} peak {f.peak_dbfs:.1f} dBFS{_channels_text(f)} | "
        f"vad {f.vad_prob:.2f} {'speech' if f.speech else 'quiet'} utterances {f.utterances} | "
        f"latency p50 {lat.get('p50', 0):.0f} p99 {lat.get('p99', 0):.0f} "
        f"max {lat.get('max', 0):.0f} us | jitter sd {jit.get('sd', 0):.0f} "
        f"max {jit.get('max', 0):.0f} us | xruns {e.get('device_overruns', 0)} "
        f"lost {e.get('samples_lost', 0)} restarts {e.get('source_restarts', 0)} "
        f"vad {f.vad_us_per_frame:.0f} us/frame"
    )


def _channels_text(f: Figures) -> str:
    """Each channel's RMS, for a ring of more than one channel."""
    if f.channels < 2:
        return ""
    levels = " ".join(f"{k}:{rms:.1f}" for k, rms in enumerate(f.channel_rms_dbfs))
    return f" (channels rms {levels})"


def panel(f: Figures, width: int) -> object:
    """The rich renderable of one ring."""
    rich_panel = need("rich.panel", "v2m-monitor")
    rich_table = need("rich.table", "v2m-monitor")
    rich_text = need("rich.text", "v2m-monitor")
    trace = max(10, width - 50)
    # The value column takes the width that is left (ratio), so a line too long for the
    # terminal ends in "…" instead of being cut off at the border.
    grid = rich_table.Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="bold", no_wrap=True, min_width=8)
    grid.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
    if f.frame_samples:
        grid.add_row(
            "format",
            f"{f.source}  {f.sample_rate} Hz, {f.frame_samples}-sample frames "
            f"({1000 * f.frame_samples / f.sample_rate:g} ms)",
        )
    level = rich_text.Text(meter(f.rms_dbfs, 30), style="green")
    level.append(f"  RMS {f.rms_dbfs:6.1f} dBFS   peak {f.peak_dbfs:6.1f} dBFS")
    grid.add_row("level", level)
    if f.channels > 1:
        for k, (rms, peak) in enumerate(zip(f.channel_rms_dbfs, f.channel_peak_dbfs)):
            row = rich_text.Text(meter(rms, 30), style="green")
            row.append(f"  RMS {rms:6.1f} dBFS   peak {peak:6.1f} dBFS")
            grid.add_row(f"channel {k}", row)
    grid.add_row(
        "history", rich_text.Text(sparkline(f.level_history, -METER_DB, 0, trace), style="green")
    )
    probs = [p for p, _ in f.vad_history]
    grid.add_row(
        "VAD",
        rich_text.Text(sparkline(probs, 0, 1, trace), style="cyan")
        + rich_text.Text(f"  p={f.vad_prob:.2f} (threshold {f.threshold:.2f})"),
    )
    flags = "".join("█" if s else "·" for _, s in f.vad_history[-trace:])
    state = rich_text.Text(flags, style="magenta")
    state.append(f"  {'SPEECH' if f.speech else 'quiet '}  utterances {f.utterances}")
    grid.add_row("speech", state)
    lat, jit = f.latency_us, f.jitter_us
    grid.add_row(
        "delivery",
        f"{f.fps:5.1f} frames/s, {f.frames} read, {f.dropped} dropped; latency p50 "
        f"{lat.get('p50', 0):.0f} p99 {lat.get('p99', 0):.0f} max {lat.get('max', 0):.0f} µs; "
        f"publish jitter sd {jit.get('sd', 0):.0f} max {jit.get('max', 0):.0f} µs",
    )
    e = f.engine
    grid.add_row(
        "engine",
        f"xruns {e.get('device_overruns', 0)}, samples lost {e.get('samples_lost', 0)}, "
        f"source restarts {e.get('source_restarts', 0)}, VAD {f.vad_us_per_frame:.0f} µs/frame",
    )
    title = f"v2m ring [bold]{f.name}[/bold] — {f.state}"
    if f.pid is not None and f.generation is not None:
        title += f", pid {f.pid}, generation {f.generation:016x}, up {_clock(f.uptime_s)}"
    if f.generations_seen > 1:
        title += f" (engine restarted {f.generations_seen - 1}×)"
    style = {"running": "green", "closed": "yellow", "waiting": "blue"}.get(f.state, "red")
    heading = rich_text.Text.from_markup(title, overflow="ellipsis")
    heading.no_wrap = True
    return rich_panel.Panel(grid, title=heading, title_align="left", border_style=style)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="v2m-monitor", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--name", action="append", type=ring_name, help="ring name (repeatable; default: default)"
    )
    parser.add_argument("--all", action="store_true", help="every ring found, as they come and go")
    parser.add_argument(
        "--refresh",
        type=number("redraws per second", low=1, high=20),
        default=4.0,
        help="redraws per second (1-20)",
    )
    parser.add_argument("--plain", action="store_true", help="one text line per ring per second")
    parser.add_argument(
        "--duration", type=number("seconds", above=0), help="stop after this many seconds"
    )
    add_priority_argument(parser)
    args = parser.parse_args(argv)
    lower_priority(args.priority)
    plain = args.plain or not sys.stdout.isatty()
    watches: Dict[str, RingWatch] = {n: RingWatch(n).start() for n in (args.name or ["default"])}
    stop_at = None if args.duration is None else time.monotonic() + args.duration
    interval = 1.0 if plain else 1.0 / args.refresh
    live = None
    if not plain:
        rich_live = need("rich.live", "v2m-monitor")
        rich_console = need("rich.console", "v2m-monitor")
        console = rich_console.Console()
        live = rich_live.Live(console=console, auto_refresh=False, screen=False)
        live.start()
    try:
        while stop_at is None or time.monotonic() < stop_at:
            if args.all:
                for name in ring_names():
                    if name not in watches:
                        watches[name] = RingWatch(name).start()
            time.sleep(interval)
            figures = [w.figures() for w in watches.values()]
            if live is not None:
                rich_console = need("rich.console", "v2m-monitor")
                width = live.console.width
                live.update(rich_console.Group(*(panel(f, width) for f in figures)), refresh=True)
            else:
                for f in figures:
                    print(plain_line(f), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.stop()
        for watch in watches.values():
            watch.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
