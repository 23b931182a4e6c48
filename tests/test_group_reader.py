"""A ``--group-readable`` ring and another local user of that group: it can read the
ring, but it cannot write it, keep a dead engine alive (a ``flock`` or read lock that
any read-only descriptor can take), make a new engine refuse the name, or make a
reader hang or crash. The second user is made by the test (root only)."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import stat
import struct
import subprocess
from typing import Callable, Dict, Iterator, Tuple

import pytest

import v2m
from support.engine import ENGINE, Engines, engine_argv, run_engine
from support.rings import ring_file, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="making a second user needs root")
GROUP, USER = "v2m-test", "v2m-test-reader"
_FLOCK = struct.Struct("hh4xqqi4x")


@pytest.fixture(scope="module")
def second_user() -> Iterator[Tuple[int, int]]:
    """``(uid, gid)`` of a user made for the test, alone in a group made for it."""
    made = []
    if subprocess.run(["getent", "group", GROUP], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", GROUP], check=True)
        made.append(["groupdel", GROUP])
    if subprocess.run(["getent", "passwd", USER], capture_output=True).returncode != 0:
        subprocess.run(
            ["useradd", "-M", "-N", "-g", GROUP, "-s", "/usr/sbin/nologin", USER], check=True
        )
        made.insert(0, ["userdel", USER])
    import grp
    import pwd

    yield pwd.getpwnam(USER).pw_uid, grp.getgrnam(GROUP).gr_gid
    for command in made:
        subprocess.run(command, check=False)


class AsUser:
    """A child of this process that became another user (everything it runs was
    imported before: it cannot read the interpreter's files any more) and answers
    requests one line of JSON at a time."""

    def __init__(self, uid: int, gid: int, handlers: Dict[str, Callable[[str], object]]) -> None:
        to_child, self._to_child = os.pipe()
        self._from_child, from_child = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            code = 0
            try:
                os.close(self._to_child)
                os.close(self._from_child)
                os.setgroups([gid])
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
                with os.fdopen(to_child) as requests, os.fdopen(from_child, "w") as answers:
                    for line in requests:
                        what, arg = json.loads(line)
                        try:
                            answer: object = handlers[what](arg)
                        except Exception as e:  # reported to the parent
                            answer = f"{type(e).__name__}: {e}"
                        answers.write(json.dumps(answer) + "\n")
                        answers.flush()
            except BaseException:
                code = 1
            os._exit(code)
        os.close(to_child)
        os.close(from_child)
        self._requests = os.fdopen(self._to_child, "w")
        self._answers = os.fdopen(self._from_child)

    def ask(self, what: str, arg: str = "") -> object:
        self._requests.write(json.dumps([what, arg]) + "\n")
        self._requests.flush()
        line = self._answers.readline()
        assert line, "the other user's process died"
        return json.loads(line)

    def close(self) -> None:
        self._requests.close()
        os.waitpid(self.pid, 0)
        self._answers.close()


_held: list[int] = []  # the attacker's descriptors, kept open (in the child)


def _read(name: str) -> object:
    with v2m.Reader(name, owner=0, wait=5) as reader:
        frame = reader.read(timeout=5)
        return None if frame is None else frame.index


def _open_for_writing(path: str) -> object:
    os.open(path, os.O_RDWR)
    return "opened"


def _lock(path: str) -> object:
    """Takes every lock a read-only descriptor can take, now or never."""
    fd = os.open(path, os.O_RDONLY)
    _held.append(fd)
    taken = []
    for name, op in (("flock shared", fcntl.LOCK_SH), ("flock exclusive", fcntl.LOCK_EX)):
        try:
            fcntl.flock(fd, op | fcntl.LOCK_NB)
            taken.append(name)
        except OSError:
            pass
    for name, kind in (("read lock", fcntl.F_RDLCK), ("write lock", fcntl.F_WRLCK)):
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _FLOCK.pack(kind, os.SEEK_SET, 0, 0, 0))
            taken.append(name)
        except OSError:
            pass
    return taken


def _group_engine(name: str, gid: int, engines: Engines) -> "subprocess.Popen[bytes]":
    proc = subprocess.Popen(
        [str(ENGINE), "run", *engine_argv(name, "tone:440", vad="energy")] + ["--group-readable"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        group=gid,
    )
    engines.procs.append(proc)
    wait_for(lambda: ring_file(name).exists(), what="the group-readable ring")
    return proc


def test_a_group_reader_reads_but_cannot_write_or_keep_a_dead_engine_alive(
    ring_name: str, engines: Engines, second_user: Tuple[int, int]
) -> None:
    uid, gid = second_user
    path = str(ring_file(ring_name))
    engine = _group_engine(ring_name, gid, engines)
    st = os.stat(path)
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o640, gid)
    other = AsUser(uid, gid, {"read": _read, "write": _open_for_writing, "lock": _lock})
    try:
        assert isinstance(other.ask("read", ring_name), int), "the group can read the ring"
        assert str(other.ask("write", path)).startswith("PermissionError")
        engine.send_signal(signal.SIGKILL)
        engine.wait()
        # Right after the engine died: every lock a read-only descriptor can take.
        taken = other.ask("lock", path)
        assert taken == ["flock shared", "flock exclusive", "read lock"], taken
        # ... and none of them keeps the dead engine alive.
        status = run_engine("status", "--name", ring_name, "--json")
        assert json.loads(status.stdout)["state"] == "stale", status.stdout
        assert [r.state for r in v2m.rings() if r.name == ring_name] == ["stale"]
        with pytest.raises(v2m.WriterGone):
            v2m.Reader(ring_name)
        # A new engine takes the name over; a reader of it neither hangs nor fails.
        fresh = _group_engine(ring_name, gid, engines)
        wait_for(
            lambda: [r.pid for r in v2m.rings() if r.name == ring_name] == [fresh.pid],
            what="the new engine's ring",
        )
        with v2m.Reader(ring_name, wait=5) as reader:
            assert reader.info.writer_pid == fresh.pid
            assert reader.read(timeout=5) is not None
        assert other.ask("lock", path) == [], "no lock of a reader conflicts with the writer's"
        assert isinstance(other.ask("read", ring_name), int)
    finally:
        other.close()
