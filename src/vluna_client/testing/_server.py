"""The loopback HTTP server: a threading server whose connections can all be closed and joined on stop."""

from __future__ import annotations

import contextlib
import http
import logging
import select
import socket
import socketserver
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List, Optional, Set, Tuple

from ._app import BODY_LIMIT, App, Request, Response
from ._http1 import (
    FramingError,
    client_error_bytes,
    combine_headers,
    parse_chunk_size,
    parse_content_length,
    split_header_lines,
)

__all__ = ["DEFAULT_HEADER_TIMEOUT", "EmulatorHTTPServer"]

logger = logging.getLogger("vluna_client.testing")

# Node's default headersTimeout (Fastify keeps it): a request's headers must be complete this long after its
# first byte, else 408.
DEFAULT_HEADER_TIMEOUT = 60.0
# Node's default --max-http-header-size: request line and headers together (431 beyond).
HEADER_LIMIT = 16 * 1024


class _HeaderTimeout(Exception):
    """The request's headers did not arrive within the header deadline."""


class _ClientGone(Exception):
    """The client closed the connection in the middle of a request."""


class _DeadlineReader:
    """Reads request and header lines from a handler's buffered socket file, within one deadline.

    Each raw read waits at most for what is left of the deadline, so a client that drips bytes cannot hold the
    headers open past it. The lines read are kept (``lines``) for the strict header checks.
    """

    def __init__(self, rfile: Any, connection: socket.socket, deadline: float) -> None:
        self._rfile = rfile
        self._connection = connection
        self._deadline = deadline
        self.lines: List[bytes] = []
        self.size = 0

    def readline(self, limit: int = -1) -> bytes:
        """One line (with its ending) or less at end of stream, like ``BufferedReader.readline``."""
        line = bytearray()
        while limit < 0 or len(line) < limit:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise _HeaderTimeout
            self._connection.settimeout(left)
            try:
                available = self._rfile.peek(1)
            except (socket.timeout, TimeoutError):
                raise _HeaderTimeout from None
            if not available:
                break
            room = len(available) if limit < 0 else min(len(available), limit - len(line))
            newline = available.find(b"\n", 0, room)
            line += self._rfile.read(newline + 1 if newline >= 0 else room)
            if newline >= 0:
                break
        self.size += len(line)
        if self.size > HEADER_LIMIT:
            raise FramingError("headers too large", status=431)
        self.lines.append(bytes(line))
        return bytes(line)


