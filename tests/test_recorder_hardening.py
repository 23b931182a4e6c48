"""``v2m-record``'s output: a full disk leaves a file whose header matches the bytes on
it and a one-line message; paths it must not write (a FIFO, a symbolic link, a
directory, a missing or read-only directory) are refused at once, in one line, with
exit code 2, before any ring is waited for, and nothing is left behind."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import time
from pathlib import Path
from typing import Iterator, List

import numpy as np
import pytest

from support.engine import PYTHON, Engines
from support.rings import ring_file, wait_for

RECORD = str(Path(PYTHON).parent / "v2m-record")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


def record(*args: str, timeout: float = 60) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([RECORD, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def _wav_sizes(path: Path) -> tuple[int, int, int]:
    """(RIFF size, data size, bytes after the data chunk's header) of a WAV file."""
    data = path.read_bytes()
    riff = struct.unpack_from("<I", data, 4)[0]
    at = 12
    while data[at : at + 4] != b"data":
        at += 8 + struct.unpack_from("<I", data, at + 4)[0]
    return riff, struct.unpack_from("<I", data, at + 4)[0], len(data) - at - 8


@needs_root
def test_a_full_disk_leaves_a_true_header_and_one_line(
    small_disk: Path, ring_name: str, engines: Engines
) -> None:
    # 40 s of 16 kHz int16 is 1.25 MiB: more than the disk holds. The ring holds 65 s,
    # so the recorder loses nothing however slowly the full disk makes it write.
    engines.run(ring_name, "noise", vad="off", speed="max", duration=40, linger=60)  # fmt: skip
    out = small_disk / "out.wav"
    result = record(out.as_posix(), "--name", ring_name, "--start", "oldest", "--duration", "40")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], result.stderr
    riff, data, on_disk = _wav_sizes(out)
    assert data == on_disk and riff == out.stat().st_size - 8, "the header says what the file holds"
    assert data > 500_000 and data % 2 == 0
    # ... and what it holds is the audio: no zeros stand in for what failed to be written
    # (noise ends in three zero samples about once in 10^11).
    tail = np.frombuffer(out.read_bytes()[-6:], "<i2")
    assert np.any(tail), "the last samples are the noise, not padding"


def test_a_fifo_at_the_output_is_refused_without_hanging(tmp_path: Path, ring_name: str) -> None:
    fifo = tmp_path / "out.wav"
    os.mkfifo(fifo)
    started = time.monotonic()
    result = record(str(fifo), "--name", ring_name, "--wait", "30", timeout=20)
    assert result.returncode == 2 and "is a FIFO, not a regular file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 15, "refused before the 30 s wait for the ring"


def test_a_symlink_at_the_output_is_not_followed(tmp_path: Path, ring_name: str) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "out.wav"
    link.symlink_to(target)
    for args in ([str(link)], [str(tmp_path / "ok.wav"), "--labels", str(link)]):
        result = record(*args, "--name", ring_name, "--wait", "30", timeout=20)
        assert result.returncode == 2 and "is a symbolic link" in result.stderr, result.stderr
    assert target.read_text() == "keep me"
    assert not (tmp_path / "ok.wav").exists(), "nothing is left behind"


@pytest.mark.parametrize("case", ["missing directory", "a directory", "read-only"])
def test_paths_that_cannot_be_written_are_refused_in_one_line(
    case: str, tmp_path: Path, ring_name: str
) -> None:
    mounted: List[Path] = []
    if case == "missing directory":
        out, expected = tmp_path / "nowhere" / "out.wav", "does not exist"
    elif case == "a directory":
        out, expected = tmp_path, "is a directory"
    else:
        if os.geteuid() != 0:
            pytest.skip("a read-only mount needs root (root may write any directory)")
        ro = tmp_path / "ro"
        ro.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], check=True)
        mounted.append(ro)
        out, expected = ro / "out.wav", "Read-only file system"
    try:
        result = record(str(out), "--name", ring_name, "--wait", "30", timeout=20)
    finally:
        for mount in mounted:
            subprocess.run(["umount", str(mount)], check=True)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_recorder_that_finds_no_ring_leaves_no_file(tmp_path: Path, ring_name: str) -> None:
    out = tmp_path / "out.wav"
    result = record(str(out), "--name", ring_name, "--wait", "0")
    assert result.returncode == 2 and "no ring named" in result.stderr
    assert not out.exists()


def test_sigterm_stops_a_recorder_waiting_for_its_ring(tmp_path: Path, ring_name: str) -> None:
    proc = subprocess.Popen(
        [RECORD, str(tmp_path / "out.wav"), "--name", ring_name, "--wait", "60"],
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: (tmp_path / "out.wav").exists(), what="the recorder to open its output")
    proc.terminate()
    assert proc.wait(10) == 2
    assert not (tmp_path / "out.wav").exists() and not ring_file(ring_name).exists()


def test_sigterm_just_after_the_output_is_made_still_removes_it(
    tmp_path: Path,
    ring_name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The recorder's own SIGTERM handler, the signal delivered the instant the output
    file exists (the window the test above hits now and then on a slow interpreter):
    the file it made is still removed. In-process, so the moment is exact."""
    from v2m.tools import record as recorder

    made_then_signalled = recorder.open_output

    def open_then_sigterm(path: str) -> int:
        fd = made_then_signalled(path)
        os.kill(os.getpid(), signal.SIGTERM)  # handled at the next bytecode, right here
        return fd

    previous = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(recorder, "open_output", open_then_sigterm)
    try:
        code = recorder.main([str(tmp_path / "out.wav"), "--name", ring_name, "--wait", "60"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 2
    assert not (tmp_path / "out.wav").exists()
    assert capsys.readouterr().err == "v2m-record: stopped (SIGTERM) before recording began\n"
