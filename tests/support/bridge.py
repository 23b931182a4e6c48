"""The bridge binary under test: publishers and mirrors that never outlive a test,
each with its stderr in a file the test can read."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import IO, List, Optional

from support.engine import ROOT

BRIDGE = Path(os.environ.get("V2M_BRIDGE", ROOT / "target" / "release" / "v2m-bridge"))


class Bridge:
    """One ``v2m-bridge`` process."""

    def __init__(self, args: List[str], netns: Optional[str] = None) -> None:
        self.args = args
        self._log: IO[bytes] = tempfile.TemporaryFile()
        prefix = ["ip", "netns", "exec", netns] if netns else []
        self.proc = subprocess.Popen(
            [*prefix, str(BRIDGE), *args], stdout=subprocess.PIPE, stderr=self._log
        )

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired as slow:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    f"v2m-bridge {self.args} ignored {sig}:\n{self.log()}"
                ) from slow
        return self.proc.returncode


class Bridges:
    """Starts bridges and stops every one at the end of the test."""

    def __init__(self) -> None:
        self.running: List[Bridge] = []

    def start(self, *args: str, netns: Optional[str] = None) -> Bridge:
        bridge = Bridge(list(args), netns)
        self.running.append(bridge)
        return bridge

    def stop_all(self) -> None:
        for bridge in self.running:
            if bridge.proc.poll() is None:
                bridge.proc.kill()
                bridge.proc.wait()