class _Handler(BaseHTTPRequestHandler):
    """Adapts ``http.server`` to :class:`App`: raw target, Node-style headers and framing, raw body bytes."""

    protocol_version = "HTTP/1.1"
    server_version = "vluna-emulator"
    # Idle keep-alive connections give up after this long, so a forgotten client never pins a thread forever.
    timeout = 30
    server: EmulatorHTTPServer
    _header_pairs: List[Tuple[str, str]]

    def setup(self) -> None:
        """Disable Nagle's algorithm on the accepted socket.

        Headers and body leave in two writes; with Nagle on, the body waits for the client's delayed ACK, which
        costs about 40 ms per response on loopback.
        """
        super().setup()
        self._header_pairs = []
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        """``Server`` header value (without Python's version: nothing here should look like a real deployment)."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr line (it would also leak request lines into test output)."""

    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        """Answer a request ``http.server`` could not parse the way Fastify does (400, or 431 for huge headers)."""
        self._client_error(431 if code in (413, 414, 431) else 400)

    def _client_error(self, status: int) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.write(client_error_bytes(status))
            self.wfile.flush()

    def handle_one_request(self) -> None:
        """Read one request within the header deadline, check its framing like Node, then serve it."""
        try:
            self._handle_one_request()
        except _HeaderTimeout:
            self._client_error(408)
        except FramingError as error:
            self._client_error(error.status)
        except (_ClientGone, ConnectionError, TimeoutError, socket.timeout) as exc:
            # A client that hangs up or goes quiet ends its connection; that is not the emulator's problem.
            self.close_connection = True
            logger.debug("vluna emulator: connection from %s ended (%s)", self.client_address[0], type(exc).__name__)

    def _handle_one_request(self) -> None:
        self.close_connection = True
        self.connection.settimeout(self.timeout)
        # An idle keep-alive connection waits for its next request's first byte (closing quietly on timeout);
        # the header deadline starts with that byte, as Node's headersTimeout does.
        rfile: Any = self.rfile  # a BufferedReader over the socket (rbufsize is -1)
        if not rfile.peek(1):
            return
        reader = _DeadlineReader(self.rfile, self.connection, time.monotonic() + self.server.header_timeout)
        self.raw_requestline = reader.readline(65537)
        if not self.raw_requestline.endswith(b"\r\n"):
            raise FramingError("request line not ended by CRLF")
        # parse_request reads the headers through self.rfile: lend it the deadline reader meanwhile.
        self.rfile = reader  # type: ignore[assignment]
        try:
            parsed = self.parse_request()
        finally:
            self.rfile = rfile
        if not parsed:
            return
        self.connection.settimeout(self.timeout)
        header_lines = reader.lines[1:]
        if not header_lines or header_lines[-1] != b"\r\n":
            raise FramingError("headers not ended by CRLF")
        self._header_pairs = split_header_lines(header_lines[:-1])
        handler = getattr(self, "do_" + self.command, None)
        if handler is None:
            raise FramingError("unknown method")
        handler()
        self.wfile.flush()

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

    def _read_exactly(self, size: int) -> bytes:
        data = self.rfile.read(size)
        if len(data) < size:
            raise _ClientGone
        return data

    def _read_body(self) -> Tuple[bytes, bool]:
        """``(body, too_large)``; a body over :data:`BODY_LIMIT` is not read (the connection closes after)."""
        length, chunked = parse_content_length(self._header_pairs)
        if chunked:
            chunks: List[bytes] = []
            size_total = 0
            while True:
                size = parse_chunk_size(self.rfile.readline(1024))
                if size == 0:
                    # Trailer fields, then the blank line (they are checked like headers and then ignored).
                    trailer: List[bytes] = []
                    while True:
                        line = self.rfile.readline(HEADER_LIMIT)
                        if not line:
                            raise _ClientGone
                        if line == b"\r\n":
                            break
                        trailer.append(line)
                    split_header_lines(trailer)
                    return b"".join(chunks), False
                size_total += size
                if size_total > BODY_LIMIT:
                    return b"", True
                chunks.append(self._read_exactly(size))
                if self._read_exactly(2) != b"\r\n":
                    raise FramingError("chunk data not ended by CRLF")
        if length is None:
            return b"", False
        if length > BODY_LIMIT:
            return b"", True
        return self._read_exactly(length), False

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

    def _hostile_answer(self, response: Response) -> None:
        """A trickled or oversized answer, written straight to the socket (the connection is closed after it)."""
        stopping = self.server.app.stopping
        lines = [f"HTTP/1.1 {response.status} {http.HTTPStatus(response.status).phrase}"]
        lines += [f"{name}: {value}" for name, value in response.headers]
        if response.action == "oversized":
            lines.append("Transfer-Encoding: chunked")
        else:
            lines.append(f"Content-Length: {len(response.body)}")
        lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        sock = self.connection
        if response.action == "oversized":
            sock.sendall(head + b"%x\r\n%s\r\n" % (len(response.body), response.body))
            left = max(0, response.size - len(response.body))
            piece = b" " * 65536
            while left > 0 and not stopping.is_set():
                chunk = piece[: min(left, len(piece))]
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                left -= len(chunk)
            sock.sendall(b"0\r\n\r\n")
            return
        slow = head + response.body if response.action == "trickle-headers" else response.body
        if response.action == "trickle-body":
            sock.sendall(head)
        for i in range(len(slow)):
            sock.sendall(slow[i : i + 1])
            if stopping.wait(response.interval):
                return

    def _serve(self) -> None:
        words = self.requestline.split()
        target = words[1] if len(words) >= 2 else self.path
        headers = combine_headers(self._header_pairs)
        body, too_large = self._read_body()
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
        if response.action.startswith("trickle-") or response.action == "oversized":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._hostile_answer(response)
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

    def __init__(self, address: Tuple[str, int], app: App, header_timeout: float = DEFAULT_HEADER_TIMEOUT) -> None:
        self.app = app
        self.header_timeout = header_timeout
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
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

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished mid-request is one debug line; anything else is logged with its traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            logger.debug("vluna emulator: connection from %s ended (%s)", client_address[0], type(exc).__name__)
            return
        logger.error("vluna emulator: connection from %s failed", client_address[0], exc_info=True)

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
