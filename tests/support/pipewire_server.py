"""A private PipeWire server with a null sink: a capture device with a real clock.

PipeWire's counterpart of `pulse_server.PulseServer`, for the engine's native
PipeWire host (`--host pipewire`). The server runs in its own runtime directory
with its own D-Bus session bus (WirePlumber, the session manager that links a
capture stream to its target, needs one), so it touches nothing of the user's.
The null sink drives the graph on its own timer at `rate`; capturing it
(`--source device:v2mtest`) records what is played into it, which is the feed,
played in a loop by `pw-cat`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import wave
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import numpy.typing as npt

SINK = "v2mtest"
TOOLS = (
    "pipewire",
    "wireplumber",
    "pw-cat",
    "pw-cli",
    "pw-metadata",
    "dbus-daemon",
)

SERVER_CONF = """\
context.properties = {{
    default.clock.rate = {rate}
    default.clock.allowed-rates = [ {rate} ]
}}
context.objects = [
{sinks}]
"""
SINK_CONF = """\
    {{ factory = adapter
        args = {{
            factory.name     = support.null-audio-sink
            node.name        = "{name}"
            node.description = "v2m test sink {name}"
            media.class      = Audio/Sink
            audio.position   = [ {positions} ]
            audio.rate       = {rate}
            priority.session = {priority}
            object.linger    = true
        }}
    }}
"""
POSITIONS = {1: "MONO", 2: "FL FR", 4: "FL FR RL RR"}
"""Channel positions by count; PipeWire maps a stream's channels onto a node's by
position, so a sink of these positions carries each channel through unmixed."""


class PipeWireServer:
    def __init__(
        self,
        runtime_dir: Path,
        feed: Path,
        rate: int = 16000,
        pulse: bool = False,
        channels: int = 1,
        more_sinks: Sequence[str] = (),
    ) -> None:
        """`feed` is a 16-bit WAV file of `channels` channels, played into the sink
        `SINK` (of as many channels) in a loop. With `pulse`, pipewire-pulse serves
        PulseAudio clients too (`PULSE_SERVER`). `more_sinks` are mono null sinks
        beside it, silent until something plays into them; `SINK` stays the default."""
        self.runtime_dir = runtime_dir
        self.feed = feed
        self.rate = rate
        self.pulse = pulse
        self.channels = channels
        self.more_sinks = list(more_sinks)
        self.env: Dict[str, str] = dict(
            os.environ,
            XDG_RUNTIME_DIR=str(runtime_dir),
            XDG_CONFIG_HOME=str(runtime_dir / "config"),
            DBUS_SESSION_BUS_ADDRESS=f"unix:path={runtime_dir}/bus",
            PIPEWIRE_RUNTIME_DIR=str(runtime_dir),
            PULSE_SERVER=f"unix:{runtime_dir}/pulse/native",
        )
        self.env.pop("PIPEWIRE_REMOTE", None)
        self.processes: List[subprocess.Popen[bytes]] = []
        self.feeder: Optional[subprocess.Popen[bytes]] = None
        self.server: Optional[subprocess.Popen[bytes]] = None
        self.session_manager: Optional[subprocess.Popen[bytes]] = None
        self.pulse_server: Optional[subprocess.Popen[bytes]] = None

    @staticmethod
    def available() -> bool:
        return all(shutil.which(tool) for tool in TOOLS)

    def start(self) -> None:
        conf_dir = self.runtime_dir / "config" / "pipewire" / "pipewire.conf.d"
        conf_dir.mkdir(parents=True, exist_ok=True)
        sinks = [(SINK, self.channels, 2000)] + [(name, 1, 1) for name in self.more_sinks]
        conf = SERVER_CONF.format(
            rate=self.rate,
            sinks="".join(
                SINK_CONF.format(
                    name=name, positions=POSITIONS[channels], rate=self.rate, priority=priority
                )
                for name, channels, priority in sinks
            ),
        )
        (conf_dir / "v2m-null-sink.conf").write_text(conf)
        self._spawn(
            ["dbus-daemon", "--session", "--nofork", f"--address=unix:path={self.runtime_dir}/bus"]
        )
        self._wait(lambda: (self.runtime_dir / "bus").exists(), "the D-Bus session bus")
        self.start_server()
        self.start_feed()

    def start_server(self) -> None:
        """Starts (or, after `kill_server`, restarts) the PipeWire daemon and
        its session manager."""
        self.server = self._spawn(["pipewire"])
        self._wait(lambda: self._pw_cli("info", "0") == 0, "the PipeWire server to answer")
        self.session_manager = self._spawn(["wireplumber"])
        self._wait(self._sink_is_default, "WirePlumber to pick the null sink")
        if self.pulse:
            self.pulse_server = self._spawn(["pipewire-pulse"])
            socket = self.runtime_dir / "pulse" / "native"
            self._wait(socket.exists, "pipewire-pulse to listen")

    def pids(self) -> List[int]:
        """The process ids of the PipeWire daemon, WirePlumber and pipewire-pulse."""
        servers = (self.server, self.session_manager, self.pulse_server)
        return [p.pid for p in servers if p is not None]

    def kill_server(self) -> None:
        """Kills the PipeWire daemon outright, as a crash would (its session
        manager, pipewire-pulse and the feed lose their server and go too)."""
        for process in (self.server, self.session_manager, self.pulse_server):
            if process is not None:
                process.kill()
                process.wait(10)
                self.processes.remove(process)
        self.server = self.session_manager = self.pulse_server = None
        if self.feeder is not None and self.feeder.poll() is None:
            os.killpg(self.feeder.pid, signal.SIGKILL)
            self.feeder.wait(10)
            self.processes.remove(self.feeder)
        self.feeder = None

    def start_feed(self) -> None:
        """Plays the feed into the sink, again and again."""
        loop = f"while pw-cat --playback --target {SINK} '{self.feed}'; do :; done"
        self.feeder = self._spawn(["sh", "-c", loop], new_session=True)

    def stop(self) -> None:
        if self.feeder is not None and self.feeder.poll() is None:
            os.killpg(self.feeder.pid, signal.SIGKILL)
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
        self.processes.clear()

    def _spawn(self, argv: List[str], new_session: bool = False) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            argv,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=new_session,
        )
        self.processes.append(process)
        return process

    def set_default_source(self, node: str) -> None:
        """Makes `node` (a sink: its monitor) the default source, as a desktop's
        sound settings do."""
        subprocess.run(
            ["pw-metadata", "0", "default.audio.source", f'{{"name":"{node}"}}'],
            env=self.env,
            capture_output=True,
            timeout=10,
            check=True,
        )

    def _pw_cli(self, *args: str) -> int:
        return subprocess.run(
            ["pw-cli", *args], env=self.env, capture_output=True, timeout=10
        ).returncode

    def _sink_is_default(self) -> bool:
        metadata = subprocess.run(
            ["pw-metadata"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return f"key:'default.audio.sink' value:'{{\"name\":\"{SINK}\"}}'" in metadata.stdout

    @staticmethod
    def _wait(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.05)


def wav_file(path: Path, samples: npt.NDArray[np.float64], rate: int) -> Path:
    """Writes `samples` (floats in [-1, 1]; shape (n,) or (n, channels)) as a
    16-bit WAV file."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1 if samples.ndim == 1 else samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


__all__ = ["PipeWireServer", "SINK", "wav_file"]
