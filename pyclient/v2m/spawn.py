"""Running the engine as a sidecar of a Python program."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import sysconfig
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    List,
    Mapping,
    Optional,
    Type,
    TypedDict,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from . import checks, distribution, layout
from .errors import EngineFailed, EngineRefused, V2MError
from .mapping import RingMapping
from .reader import Reader, ring_path

if TYPE_CHECKING:
    from typing_extensions import Unpack

_names = itertools.count()


class EngineOptions(TypedDict, total=False):
    """The engine's ``run`` flags as typed keyword arguments of :func:`spawn` (and of
    ``v2m_engine.AudioCapture``); ``rate=16000`` becomes ``--rate 16000``,
    ``loop=True`` becomes ``--loop``. See ``v2m-engine run --help`` for each. Every
    ``run`` flag but those :func:`spawn` sets itself (``--name``, ``--source``, ``--vad``,
    ``--die-with-parent``) is here, with its type: ``tests/test_cli_surface.py`` checks
    this against the engine's own definitions (``v2m-engine flags``)."""

    rate: int
    frame: int
    slots: int
    vad_threshold: float
    vad_neg_threshold: float
    vad_min_silence_ms: int
    vad_model: Union[str, "os.PathLike[str]"]
    vad_backend: str
    ort_lib: Union[str, "os.PathLike[str]"]
    host: str
    speed: Union[str, float]
    loop: bool
    duration: float
    linger: float
    device_rate: int
    device_channels: int
    channels: Union[str, int]
    channel_map: str
    vad_channel: Union[str, int]
    device_buffer_ms: int
    wait_for_device: bool
    capture_buffer_ms: int
    group_readable: bool
    pace_to_readers: bool
    priority: str
    quiet: bool
    verbose: bool


def engine_flags(options: EngineOptions) -> List[str]:
    """The command-line flags for ``options``; an unknown option or a value of the wrong
    type is a TypeError (the engine checks the ranges: see :func:`spawn`)."""
    known = get_type_hints(EngineOptions)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(
            f"unknown engine option(s) {', '.join(unknown)}; the options are {', '.join(known)}"
        )
    args: List[str] = []
    for key, value in options.items():
        if value is not None:
            _check_type(key, value, known[key])
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is not False and value is not None:
            args += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return args


def _check_type(key: str, value: object, hint: object) -> None:
    kinds = get_args(hint) if get_origin(hint) is Union else (hint,)
    if not any(_is(value, kind) for kind in kinds):
        names = " or ".join(getattr(k, "__name__", str(k)) for k in kinds)
        raise TypeError(
            f"engine option {key} must be {names}, not {type(value).__name__} {value!r}"
        )


def _is(value: object, kind: object) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False  # True is an int to Python, never a number to the engine
    if kind is float:
        return isinstance(value, (int, float))
    if get_origin(kind) is os.PathLike:
        return isinstance(value, os.PathLike)
    return isinstance(kind, type) and isinstance(value, kind)


