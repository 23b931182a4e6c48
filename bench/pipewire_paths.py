"""Four ways from a PipeWire server into the engine: what each costs.

On a PipeWire desktop the engine can reach the server natively (`--host pipewire`,
an engine built with `--features pipewire`), through pipewire-pulse natively
(`--host pulseaudio`), or through ALSA, by PipeWire's own ALSA plugin
(`device:pipewire`) or PulseAudio's (`device:pulse`, served by pipewire-pulse).
This runs all four against one private PipeWire server (null sink, graph at
16 kHz, a tone played into it) and prints engine-added latency, the engine's CPU
and the servers' CPU (PipeWire, WirePlumber, pipewire-pulse).

It needs Debian's pipewire-alsa and pipewire-pulse, which `make deps` does not
install: pipewire-pulse replaces pulseaudio (which the tests use), and
pipewire-alsa makes PipeWire the ALSA default device. Install them for the run:

    apt-get install --no-install-recommends pipewire-alsa pipewire-pulse
    .venv/bin/python bench/pipewire_paths.py [--seconds 10] [--vad silero]
    apt-get purge pipewire-alsa pipewire-pulse && apt-get install pulseaudio
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import run_case  # noqa: E402
from support.pipewire_server import SINK, PipeWireServer, wav_file  # noqa: E402

PATHS = (
    ("native pipewire", ["--host", "pipewire", "--source", f"device:{SINK}"]),
    ("native pulseaudio (pw-pulse)", ["--host", "pulseaudio", "--source", "default"]),
    ("alsa, pipewire plugin", ["--host", "alsa", "--source", "device:pipewire"]),
    ("alsa, pulse plugin (pw-pulse)", ["--host", "alsa", "--source", "device:pulse"]),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--vad", default="silero")
    parser.add_argument(
        "--alsa-buffers",
        default="",
        help="also run the PipeWire ALSA plugin path at these --device-buffer-ms (e.g. 0,2,10,32)",
    )
    args = parser.parse_args()
    paths = list(PATHS) + [
        (
            f"alsa, pipewire plugin, {ms} ms",
            ["--source", "device:pipewire", "--device-buffer-ms", ms],
        )
        for ms in filter(None, args.alsa_buffers.split(","))
    ]
    if not (PipeWireServer.available() and shutil.which("pipewire-pulse")):
        print("needs pipewire, wireplumber and pipewire-pulse (see the docstring)", file=sys.stderr)
        return 2
    if not Path("/usr/share/alsa/alsa.conf.d/50-pipewire.conf").exists():
        print("needs pipewire-alsa (see the docstring)", file=sys.stderr)
        return 2
    print(
        f"# {platform.machine()}, {time.strftime('%Y-%m-%d')}; {args.seconds:g} s per path, "
        f"512-sample frames at 16 kHz, --vad {args.vad}; PipeWire graph at 16 kHz"
    )
    print(
        f"{'path':<31} {'added p50 µs':>12} {'p99 µs':>8} {'samples p50':>11} {'p99':>6} "
        f"{'engine CPU %':>12} {'servers %':>9} {'lost':>5}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(600 * 16000) / 16000)
        server = PipeWireServer(
            Path(tmp) / "pw", wav_file(Path(tmp) / "tone.wav", tone, 16000), pulse=True
        )
        server.start()
        try:
            for label, engine_args in paths:
                r = run_case(
                    label,
                    [*engine_args, "--vad", args.vad],
                    args.seconds,
                    server.env,
                    server.pids(),
                )
                assert r is not None
                print(
                    f"{label:<31} {r['p50']:>12.0f} {r['p99']:>8.0f} {r['samples_p50']:>11.0f} "
                    f"{r['samples_p99']:>6.0f} {r['cpu']:>12.2f} {r['server_cpu']:>9.2f} "
                    f"{r['lost']:>5}"
                )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
