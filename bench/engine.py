"""What the engine itself costs: added latency, CPU and memory at 16 kHz real time.

Engine-added latency is `publish_ns - arrival_ns` of every frame: from the
moment the capture callback received the frame's last sample to the moment
the frame was published, so it includes the SPSC hand-off, resampling, the
VAD and the ring write. Since layout 1.2 the samples go out before the VAD:
`samples_ns - arrival_ns` is what a reader of audio (`wait_for_vad=False`)
waits, and `publish_ns - samples_ns` is the VAD's share. The live cases capture from a private PulseAudio
server's null sink (a real-time clocked device; this machine has no sound
card) through cpal's ALSA backend; a tone is played into the sink.

    .venv/bin/python bench/engine.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import v2m  # noqa: E402
from support.pipewire_server import SINK, PipeWireServer, wav_file  # noqa: E402
from support.pulse_server import PulseServer, tone_file  # noqa: E402

ENGINE = os.environ.get("V2M_ENGINE", str(ROOT / "target" / "release" / "v2m-engine"))
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_kib(pid: int) -> Dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


ONLY = ""
"""Cases whose name does not contain this are skipped (``--only``)."""
EXTRA_ARGS: List[str] = []
"""Engine flags every case gets (``--priority``)."""


def run_case(
    label: str,
    args: List[str],
    seconds: float,
    env: Optional[Dict[str, str]] = None,
    server_pids: Sequence[int] = (),
) -> Optional[Dict[str, object]]:
    if ONLY not in label:
        return None
    name = f"bench-engine-{os.getpid()}"
    engine = subprocess.Popen(
        [ENGINE, "run", "--name", name, *args, *EXTRA_ARGS], env=env, stderr=subprocess.DEVNULL
    )
    added, samples_added, vad_after, frames = [], [], [], 0
    try:
        with v2m.Reader(name, wait=10) as reader:
            for _ in range(10):  # let the device settle
                reader.read(timeout=5)
            cpu0, wall0 = cpu_seconds(engine.pid), time.monotonic()
            server0 = sum(cpu_seconds(pid) for pid in server_pids)
            while time.monotonic() - wall0 < seconds:
                frame = reader.read(timeout=5)
                if frame is None:
                    break
                frames += 1
                added.append((frame.publish_ns - frame.arrival_ns) / 1000)
                if frame.samples_ns:  # an engine of layout 1.2 or later
                    samples_added.append((frame.samples_ns - frame.arrival_ns) / 1000)
                    vad_after.append((frame.publish_ns - frame.samples_ns) / 1000)
            cpu = cpu_seconds(engine.pid) - cpu0
            server_cpu = sum(cpu_seconds(pid) for pid in server_pids) - server0
            wall = time.monotonic() - wall0
            memory = memory_kib(engine.pid)
            stats = reader.stats()
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(10)
    lat = np.asarray(added)
    early = np.asarray(samples_added or [np.nan])
    vad = np.asarray(vad_after or [np.nan])
    return {
        "samples_p50": float(np.percentile(early, 50)),
        "samples_p99": float(np.percentile(early, 99)),
        "vad_after_p99": float(np.percentile(vad, 99)),
        "case": label,
        "frames": frames,
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
        "max": float(lat.max()),
        "cpu": 100 * cpu / wall,
        "server_cpu": 100 * server_cpu / wall if server_pids else float("nan"),
        "rss_mib": memory.get("VmRSS", 0) / 1024,
        "hwm_mib": memory.get("VmHWM", 0) / 1024,
        "lost": stats["samples_lost"] + stats["device_overruns"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--vad", default="silero", help="engine --vad (silero is the default)")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this")
    parser.add_argument(
        "--priority", default="realtime", help="engine --priority (realtime is the default)"
    )
    parser.add_argument("--load", action="store_true", help="stress-ng --cpu 2 throughout")
    parser.add_argument("--vad-backend", default="native", help="engine --vad-backend")
    args = parser.parse_args()
    global ONLY
    ONLY = args.only
    rows: List[Optional[Dict[str, object]]] = []
    EXTRA_ARGS[:] = [] if args.priority == "realtime" else ["--priority", args.priority]
    if args.vad_backend != "native":
        EXTRA_ARGS.extend(["--vad-backend", args.vad_backend])
    load = (
        subprocess.Popen(["stress-ng", "--cpu", "2", "--quiet"], stderr=subprocess.DEVNULL)
        if args.load
        else None
    )
    try:
        return _run_cases(args, rows)
    finally:
        if load is not None:
            load.terminate()
            load.wait(10)


def pipewire_case(tmp: Path, args: argparse.Namespace) -> Optional[Dict[str, object]]:
    """The native PipeWire host (an engine built with `--features pipewire`) on a
    private PipeWire server whose graph runs at 16 kHz."""
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(600 * 16000) / 16000)
    server = PipeWireServer(tmp / "pipewire", wav_file(tmp / "tone.wav", tone, 16000))
    server.start()
    try:
        return run_case(
            "device pipewire, 16 kHz mono",
            ["--source", f"device:{SINK}", "--vad", args.vad, "--host", "pipewire"],
            args.seconds,
            server.env,
            server.pids(),
        )
    finally:
        server.stop()


def _run_cases(args: argparse.Namespace, rows: List[Optional[Dict[str, object]]]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(
            run_case(
                "file, 16 kHz, real time",
                ["--source", f"file:{ROOT}/assets/speech.wav", "--loop", "--vad", args.vad],
                args.seconds,
            )
        )
        if PulseServer.available():
            for host, rate, channels, extra in (
                ("alsa", 16000, 1, []),
                ("pulseaudio", 16000, 1, []),
                ("alsa", 48000, 2, ["--device-rate", "48000", "--device-channels", "2"]),
            ):
                pulse = PulseServer(
                    Path(tmp) / f"pulse{rate}{host}",
                    tone_file(Path(tmp) / f"tone{rate}{host}.raw", 600, rate),
                    rate,
                )
                pulse.start()
                # Through ALSA the server is the `pulse` plugin device; natively, its
                # default source (the null sink's monitor).
                source = "device:pulse" if host == "alsa" else "default"
                try:
                    mono = "mono" if channels == 1 else "stereo"
                    rows.append(
                        run_case(
                            f"device {host}, {rate // 1000} kHz {mono}",
                            ["--source", source, "--vad", args.vad, *extra]
                            + ([] if host == "alsa" else ["--host", host]),
                            args.seconds,
                            pulse.env,
                            [pulse.pid()],
                        )
                    )
                finally:
                    pulse.stop()
        else:
            print("pulseaudio not installed: device cases skipped", file=sys.stderr)
        if PipeWireServer.available():
            rows.append(pipewire_case(Path(tmp), args))
        else:
            print("pipewire not installed: its case skipped", file=sys.stderr)
    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}; "
        f"{args.seconds:g} s per case, 512-sample frames at 16 kHz, --vad {args.vad} "
        f"(--vad-backend {args.vad_backend}), "
        f"--priority {args.priority}{', both cores loaded' if args.load else ''}; "
        "added = arrival -> whole frame, samples = arrival -> samples, vad = samples -> whole"
    )
    print(
        f"{'case':<30} {'frames':>6} {'added p50 µs':>12} {'p99 µs':>8} {'max µs':>8} "
        f"{'samples p50':>11} {'p99':>6} {'vad p99':>8} "
        f"{'CPU %':>6} {'server %':>8} {'RSS MiB':>8} {'peak MiB':>8} {'lost':>5}"
    )
    for r in filter(None, rows):
        server = "–" if np.isnan(r["server_cpu"]) else f"{r['server_cpu']:.2f}"
        print(
            f"{r['case']:<30} {r['frames']:>6} {r['p50']:>12.0f} {r['p99']:>8.0f} {r['max']:>8.0f} "
            f"{r['samples_p50']:>11.0f} {r['samples_p99']:>6.0f} {r['vad_after_p99']:>8.0f} "
            f"{r['cpu']:>6.2f} {server:>8} {r['rss_mib']:>8.1f} {r['hwm_mib']:>8.1f} "
            f"{r['lost']:>5}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
