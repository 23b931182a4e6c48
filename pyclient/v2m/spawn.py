"""Running the engine as a sidecar of a Python program."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, List, Optional, Type, Union

from .errors import EngineFailed, NotFound, WriterGone
from .reader import Reader

_names = itertools.count()


def find_engine(engine: Union[str, os.PathLike[str], None] = None) -> str:
    """The ``v2m-engine`` binary: ``engine``, then ``$V2M_ENGINE``, then ``PATH``,
    then ``target/release/v2m-engine`` in the current directory or above it."""
    if engine is not None:
        path = os.fspath(engine)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise EngineFailed(f"cannot find v2m-engine at {path}")
    candidates: List[Optional[str]] = [
        os.environ.get("V2M_ENGINE"),
        shutil.which("v2m-engine"),
    ]
    for directory in [Path.cwd(), *Path.cwd().parents]:
        candidates.append(str(directory / "target" / "release" / "v2m-engine"))
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise EngineFailed(
        "cannot find v2m-engine; pass engine=PATH, set V2M_ENGINE, put it on PATH, or build it "
        "with `cargo build --release` in the v2m project"
    )


def _flags(options: dict[str, Any]) -> List[str]:
    args: List[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is not False and value is not None:
            args += [flag, str(value)]
    return args


class Engine:
    """A running ``v2m-engine run`` process started by :func:`spawn`.

    Attributes
    ----------
    name
        The ring name, for :class:`v2m.Reader`.
    process
        The ``subprocess.Popen`` of the engine.
    """

    def __init__(self, process: "subprocess.Popen[bytes]", name: str) -> None:
        self.process = process
        self.name = name
        self._stderr: List[bytes] = []
        self._drain = threading.Thread(target=self._collect_stderr, daemon=True)
        self._drain.start()

    @property
    def pid(self) -> int:
        """The engine's process id."""
        return self.process.pid

    @property
    def stderr(self) -> str:
        """What the engine has written to stderr so far."""
        return b"".join(self._stderr).decode("utf-8", "replace")

    def _collect_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in iter(self.process.stderr.readline, b""):
            self._stderr.append(line)

    def reader(self, start: str = "oldest", **options: Any) -> Reader:
        """A :class:`v2m.Reader` on this engine's ring (``start="oldest"`` by default,
        so nothing published since the engine started is missed)."""
        return Reader(self.name, start=start, **options)

    def running(self) -> bool:
        """True while the engine process has not exited."""
        return self.process.poll() is None

    def stop(self, grace: float = 3.0) -> Optional[int]:
        """SIGTERM (the ring is closed and removed), then SIGKILL after ``grace`` seconds.

        Returns the exit code (0 for a clean stop)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._drain.join(1.0)
        return self.process.returncode

    def __enter__(self) -> "Engine":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()


def spawn(
    source: str = "default",
    name: Optional[str] = None,
    vad: Optional[str] = None,
    *,
    engine: Union[str, os.PathLike[str], None] = None,
    timeout: float = 10.0,
    **options: Any,
) -> Engine:
    """Starts ``v2m-engine run`` and waits until its ring is running.

    Parameters
    ----------
    source
        The engine's ``--source``: ``default``, ``device:NAME``, ``file:PATH``, ``tone:HZ``, …
    name
        Ring name; a unique one is made up when omitted.
    vad
        ``silero``, ``energy`` or ``off`` (the engine's default when omitted).
    engine
        Path of the binary (see :func:`find_engine`).
    timeout
        Seconds to wait for the ring.
    **options
        Further engine flags: ``rate=16000`` becomes ``--rate 16000``, ``loop=True``
        becomes ``--loop``.

    The engine is started with ``--die-with-parent``: the kernel stops it (cleanly) when
    the thread that spawned it exits, so a crashed app never leaves it holding the
    microphone. Call :func:`spawn` from the main thread or a thread that outlives it.

    Raises
    ------
    EngineFailed
        The binary is missing, or the engine exited or did not start in time (its stderr
        is in the message).

    Example
    -------
    >>> with v2m.spawn(source="file:talk.wav") as engine:  # doctest: +SKIP
    ...     with engine.reader() as reader:
    ...         for utterance in reader.utterances():
    ...             print(len(utterance.audio))
    """
    binary = find_engine(engine)
    name = name or f"py{os.getpid()}-{next(_names)}"
    args = [binary, "run", "--name", name, "--source", source, "--die-with-parent"]
    if vad is not None:
        args += ["--vad", vad]
    process = subprocess.Popen(
        args + _flags(options), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    handle = Engine(process, name)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            handle.stop()
            raise EngineFailed(
                f"v2m-engine exited with code {process.returncode} before its ring ran:\n{handle.stderr}"
            )
        try:
            Reader(name).close()
            return handle
        except (NotFound, WriterGone):
            pass
        if time.monotonic() > deadline:
            handle.stop()
            raise EngineFailed(
                f"v2m-engine did not start ring {name!r} within {timeout} s:\n{handle.stderr}"
            )
        time.sleep(0.01)
