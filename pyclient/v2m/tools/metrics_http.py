"""The exporter's HTTP server: ``GET`` or ``HEAD /metrics`` (and ``/``), from one
thread with non-blocking sockets, so no client can tie it up.

- Bounded: at most :data:`MAX_CONNECTIONS` open; a new one beyond that closes the
  connection idle longest (a scraper sends its request as soon as it connects).
- Timed: a connection has :data:`DEADLINE_S` to send its request and take the answer.
- Never spins: when the process is out of descriptors (``EMFILE``), a spare one kept
  for the purpose is let go, the waiting connection is accepted and closed, and the
  spare taken back, so the listening socket does not stay readable for ever.
- Plain HTTP/1.x: one request per connection (``Connection: close``), 404 for any
  other path, 405 for other methods, 400 for what is not HTTP.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

MAX_CONNECTIONS = 64
"""Open connections at most; a scraper needs one."""
DEADLINE_S = 10.0
"""Time a connection has to send its request and read the answer."""
MAX_REQUEST_BYTES = 8192
"""A request's line and headers at most (the exporter takes no body)."""
_OUT_OF_FDS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

Render = Callable[[], Tuple[bytes, str]]
"""Makes the metrics page: its body and content type."""


@dataclass
class _Connection:
    sock: socket.socket
    deadline: float
    last_active: float
    request: bytearray = field(default_factory=bytearray)
    answer: Optional[memoryview] = None


class MetricsServer:
    """Serves ``render()`` at ``/metrics`` on ``address:port`` from a thread of its own."""

    def __init__(self, address: str, port: int, render: Render) -> None:
        self._render = render
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind((address, port))
            self._listener.listen(128)
        except OSError:
            self._listener.close()
            raise
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._connections: Dict[int, _Connection] = {}
        self._spare: Optional[int] = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="v2m-exporter-http", daemon=True)

    def start(self) -> "MetricsServer":
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stops serving and closes every socket."""
        self._stop.set()
        self._thread.join(2 * DEADLINE_S)
        for conn in list(self._connections.values()):
            self._close(conn)
        self._selector.close()
        self._listener.close()
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, events in self._selector.select(timeout=0.25):
                if key.fileobj is self._listener:
                    self._accept()
                    continue
                conn = self._connections.get(key.fd)
                if conn is None:
                    continue
                if events & selectors.EVENT_READ:
                    self._receive(conn)
                elif events & selectors.EVENT_WRITE:
                    self._send(conn)
            now = time.monotonic()
            for conn in [c for c in self._connections.values() if now > c.deadline]:
                self._close(conn)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno in _OUT_OF_FDS:
                    self._refuse_one()
                return
            if len(self._connections) >= MAX_CONNECTIONS:
                self._close(min(self._connections.values(), key=lambda c: c.last_active))
            sock.setblocking(False)
            now = time.monotonic()
            conn = _Connection(sock, now + DEADLINE_S, now)
            self._connections[sock.fileno()] = conn
            self._selector.register(sock, selectors.EVENT_READ)

    def _refuse_one(self) -> None:
        """Out of descriptors: free the spare, accept and close one waiting connection,
        take the spare back. Without it the listener stays readable and the loop spins."""
        if self._connections:
            self._close(min(self._connections.values(), key=lambda c: c.last_active))
            return
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None
        try:
            self._listener.accept()[0].close()
        except OSError:
            time.sleep(0.05)  # nothing to free: wait rather than spin
        try:
            self._spare = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            pass

    def _receive(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        conn.last_active = time.monotonic()
        conn.request += data
        end = conn.request.find(b"\r\n\r\n")
        if end < 0:
            if len(conn.request) > MAX_REQUEST_BYTES:
                self._answer(conn, 431, b"request header fields too large\n", "text/plain", True)
            return
        self._respond(conn, bytes(conn.request[:end]))

    def _respond(self, conn: _Connection, head: bytes) -> None:
        parts = head.split(b"\r\n", 1)[0].split()
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            self._answer(conn, 400, b"not an HTTP/1.x request\n", "text/plain", True)
            return
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            self._answer(conn, 405, b"only GET and HEAD\n", "text/plain", True)
            return
        with_body = method == b"GET"
        if target == b"/metrics":
            body, kind = self._render()
            self._answer(conn, 200, body, kind, with_body)
        elif target == b"/":
            page = b"v2m-exporter: the metrics are at /metrics\n"
            self._answer(conn, 200, page, "text/plain; charset=utf-8", with_body)
        else:
            page = b"not found: the metrics are at /metrics\n"
            self._answer(conn, 404, page, "text/plain; charset=utf-8", with_body)

    def _answer(
        self, conn: _Connection, status: int, body: bytes, kind: str, with_body: bool
    ) -> None:
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
        head = (
            f"HTTP/1.1 {status} {reason.get(status, 'Request Header Fields Too Large')}\r\n"
            f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
            + ("Allow: GET, HEAD\r\n" if status == 405 else "")
            + "Connection: close\r\n\r\n"
        ).encode()
        conn.answer = memoryview(head + body if with_body else head)
        self._selector.modify(conn.sock, selectors.EVENT_WRITE)
        self._send(conn)

    def _send(self, conn: _Connection) -> None:
        assert conn.answer is not None
        try:
            sent = conn.sock.send(conn.answer)
        except BlockingIOError:
            return
        except OSError:
            self._close(conn)
            return
        conn.answer = conn.answer[sent:]
        conn.last_active = time.monotonic()
        if not conn.answer:
            self._close(conn)

    def _close(self, conn: _Connection) -> None:
        self._connections.pop(conn.sock.fileno(), None)
        try:
            self._selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()
