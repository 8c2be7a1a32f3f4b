"""A hostile HTTP server on 127.0.0.1 that dribbles its answer one byte at a time, forever, or sends too much.

Modes:

- ``status``: the status line itself, one byte per ``interval``;
- ``headers``: a status line, then an endless header block, one byte per ``interval``;
- ``body``: complete headers announcing a large body, then the body one byte per ``interval``;
- ``chunked``: chunked transfer encoding, one one-byte chunk per ``interval``;
- ``oversized``: a 200 answer of ``size`` bytes, sent at full speed (chunked, so no length warns the client).

Every byte arrives well within any socket read timeout, so only a deadline on the whole answer can end the
attempt. Each connection is served by its own daemon thread; ``stop()`` (or leaving the ``with`` block) closes
everything, and writes to a closed connection end its thread.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any


class TrickleServer:
    """Accepts connections on an ephemeral 127.0.0.1 port and answers each in ``mode``."""

    def __init__(self, mode: str, *, interval: float = 0.1, size: int = 0) -> None:
        if mode not in ("status", "headers", "body", "chunked", "oversized"):
            raise ValueError(mode)
        self.mode = mode
        self.interval = interval
        self.size = size
        self.requests = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> TrickleServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop accepting and end every connection's thread."""
        self._stopped.set()
        self._listener.close()
        self._thread.join(timeout=2)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket) -> bool:
        data = b""
        conn.settimeout(5)
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            rest += chunk
        with self._lock:
            self.requests += 1
        return True

    def _drip(self, conn: socket.socket, pattern: bytes) -> None:
        """Send ``pattern`` over and over, one byte per interval, until the client or the test gives up."""
        i = 0
        while not self._stopped.is_set():
            conn.sendall(pattern[i % len(pattern) : i % len(pattern) + 1])
            i += 1
            time.sleep(self.interval)

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn:
                if not self._read_request(conn):
                    return
                if self.mode == "status":
                    self._drip(conn, b"HTTP/1.1 200 OK")
                elif self.mode == "headers":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
                    self._drip(conn, b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n")
                elif self.mode == "body":
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
                    )
                    self._drip(conn, b'{"ok":true,"code":"OK","data":[' + b" " * 64)
                elif self.mode == "chunked":
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    )
                    while not self._stopped.is_set():
                        conn.sendall(b"1\r\n \r\n")
                        time.sleep(self.interval)
                else:
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    )
                    piece = b" " * 65536
                    sent = 0
                    while sent < self.size and not self._stopped.is_set():
                        conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                        sent += len(piece)
                    conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the client closed the connection: this thread's work is over
