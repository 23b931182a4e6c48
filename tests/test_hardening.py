"""/dev/shm/v2m-NAME is contested ground: the engine, the reader and `status` refuse
what is not theirs, never hang on it and never remove it; two engines racing for a
stale ring never orphan one another; what a dead engine leaves is cleaned up."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

import v2m
from support.engine import ENGINE, PYTHON, Engines, engine_argv, run_engine
from support.rings import OTHER_UID, can_chown, dead_pid, ring_file, wait_for
from v2m import layout
from v2m.liveness import flock_held

FAST = 10  # seconds: anything that hangs fails long before pytest's patience ends


def _plant(kind: str, path: Path, real_segment: bytes, elsewhere: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    elif kind == "symlink loop":
        os.symlink(path, path)
    elif kind == "dangling symlink":
        os.symlink(elsewhere / "nothing-here", path)
    elif kind == "symlink to a ring":
        target = elsewhere / "ring"
        target.write_bytes(real_segment)
        os.symlink(target, path)
    elif kind == "not a ring":
        path.write_bytes(b"precious user data " * 100)
    else:
        raise ValueError(kind)


def _snapshot(path: Path) -> object:
    """What is at ``path``, to prove nothing touched it."""
    st = os.lstat(path)
    content = os.readlink(path) if os.path.islink(path) else None
    if path.is_file() and not path.is_symlink():
        content = path.read_bytes()
    return (st.st_ino, st.st_mode, content)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    elif os.path.lexists(path):
        path.unlink()


@pytest.fixture
def squatted(ring_name: str) -> Iterator[Path]:
    path = ring_file(ring_name)
    yield path
    _remove(path)


KINDS = {
    "fifo": "is a FIFO",
    "directory": "is a directory",
    "socket": "is a socket",
    "symlink loop": "is a symbolic link",
    "dangling symlink": "is a symbolic link",
    "symlink to a ring": "is a symbolic link",
    "not a ring": "is not a v2m ring",
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_engine_refuses_what_is_in_the_way_and_leaves_it_alone(
    kind: str, squatted: Path, ring_name: str, real_segment: bytes, tmp_path: Path
) -> None:
    _plant(kind, squatted, real_segment, tmp_path)
    before = _snapshot(squatted)
    result = run_engine("run", *engine_argv(ring_name, "silence", vad="off"), timeout=FAST)
    assert result.returncode == 2, result.stderr
    assert KINDS[kind] in result.stderr and str(squatted) in result.stderr, result.stderr
    assert "rm " in result.stderr, "the message says what to do"
    assert _snapshot(squatted) == before, "the engine touched what was in the way"
    if kind == "symlink to a ring":
        assert (tmp_path / "ring").read_bytes() == real_segment, "the link's target is untouched"
    status = run_engine("status", "--name", ring_name, timeout=FAST)
    assert status.returncode == 2 and KINDS[kind] in status.stderr, status.stderr


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_reader_refuses_what_is_in_the_way_at_once(
    kind: str, squatted: Path, ring_name: str, real_segment: bytes, tmp_path: Path
) -> None:
    _plant(kind, squatted, real_segment, tmp_path)
    started = time.monotonic()
    # wait= must not turn a refusal into a hang: the thing in the way stays.
    with pytest.raises(v2m.LayoutError) as refused:
        v2m.Reader(ring_name, wait=5)
    assert time.monotonic() - started < 2
    assert str(squatted) in str(refused.value)
    if kind != "not a ring":
        assert isinstance(refused.value, v2m.NotARing), refused.value


def test_a_fifo_given_as_a_file_source_is_refused_without_hanging(
    tmp_path: Path, ring_name: str
) -> None:
    fifo = tmp_path / "audio.wav"
    os.mkfifo(fifo)
    result = run_engine("run", *engine_argv(ring_name, f"file:{fifo}"), timeout=FAST)
    assert result.returncode == 2 and "not a regular file" in result.stderr, result.stderr
    assert not ring_file(ring_name).exists()


@pytest.mark.skipif(not can_chown(), reason="planting another user's file needs root")
def test_another_users_file_is_neither_removed_nor_trusted(
    squatted: Path, ring_name: str, real_segment: bytes
) -> None:
    # A forged, running ring of another user, kept "alive" by its write lock.
    forged = bytearray(real_segment)
    struct.pack_into("<I", forged, layout.HEADER_FIELDS["state"][0], layout.STATE_RUNNING)
    squatted.write_bytes(bytes(forged))
    os.chown(squatted, OTHER_UID, OTHER_UID)
    holder = subprocess.Popen(
        [
            PYTHON,
            "-c",
            "import os, sys, time\n"
            "from support.python_writer import hold_write_lock\n"
            f"f = open({str(squatted)!r}, 'r+b')\n"
            "hold_write_lock(f.fileno())\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(v2m.PermissionDenied, match=f"uid {OTHER_UID}"):
            v2m.Reader(ring_name)
        # Trusting another user is explicit.
        with v2m.Reader(ring_name, owner=OTHER_UID) as trusted:
            assert trusted.slots == 16
        result = run_engine("run", *engine_argv(ring_name, "silence"), timeout=FAST)
        assert result.returncode == 2 and f"belongs to uid {OTHER_UID}" in result.stderr
        assert squatted.read_bytes() == bytes(forged)
        holder.kill()
        holder.wait()
        # Even with its engine gone, it is not ours to remove.
        result = run_engine("run", *engine_argv(ring_name, "silence"), timeout=FAST)
        assert result.returncode == 2 and squatted.read_bytes() == bytes(forged)
    finally:
        holder.kill()
        holder.wait()


def test_a_sparse_huge_file_is_a_layout_error_not_a_memory_error(
    squatted: Path, ring_name: str, real_segment: bytes
) -> None:
    squatted.write_bytes(real_segment)
    os.truncate(squatted, 100 << 40)  # 100 TiB, nothing allocated
    with pytest.raises(v2m.LayoutError, match=str(squatted)):
        v2m.Reader(ring_name)


def test_a_consistent_header_with_absurd_geometry_is_refused_before_mapping(
    squatted: Path, ring_name: str, real_segment: bytes
) -> None:
    header = bytearray(real_segment[: layout.HEADER_USED])

    def put(name: str, value: int) -> None:
        offset, code = layout.HEADER_FIELDS[name]
        struct.pack_into("<" + code, header, offset, value)

    slots = 1 << 24
    samples_offset = (4096 + slots * 64 + 4095) // 4096 * 4096
    total = samples_offset + slots * 2048
    put("slot_count", slots)
    put("samples_offset", samples_offset)
    put("total_size", total)
    squatted.write_bytes(bytes(header))
    os.truncate(squatted, total)
    with pytest.raises(v2m.LayoutError, match="slot count 16777216"):
        v2m.Reader(ring_name)


def _locked_exclusively(path: Path) -> bool:
    """True while someone holds an exclusive ``flock`` on the file at ``path`` (the
    package's own test of an ``flock``)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        return flock_held(fd)
    finally:
        os.close(fd)


def test_two_engines_racing_for_a_stale_ring_never_delete_each_others_ring(
    ring_name: str, engines: Engines
) -> None:
    # A stale ring: its engine killed without a chance to remove it.
    first = engines.run(ring_name, "silence", vad="off")
    wait_for(lambda: ring_file(ring_name).exists(), what="the first ring")
    first.kill()
    first.wait()
    removal_lock = Path(f"/dev/shm/.v2m-{ring_name}.lock")
    # Engine A decides the ring is stale and is held just before removing it (for 1 s,
    # well inside the 3 s an engine waits for another engine's removal lock) ...
    a = subprocess.Popen(
        [str(ENGINE), "run", *engine_argv(ring_name, "silence", vad="off")],
        env=dict(os.environ, V2M_TEST_PAUSE_BEFORE_STALE_UNLINK_MS="1000"),
        stderr=subprocess.PIPE,
        text=True,
    )
    engines.procs.append(a)  # type: ignore[arg-type]
    # A removes under the name's removal lock (an engine that removed without it
    # fails here). A busy machine may take a while to start A.
    wait_for(
        lambda: _locked_exclusively(removal_lock),
        timeout=10,
        what="engine A to hold the removal lock while it removes the stale ring",
    )
    b = subprocess.Popen(
        [str(ENGINE), "run", *engine_argv(ring_name, "silence", vad="off")],
        stderr=subprocess.PIPE,
        text=True,
    )
    engines.procs.append(b)  # type: ignore[arg-type]
    # Once A removes the stale ring, A and B race to publish theirs: either may win,
    # but exactly one runs, the other refuses naming it, and the ring is the winner's.
    wait_for(
        lambda: a.poll() is not None or b.poll() is not None,
        timeout=FAST,
        what="one engine to give up: two engines own one name and one ring is orphaned",
    )
    loser, winner = (a, b) if a.poll() is not None else (b, a)
    _, loser_stderr = loser.communicate(timeout=FAST)
    assert loser.returncode == 2, "the loser must not run: only one engine may own the name"
    assert f"in use by a running engine (pid {winner.pid})" in loser_stderr, loser_stderr
    assert winner.poll() is None, "the winner runs"
    with v2m.Reader(ring_name, wait=5) as reader:
        assert reader.info.writer_pid == winner.pid, "the ring at the name is the winner's"
        assert reader.read(timeout=5) is not None
    assert not removal_lock.exists(), "the removal lock is not left behind"


def test_a_reattaching_reader_follows_an_engine_with_fewer_slots(ring_name: str) -> None:
    big = v2m.spawn(source="tone:440", name=ring_name, vad="energy", slots=64)
    follower = v2m.Reader(ring_name, reattach=True, start="oldest")
    try:
        for _ in range(70):  # wrap the 64-slot ring once
            assert follower.read(timeout=5) is not None
        big.process.kill()
        big.process.wait()
        small = v2m.spawn(source="tone:880", name=ring_name, vad="energy", slots=16)
        try:
            for _ in range(40):
                assert follower.read(timeout=10) is not None
            assert follower.reattached == 1 and follower.slots == 16
        finally:
            small.stop()
    finally:
        follower.close()
        big.stop()


def _private_files(name: str) -> list[Path]:
    return list(Path("/dev/shm").glob(f".v2m-{name}.*.init"))


def test_an_engine_killed_while_starting_leaves_nothing_the_next_one_keeps(
    ring_name: str, engines: Engines
) -> None:
    # A large ring takes most of a second to reserve: kill -9 in the middle of it.
    starting = engines.run(ring_name, "silence", vad="off", slots=262144)
    wait_for(lambda: bool(_private_files(ring_name)), timeout=10, what="the private segment")
    starting.kill()
    starting.wait()
    leaked = _private_files(ring_name)
    assert leaked and not ring_file(ring_name).exists(), "the start-up crash leaked its segment"
    # An unfinished segment of a live creator is left alone (its lock is held).
    live_name = f"{ring_name}-live"
    holder = subprocess.Popen(
        [
            PYTHON,
            "-c",
            "import fcntl, os, time\n"
            f"p = '/dev/shm/.v2m-{live_name}.' + str(os.getpid()) + '.init'\n"
            "f = open(p, 'wb')\n"
            "fcntl.flock(f, fcntl.LOCK_EX)\n"
            "print(p, flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        live = Path(holder.stdout.readline().strip())
        # One from a creator that died before locking it, too.
        orphan = Path(f"/dev/shm/.v2m-{ring_name}-orphan.{dead_pid()}.init")
        orphan.write_bytes(b"\0" * 4096)
        result = run_engine(
            "run",
            *engine_argv(ring_name, "silence", vad="off", duration=0, linger=0),
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert not any(p.exists() for p in leaked), "the dead engine's segment was removed"
        assert not orphan.exists()
        assert live.exists(), "a starting engine's segment is not touched"
        assert "left unfinished by an engine that died while starting" in result.stderr
    finally:
        holder.kill()
        holder.wait()
        for p in _private_files(live_name):
            p.unlink()


def test_list_shows_every_ring_and_clean_removes_only_the_dead(
    ring_name: str, engines: Engines
) -> None:
    live = engines.run(ring_name, "silence", vad="off")
    dead_name = f"{ring_name}-dead"
    dead = engines.run(dead_name, "silence", vad="off")
    wait_for(lambda: ring_file(ring_name).exists() and ring_file(dead_name).exists(), what="rings")
    dead.kill()
    dead.wait()
    orphan = Path(f"/dev/shm/.v2m-{ring_name}-orphan.{dead_pid()}.init")
    orphan.write_bytes(b"\0" * 64)
    listing = {e["name"]: e for e in json.loads(run_engine("list", "--json").stdout)}
    assert listing[ring_name]["state"] == "running" and listing[ring_name]["pid"] == live.pid
    assert listing[dead_name]["state"] == "stale"
    assert any(e["state"] == "unfinished" for e in listing.values())
    cleaned = run_engine("list", "--clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert not ring_file(dead_name).exists() and not orphan.exists()
    assert ring_file(ring_name).exists(), "a live ring is never removed"
    assert f"{ring_name} " in cleaned.stdout and "running" in cleaned.stdout