def find_engine(engine: Union[str, "os.PathLike[str]", None] = None) -> str:
    """The ``v2m-engine`` binary: ``engine``; else ``$V2M_ENGINE``; else the engine
    installed with this package, where pip puts scripts (the environment's ``bin/``,
    the user's, or ``TARGET/bin`` beside the package for ``pip install --target``),
    as ruff and uv find theirs; else ``PATH``; else ``target/release/v2m-engine`` in
    the current directory or above."""
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
    candidates.append(str(Path(__file__).resolve().parents[1] / "bin" / "v2m-engine"))
    candidates.append(shutil.which("v2m-engine"))
    for directory in [Path.cwd(), *Path.cwd().parents]:
        candidates.append(str(directory / "target" / "release" / "v2m-engine"))
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise EngineFailed(
        f"cannot find v2m-engine; install the package ({distribution.install_hint()}, which "
        "carries it), pass engine=PATH, set V2M_ENGINE, or build it with "
        "`cargo build --release` in the v2m project"
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
        self.generation: Optional[int] = None
        """The generation of this engine's ring, once it runs (:func:`spawn` waits)."""
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
        next, not the last minute of history.

        Raises ``EngineFailed`` if the ring under this engine's name is no longer this
        engine's (it exited, and another engine took the name)."""
        reader = Reader(
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
        if reader.generation != self.generation:
            owner = reader.info.writer_pid
            reader.close()
            exited = self.process.poll()
            raise EngineFailed(
                f"ring {self.name!r} is no longer this engine's (pid {self.pid}"
                + ("" if exited is None else f", exited with code {exited}")
                + f"): engine pid {owner} writes it now"
            )
        return reader

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
    checks.text("source", source)
    if vad is not None:
        checks.one_of("vad", vad, VADS)
    checks.number("timeout", timeout, unit="seconds", above=0)
    flags = engine_flags(options)
    binary = find_engine(engine)
    name = name or f"py{os.getpid()}-{next(_names)}"
    path = ring_path(name)
    args = [binary, "run", "--name", name, "--source", source, "--die-with-parent"]
    if vad is not None:
        args += ["--vad", vad]
    launched_ns = time.monotonic_ns()
    process = subprocess.Popen(args + flags, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    handle = Engine(process, name)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            handle.stop()
            given = {"source": source, "name": name, "vad": vad, **options}
            raise refusal(handle.stderr, process.returncode, name, given)
        # Only this child's ring will do: not a live engine's that owns the name (the
        # child then exits with code 2), nor a finished one's still lingering there.
        handle.generation = own_ring(path, name, process.pid, launched_ns)
        if handle.generation is not None:
            return handle
        if time.monotonic() > deadline:
            handle.stop()
            raise EngineFailed(
                f"v2m-engine did not start ring {name!r} within {timeout} s:\n{handle.stderr}"
            )
        time.sleep(0.01)


VADS = ("silero", "energy", "off")
"""The engine's ``--vad`` choices."""


def own_ring(path: str, name: str, pid: int, launched_ns: int) -> Optional[int]:
    """The generation of the ring at ``path`` if engine ``pid`` (started at
    ``launched_ns``) made it and runs it; None while anything else is there."""
    try:
        ring = RingMapping(path, name, None)
    except V2MError:
        return None
    try:
        info = ring.info
        running = int(ring.state[0]) != layout.STATE_STARTING and ring.writer_alive()
        made_by_it = info.writer_pid == pid and info.created_mono_ns >= launched_ns
        return info.generation if running and made_by_it else None
    finally:
        ring.close()


_CLAP_INVALID = re.compile(
    r"^error: invalid value '(?P<value>.*)' for '--(?P<flag>[a-z0-9-]+)[^']*': (?P<why>.*)$",
    re.M,
)
_ENGINE_ERROR = re.compile(r"^(?:v2m-engine: )?error: (?P<why>.*)$", re.M)
_FLAG = re.compile(r"--([a-z][a-z0-9-]*)")


def refusal(
    stderr: str, code: Optional[int], name: str, given: Mapping[str, object]
) -> EngineFailed:
    """The engine's reason for exiting before its ring ran, in a Python user's words:
    an option value it refused is an :class:`EngineRefused` (a ``ValueError`` too)
    naming the keyword and the value as ``given``; otherwise an :class:`EngineFailed`
    with its message, flags written as keywords (``--slots`` as ``slots=``) and no
    ``--help`` hint."""
    invalid = _CLAP_INVALID.search(stderr)
    if invalid:
        keyword = invalid["flag"].replace("-", "_")
        value = given.get(keyword, invalid["value"])
        return EngineRefused(f"{keyword}={value!r}: {_as_keywords(invalid['why'])}")
    reasons = [m["why"] for m in _ENGINE_ERROR.finditer(stderr)]
    why = "; ".join(reasons) if reasons else stderr.strip() or "no message"
    return EngineFailed(
        f"v2m-engine could not start ring {name!r} (exit code {code}): {_as_keywords(why)}"
    )


def _as_keywords(text: str) -> str:
    """``--flag-name`` as ``flag_name=``, the way spawn() takes it."""
    return _FLAG.sub(lambda m: m[1].replace("-", "_") + "=", text)
