"""A small fault-injecting HTTP/1.1 proxy in front of a real deployment, for the chaos run (stdlib only).

It applies the emulator's random fault kinds to the requests it relays, so the same chaos loops can run against a
real server:

- ``reset``: the connection is reset (RST) before anything is forwarded;
- ``fail`` / ``rate_limit``: a 503 / 429 error envelope with ``Retry-After: 0``, nothing forwarded;
- ``drop``: forwarded and answered by the server, then the client connection is closed unanswered;
- ``stall``: forwarded and answered, the answer held past the client's read timeout, then dropped;
- ``delay``: held before forwarding (longer than the client waits), then forwarded anyway;
- ``trickle``: forwarded and answered, the answer then sent one byte every ``trickle_interval`` seconds (well inside
  any socket read timeout) until the client gives up;
- ``oversized``: forwarded and answered, the answer padded with JSON whitespace to ``oversized_bytes`` (chunked, no
  length), so only a client that caps answer sizes refuses it.

Client connections are kept alive between requests; each relayed request opens its own upstream connection, which
keeps the proxy simple and lets a stalled or delayed request run on while the client has moved on. Every request is
recorded (method, path, idempotency key, fault, upstream status).
"""

from __future__ import annotations

import http.client
import json
import random
import select
import socket
import socketserver
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

KINDS = ("fail", "rate_limit", "reset", "drop", "stall", "delay", "trickle", "oversized")
# Headers that describe one hop, not the message: never relayed.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_ERRORS = {
    "fail": (503, "Service Unavailable", "SERVER.DB_UNAVAILABLE", "injected by the chaos proxy: service unavailable"),
    "rate_limit": (429, "Too Many Requests", "LIMIT.RATE_EXCEEDED", "injected by the chaos proxy: rate limited"),
}


@dataclass(frozen=True)
class ProxyRecord:
    """One request as the proxy saw it.

    Attributes:
        method: HTTP method.
        path: request target (path and query) as received.
        idempotency_key: the ``Idempotency-Key`` header, or ``None``.
        fault: the fault kind applied, or ``None``.
        status: the upstream status (0 when the request was not forwarded or the upstream call failed).
        forwarded: whether the request reached the server.
    """

    method: str
    path: str
    idempotency_key: Optional[str]
    fault: Optional[str]
    status: int
    forwarded: bool


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        proxy = self.server.proxy
        while not proxy.stopping.is_set():
            request = _read_request(self.rfile)
            if request is None:
                return
            if not proxy.relay(self.connection, self.wfile, *request):
                return


def _read_request(rfile: Any) -> Optional[Tuple[str, str, List[Tuple[str, str]], bytes]]:
    """The next request on a kept-alive connection, or ``None`` at end of stream."""
    readline = rfile.readline
    try:
        line = readline(65537)
        while line in (b"\r\n", b"\n"):
            line = readline(65537)
        if not line:
            return None
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: List[Tuple[str, str]] = []
        while True:
            raw = readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        length = int(_header(headers, "content-length") or 0)
        body = rfile.read(length) if length else b""
    except (OSError, ValueError):
        return None
    return method, target, headers, body


def _header(headers: Sequence[Tuple[str, str]], name: str) -> Optional[str]:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _check_kinds(kinds: Sequence[str]) -> None:
    if not kinds or set(kinds) - set(KINDS):
        raise ValueError(f"kinds must be a non-empty subset of {KINDS}")


