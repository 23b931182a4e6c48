"""``v2m-exporter`` cannot be blinded by a local user: idle connections are capped and
timed out, running out of descriptors does not make it spin, and it answers HTTP as
a server should (HEAD like GET, 404 for unknown paths)."""

from __future__ import annotations

import resource
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from support.engine import PYTHON
from support.rings import wait_for

FD_LIMIT = 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def exporter() -> Iterator[Tuple["subprocess.Popen[str]", int]]:
    """An exporter limited to 1024 descriptors, as most accounts are."""
    port = _free_port()

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))

    process = subprocess.Popen(
        [str(Path(PYTHON).parent / "v2m-exporter"), "--port", str(port), "--name", "nothing-here"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit,
    )
    try:
        wait_for(lambda: _get(port, "/metrics")[0] == 200, timeout=30, what="the exporter")
        yield process, port
    finally:
        process.kill()
        process.communicate()


def _get(port: int, path: str, method: str = "GET") -> Tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def test_eleven_hundred_idle_connections_do_not_stop_the_scrapes(
    exporter: Tuple["subprocess.Popen[str]", int],
) -> None:
    process, port = exporter
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4096), max(hard, 4096)))
    idle: List[socket.socket] = []
    try:
        for _ in range(1100):  # connected (or waiting in the backlog), and silent
            s = socket.socket()
            s.settimeout(0.2)
            try:
                s.connect(("127.0.0.1", port))
            except OSError:
                pass  # an exporter out of descriptors leaves it in the backlog
            idle.append(s)
        before = _cpu_seconds(process.pid)
        answers = [_get(port, "/metrics") for _ in range(5)]
        time.sleep(2.0)
        burnt = _cpu_seconds(process.pid) - before
        assert [status for status, _ in answers] == [200] * 5, "every scrape is answered"
        assert all(b"v2m_engine_up" in body for _, body in answers)
        # A spinning accept loop burns the whole 2 s and more; a waiting one nothing.
        assert burnt < 1.0, f"{burnt:.2f} s of CPU while the idle connections were held"
        assert process.poll() is None
    finally:
        for s in idle:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_silent_connection_is_closed_after_its_deadline(
    exporter: Tuple["subprocess.Popen[str]", int],
) -> None:
    _, port = exporter
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.settimeout(30)
        assert s.recv(1) == b"", "closed by the exporter, not by this test's timeout"


def test_head_is_answered_like_get_and_unknown_paths_are_not_found(
    exporter: Tuple["subprocess.Popen[str]", int],
) -> None:
    _, port = exporter
    status, body = _get(port, "/metrics")
    assert status == 200 and body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        while chunk := s.recv(65536):
            head += chunk
    lines = head.split(b"\r\n\r\n", 1)
    assert lines[0].startswith(b"HTTP/1.1 200") and lines[1] == b"", "headers only"
    length = next(
        v
        for k, v in (h.split(b": ", 1) for h in lines[0].split(b"\r\n")[1:])
        if k.lower() == b"content-length"
    )
    assert abs(int(length) - len(body)) < 200, "HEAD says the length GET sends"
    assert _get(port, "/nothing")[0] == 404
    assert _get(port, "/metrics", method="POST")[0] == 405
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01 not http\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
