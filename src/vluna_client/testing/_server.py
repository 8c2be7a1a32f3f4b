"""The loopback HTTP server: a threading server whose connections can all be closed and joined on stop."""

from __future__ import annotations

import contextlib
import select
import socket
import socketserver
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Set, Tuple

from ._app import BODY_LIMIT, App, Request

__all__ = ["EmulatorHTTPServer"]

# Node.js keeps only the first value of these request headers; every other repeated header is joined with ", ".
_NODE_SINGLE_VALUE_HEADERS = frozenset(
    {
        "age",
        "authorization",
        "content-length",
        "content-type",
        "etag",
        "expires",
        "from",
        "host",
        "if-modified-since",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "proxy-authorization",
        "referer",
        "retry-after",
        "server",
        "user-agent",
    }
)


class _BadRequest(Exception):
    """The request framing is broken (bad Content-Length or chunk size)."""


class _Handler(BaseHTTPRequestHandler):
    """Adapts ``http.server`` to :class:`App`: raw target, Node-style headers, raw body bytes."""

    protocol_version = "HTTP/1.1"
    server_version = "vluna-emulator"
    # Idle keep-alive connections give up after this long, so a forgotten client never pins a thread forever.
    timeout = 30
    server: EmulatorHTTPServer

    def setup(self) -> None:
        """Disable Nagle's algorithm on the accepted socket.

        Headers and body leave in two writes; with Nagle on, the body waits for the client's delayed ACK, which
        costs about 40 ms per response on loopback.
        """
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        """``Server`` header value (without Python's version: nothing here should look like a real deployment)."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr line (it would also leak request lines into test output)."""

    def do_GET(self) -> None:
        """Serve GET."""
        self._serve()

    def do_HEAD(self) -> None:
        """Serve HEAD (GET routes, without a body)."""
        self._serve()

    def do_POST(self) -> None:
        """Serve POST."""
        self._serve()

    def do_PUT(self) -> None:
        """Serve PUT (no such routes: 404 like the server)."""
        self._serve()

    def do_PATCH(self) -> None:
        """Serve PATCH (no such routes: 404 like the server)."""
        self._serve()

    def do_DELETE(self) -> None:
        """Serve DELETE (no such routes: 404 like the server)."""
        self._serve()

    def do_OPTIONS(self) -> None:
        """Serve OPTIONS (no such routes: 404 like the server)."""
        self._serve()

    def _headers(self) -> Dict[str, str]:
        combined: Dict[str, List[str]] = {}
        for name, value in self.headers.items():
            # Node strips optional whitespace around header values; http.server keeps trailing blanks.
            combined.setdefault(name.lower(), []).append(value.strip(" \t"))
        out: Dict[str, str] = {}
        for name, values in combined.items():
            out[name] = values[0] if name in _NODE_SINGLE_VALUE_HEADERS else ", ".join(values)
        return out

    def _read_body(self, headers: Dict[str, str]) -> Tuple[bytes, bool]:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks: List[bytes] = []
            size_total = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _BadRequest from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks), False
                size_total += size
                if size_total > BODY_LIMIT:
                    return b"", True
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length_text = headers.get("content-length")
        if length_text is None:
            return b"", False
        try:
            length = int(length_text)
        except ValueError:
            raise _BadRequest from None
        if length < 0:
            raise _BadRequest
        if length > BODY_LIMIT:
            return b"", True
        return self.rfile.read(length), False

    def _hold(self, seconds: float) -> None:
        """Wait ``seconds`` before answering, giving up as soon as the client hangs up or the emulator stops."""
        deadline = time.monotonic() + seconds
        stopping = self.server.app.stopping
        while not stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                readable, _, _ = select.select([self.connection], [], [], min(left, 0.02))
                # A readable socket with nothing to read means the client closed it (its timeout fired).
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    return
            except (OSError, ValueError):
                return
            if readable:
                stopping.wait(min(left, 0.02))  # pipelined bytes: keep waiting without spinning

    def _serve(self) -> None:
        words = self.requestline.split()
        target = words[1] if len(words) >= 2 else self.path
        headers = self._headers()
        try:
            body, too_large = self._read_body(headers)
        except _BadRequest:
            self.send_error(400, "Bad Request")
            self.close_connection = True
            return
        response = self.server.app.handle(
            Request(method=self.command, target=target, headers=headers, body=body, body_too_large=too_large)
        )
        if too_large:
            self.close_connection = True  # the unread body would otherwise be parsed as the next request
        if response.hold > 0:
            self._hold(response.hold)
        if response.action == "reset":
            self.close_connection = True
            self.server.reset_on_close(self.connection)
            return
        if response.action == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Connection", "close" if self.close_connection else "keep-alive")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its read timeout fired during an injected delay): nothing left to do.
            self.close_connection = True


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Threading HTTP server that tracks its connection threads so :meth:`close_connections` can end them."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True  # restarting on a fixed --port must not wait for TIME_WAIT

    def __init__(self, address: Tuple[str, int], app: App) -> None:
        self.app = app
        self._tracked_lock = threading.Lock()
        self._conn_threads: Set[threading.Thread] = set()
        self._conn_sockets: Set[socket.socket] = set()
        self._reset_sockets: Set[Any] = set()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s reverse-DNS lookup of the host (slow or hanging without DNS)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def reset_on_close(self, request: Any) -> None:
        """Close this connection with a TCP reset instead of an orderly shutdown when its handler returns."""
        with self._tracked_lock:
            self._reset_sockets.add(request)

    def shutdown_request(self, request: Any) -> None:
        """Close a finished connection; one marked by :meth:`reset_on_close` gets an RST (no FIN first)."""
        with self._tracked_lock:
            reset = request in self._reset_sockets
            self._reset_sockets.discard(request)
        if not reset:
            super().shutdown_request(request)
            return
        with contextlib.suppress(OSError):
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_request(request)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve each connection on a tracked daemon thread."""
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="vluna-emulator-connection",
            daemon=True,
        )
        with self._tracked_lock:
            self._conn_threads.add(thread)
            self._conn_sockets.add(request)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._tracked_lock:
                self._conn_sockets.discard(request)
                self._conn_threads.discard(threading.current_thread())

    def close_connections(self, timeout: float = 5.0) -> None:
        """Shut every open connection down (waking threads blocked on keep-alive reads) and join their threads."""
        with self._tracked_lock:
            sockets = list(self._conn_sockets)
            threads = list(self._conn_threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout)
