"""Running the engine as a sidecar of a Python program."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sysconfig
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, List, Optional, Type, TypedDict, Union

from .errors import EngineFailed, NotFound, WriterGone
from .reader import Reader

if TYPE_CHECKING:
    from typing_extensions import Unpack

_names = itertools.count()


class EngineOptions(TypedDict, total=False):
    """The engine's ``run`` flags as typed keyword arguments of :func:`spawn` (and of
    ``v2m_engine.AudioCapture``); ``rate=16000`` becomes ``--rate 16000``,
    ``loop=True`` becomes ``--loop``. See ``v2m-engine run --help`` for each."""

    rate: int
    frame: int
    slots: int
    vad_threshold: float
    vad_neg_threshold: float
    vad_min_silence_ms: int
    vad_model: Union[str, "os.PathLike[str]"]
    vad_backend: str
    ort_lib: Union[str, "os.PathLike[str]"]
    speed: Union[str, float]
    loop: bool
    duration: float
    linger: float
    device_rate: int
    device_channels: int
    device_buffer_ms: int
    capture_buffer_ms: int
    group_readable: bool
    pace_to_readers: bool
    priority: str
    quiet: bool


def engine_flags(options: EngineOptions) -> List[str]:
    """The command-line flags for ``options``; an unknown option is a TypeError."""
    known = EngineOptions.__annotations__
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(
            f"unknown engine option(s) {', '.join(unknown)}; the options are {', '.join(known)}"
        )
    args: List[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is not False and value is not None:
            args += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return args


def find_engine(engine: Union[str, "os.PathLike[str]", None] = None) -> str:
    """The ``v2m-engine`` binary: ``engine``; else ``$V2M_ENGINE``; else the engine
    installed with this package (the environment's ``bin/``, or the user's); else
    ``PATH``; else ``target/release/v2m-engine`` in the current directory or above."""
    if engine is not None:
        path = os.fspath(engine)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise EngineFailed(f"cannot find v2m-engine at {path}")
    candidates: List[Optional[str]] = [os.environ.get("V2M_ENGINE")]
    for scheme in (None, f"{os.name}_user"):
        try:
            scripts = (
                sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
            )
        except KeyError:
            continue
        candidates.append(os.path.join(scripts, "v2m-engine"))
    candidates.append(shutil.which("v2m-engine"))
    for directory in [Path.cwd(), *Path.cwd().parents]:
        candidates.append(str(directory / "target" / "release" / "v2m-engine"))
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise EngineFailed(
        "cannot find v2m-engine; install the v2m package (pip install v2m, which carries it), "
        "pass engine=PATH, set V2M_ENGINE, or build it with `cargo build --release` in the "
        "v2m project"
    )


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

    def reader(
        self,
        start: str = "oldest",
        *,
        wait: float = 0.0,
        copy: bool = False,
        reattach: bool = False,
        pace: bool = False,
        wake: str = "futex",
        wait_for_vad: bool = True,
        priority: bool = False,
    ) -> Reader:
        """A :class:`v2m.Reader` on this engine's ring.

        ``start="oldest"`` here, where :class:`v2m.Reader` defaults to ``"latest"``: a
        reader of an engine this program just started wants everything it published,
        from the first frame; a reader attaching to a running stream wants what comes
        next, not the last minute of history."""
        return Reader(
            self.name,
            start=start,
            wait=wait,
            copy=copy,
            reattach=reattach,
            pace=pace,
            wake=wake,
            wait_for_vad=wait_for_vad,
            priority=priority,
        )

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
    engine: Union[str, "os.PathLike[str]", None] = None,
    timeout: float = 10.0,
    **options: Unpack[EngineOptions],
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
        Further engine flags, typed (see :class:`EngineOptions`): ``rate=16000`` becomes
        ``--rate 16000``, ``loop=True`` becomes ``--loop``; an unknown one is a TypeError.

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
    flags = engine_flags(options)
    binary = find_engine(engine)
    name = name or f"py{os.getpid()}-{next(_names)}"
    args = [binary, "run", "--name", name, "--source", source, "--die-with-parent"]
    if vad is not None:
        args += ["--vad", vad]
    process = subprocess.Popen(args + flags, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