class FaultProxy:
    """Relays HTTP requests to ``upstream`` and injects seeded random faults; a context manager.

    Args:
        upstream: the server's origin, e.g. ``http://127.0.0.1:3902`` (a path part is ignored).
        rate: probability that a matching request gets a fault; the kind is then chosen uniformly from ``kinds``.
        seed: seed of the fault draws (the same seed gives the same sequence of draws, in arrival order).
        kinds: fault kinds to choose from.
        paths: path prefixes that faults apply to (all when ``None``).
        hold_seconds: how long ``stall`` holds an answer and ``delay`` holds a request; keep it above the client's
            read timeout. A stall ends early when the client closes its connection.
        upstream_timeout: socket timeout of the upstream calls.
    """

    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.0,
        seed: Optional[int] = None,
        kinds: Sequence[str] = KINDS,
        paths: Optional[Sequence[str]] = None,
        hold_seconds: float = 1.0,
        upstream_timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("the proxy relays plain http to a host, e.g. http://127.0.0.1:3902")
        _check_kinds(kinds)
        self._host, self._port = parts.hostname, parts.port or 80
        self.rate = rate
        self._kinds = tuple(kinds)
        self._paths = tuple(paths) if paths is not None else None
        self.hold_seconds = hold_seconds
        self.trickle_interval = 0.05
        self.oversized_bytes = 17 * 1024 * 1024  # past the client's default 16 MiB cap
        self._upstream_timeout = upstream_timeout
        self._rng = random.Random(seed)  # fault injection, not cryptography
        self._lock = threading.Lock()
        self._records: List[ProxyRecord] = []
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the proxy's origin."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> List[ProxyRecord]:
        """Every request relayed or faulted so far (a copy)."""
        with self._lock:
            return list(self._records)

    def reseed(self, rate: float, *, seed: Optional[int], kinds: Sequence[str], hold_seconds: float) -> None:
        """Start a new random fault sequence: ``rate`` of the matching requests from now on."""
        _check_kinds(kinds)
        with self._lock:
            self.rate = rate
            self._rng = random.Random(seed)  # fault injection, not cryptography
            self._kinds = tuple(kinds)
            self.hold_seconds = hold_seconds

    def stop_faults(self) -> None:
        """Relay everything faithfully from now on."""
        with self._lock:
            self.rate = 0.0

    def __enter__(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _draw(self, path: str) -> Optional[str]:
        if self._paths is not None and not path.startswith(self._paths):
            return None
        with self._lock:
            roll = self._rng.random()
            if roll >= self.rate:
                return None
            return self._kinds[int(roll / self.rate * len(self._kinds))]

    def _record(self, record: ProxyRecord) -> None:
        with self._lock:
            self._records.append(record)

    def relay(
        self, conn: socket.socket, wfile: Any, method: str, target: str, headers: List[Tuple[str, str]], body: bytes
    ) -> bool:
        """Handle one request; whether the client connection stays usable."""
        fault = self._draw(urlsplit(target).path)
        key = _header(headers, "idempotency-key")

        def record(status: int, forwarded: bool) -> None:
            self._record(ProxyRecord(method, target, key, fault, status, forwarded))

        if fault == "reset":
            record(0, False)
            # SO_LINGER with a zero timeout turns close() into a TCP RST.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return False
        if fault in _ERRORS:
            record(0, False)
            status, reason, code, message = _ERRORS[fault]
            payload = json.dumps({"ok": False, "code": code, "message": message, "meta": {"status": status}}).encode()
            extra = [("Retry-After", "0"), ("Content-Type", "application/json; charset=utf-8")]
            return _send(wfile, status, reason, extra, payload)
        if fault == "delay":
            self.stopping.wait(self.hold_seconds)
        status, reason, answer_headers, answer = self._forward(method, target, headers, body)
        record(status, True)
        if fault == "drop":
            conn.close()
            return False
        if fault == "stall":
            _wait_for_close(conn, self.hold_seconds, self.stopping)
            conn.close()
            return False
        if status == 0:
            conn.close()
            return False
        if fault == "trickle":
            _trickle(conn, status, reason, answer_headers, answer, self.trickle_interval, self.stopping)
            conn.close()
            return False
        if fault == "oversized":
            _oversized(conn, status, reason, answer_headers, answer, self.oversized_bytes, self.stopping)
            conn.close()
            return False
        return _send(wfile, status, reason, answer_headers, answer)

    def _forward(
        self, method: str, target: str, headers: List[Tuple[str, str]], body: bytes
    ) -> Tuple[int, str, List[Tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection(self._host, self._port, timeout=self._upstream_timeout)
        try:
            # The client's own Host header goes through unchanged.
            upstream.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP and name.lower() != "content-length":
                    upstream.putheader(name, value)
            upstream.putheader("Content-Length", str(len(body)))
            upstream.putheader("Connection", "close")
            upstream.endheaders(body)
            response = upstream.getresponse()
            answer = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP and k.lower() != "content-length"]
            return response.status, response.reason, kept, answer
        except (OSError, http.client.HTTPException):
            return 0, "", [], b""
        finally:
            upstream.close()


def _head(status: int, reason: str, headers: List[Tuple[str, str]], framing: str) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in headers), framing]
    return ("\r\n".join([*lines, "Connection: close", "", ""])).encode("latin-1")


def _trickle(
    conn: socket.socket,
    status: int,
    reason: str,
    headers: List[Tuple[str, str]],
    body: bytes,
    interval: float,
    stopping: threading.Event,
) -> None:
    """The whole answer, one byte per ``interval``, until the client hangs up or the proxy stops."""
    data = _head(status, reason, headers, f"Content-Length: {len(body)}") + body
    try:
        for i in range(len(data)):
            conn.sendall(data[i : i + 1])
            if stopping.wait(interval):
                return
    except OSError:
        return


def _oversized(
    conn: socket.socket,
    status: int,
    reason: str,
    headers: List[Tuple[str, str]],
    body: bytes,
    size: int,
    stopping: threading.Event,
) -> None:
    """The answer, then JSON whitespace up to ``size`` bytes, chunked so no length warns the client."""
    try:
        conn.sendall(_head(status, reason, headers, "Transfer-Encoding: chunked") + b"%x\r\n%s\r\n" % (len(body), body))
        left, piece = size - len(body), b" " * 65536
        while left > 0 and not stopping.is_set():
            chunk = piece[: min(left, len(piece))]
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            left -= len(chunk)
        conn.sendall(b"0\r\n\r\n")
    except OSError:
        return


def _send(wfile: Any, status: int, reason: str, headers: List[Tuple[str, str]], body: bytes) -> bool:
    head = [f"HTTP/1.1 {status} {reason}"]
    head += [f"{name}: {value}" for name, value in headers]
    head += [f"Content-Length: {len(body)}", "Connection: keep-alive", "", ""]
    try:
        wfile.write("\r\n".join(head).encode("latin-1") + body)
        wfile.flush()
    except OSError:
        return False
    return True


def _wait_for_close(conn: socket.socket, seconds: float, stopping: threading.Event) -> None:
    """Hold the connection up to ``seconds``; return early when the client closes it (its read timeout fired)."""
    deadline = time.monotonic() + seconds
    while not stopping.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            readable, _, _ = select.select([conn], [], [], min(left, 0.2))
            if readable and not conn.recv(1, socket.MSG_PEEK):
                return
        except (OSError, ValueError):
            return
