"""A private PulseAudio server with a null sink: a capture device with a real clock.

Its sink's monitor is a source that runs in real time, reached by the engine
through ALSA's `pulse` PCM (cpal → ALSA → libpulse), so faults such as the
server dying can be tested for real.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

SINK = "v2mtest"
CHANNEL_MAPS = {
    1: "mono",
    2: "front-left,front-right",
    4: "front-left,front-right,rear-left,rear-right",
}
"""The layouts cpal's PulseAudio host asks for. A sink of another channel map (a null
sink's own default for 4 channels is front-left,front-center,front-right,rear-center)
is remixed by the server into the stream's layout, channels bleeding into each other."""


class PulseServer:
    def __init__(self, runtime_dir: Path, feed: Path, rate: int = 16000, channels: int = 1) -> None:
        """`feed` is raw s16le audio of `channels` interleaved channels at `rate`,
        played into the null sink `SINK` in a loop."""
        self.runtime_dir = runtime_dir
        self.feed = feed
        self.rate = rate
        self.channels = channels
        self.env: Dict[str, str] = dict(
            os.environ,
            XDG_RUNTIME_DIR=str(runtime_dir),
            PULSE_SERVER=f"unix:{runtime_dir}/pulse/native",
            PULSE_SOURCE=f"{SINK}.monitor",
        )
        self.feeders: List[subprocess.Popen[bytes]] = []

    @staticmethod
    def available() -> bool:
        return all(shutil.which(tool) for tool in ("pulseaudio", "pactl", "pacat"))

    def start(self) -> None:
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "pulseaudio",
                "-n",
                "--daemonize=yes",
                "--exit-idle-time=-1",
                "--disallow-exit",
                "--log-target=stderr",
                "--load=module-native-protocol-unix",
                f"--load=module-null-sink sink_name={SINK} rate={self.rate} "
                f"channels={self.channels} channel_map={CHANNEL_MAPS[self.channels]}",
            ],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=20,
        )
        self._wait(lambda: self._pactl("info") == 0, "the server to answer")
        # Keep the sink running: a null sink's monitor only produces while fed.
        self.play(SINK, self.feed, self.channels)

    def play(self, sink: str, feed: Path, channels: int = 1, loop: bool = False) -> None:
        """Plays raw s16le `feed` into `sink`, once or (`loop`) again and again, until
        the server stops."""
        pacat = [
            "pacat",
            "--playback",
            f"--device={sink}",
            "--raw",
            "--format=s16le",
            f"--rate={self.rate}",
            f"--channels={channels}",
            f"--channel-map={CHANNEL_MAPS[channels]}",
            str(feed),
        ]
        command = ["sh", "-c", 'while "$@"; do :; done', "loop", *pacat] if loop else pacat
        self.feeders.append(
            subprocess.Popen(
                command,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # its own group: stop() ends a loop and its pacat
            )
        )

    def add_sink(self, name: str, channels: int = 1) -> int:
        """Loads another null sink (its monitor is the source `NAME.monitor`); the
        module's index."""
        loaded = subprocess.run(
            ["pactl", "load-module", "module-null-sink", f"sink_name={name}"]
            + [
                f"rate={self.rate}",
                f"channels={channels}",
                f"channel_map={CHANNEL_MAPS[channels]}",
            ],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return int(loaded.stdout.strip())

    def remove_module(self, index: int) -> None:
        """Unloads a module (a sink added by `add_sink`: its device disappears)."""
        subprocess.run(["pactl", "unload-module", str(index)], env=self.env, timeout=10, check=True)

    def set_default_source(self, name: str) -> None:
        subprocess.run(["pactl", "set-default-source", name], env=self.env, timeout=10, check=True)

    def stop(self) -> None:
        for feeder in self.feeders:
            try:
                os.killpg(feeder.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            feeder.wait()
        self.feeders.clear()
        subprocess.run(["pulseaudio", "--kill"], env=self.env, capture_output=True, timeout=20)
        self._wait(lambda: self._pactl("info") != 0, "the server to exit")

    def pid(self) -> int:
        """The server's process id (it daemonizes, so it is not a child of ours)."""
        return int((self.runtime_dir / "pulse" / "pid").read_text())

    def _pactl(self, *args: str) -> int:
        return subprocess.run(
            ["pactl", *args], env=self.env, capture_output=True, timeout=10
        ).returncode

    @staticmethod
    def _wait(condition: "callable[[], bool]", what: str, timeout: float = 15.0) -> None:  # type: ignore[valid-type]
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.05)


def tone_file(path: Path, seconds: float, rate: int = 16000, hz: float = 440.0) -> Path:
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    (0.3 * 32767 * np.sin(2 * np.pi * hz * t)).astype("<i2").tofile(path)
    return path


__all__ = ["PulseServer", "tone_file", "Optional"]
