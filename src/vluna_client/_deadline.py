"""Per-attempt deadlines for the requests transport: a slow or dribbling server cannot stretch an attempt.

A socket timeout bounds one read; a server that sends a byte every second never trips it. So every attempt of the
default transport registers its connection here with a deadline, and one daemon thread (the watchdog) shuts the
connection's socket down when the deadline passes, wherever the attempt is blocked: reading the status line, the
header block or the body. The attempt then fails at once with a read error, which the transport reports as a
timeout because the deadline has passed.

The hook is a pair of urllib3 connection classes: when a request starts on a connection, they record the connection
on the attempt the current thread is running (a thread-local set by the transport around each attempt). A
connection remembers which attempt owns it, so a connection handed to another attempt is never shut for the old one.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
from typing import Any, Optional, cast

#: How long the watchdog waits before looking again at a connection that is still being opened (its connect is
#: bounded by the connect timeout; its socket does not exist yet).
_CONNECTING_RECHECK = 0.05


class Attempt:
    """One attempt's budget: ``connect`` and ``read`` seconds, and the deadline once a request has started."""

    __slots__ = ("connect", "connection", "deadline", "fired", "read", "sock", "started")

    def __init__(self, connect: float, read: float) -> None:
        self.connect = connect
        self.read = read
        self.started = time.monotonic()
        #: The deadline before any request started: opening the connection and the whole read.
        self.deadline = self.started + connect + read
        self.connection: Any = None
        # The connection's socket, kept here: http.client drops it from the connection (sock = None) as soon as
        # the headers say "Connection: close", while the body is still being read from it.
        self.sock: Any = None
        self.fired = False

    def expired(self) -> bool:
        """Whether the watchdog shut the connection, or the deadline has passed anyway."""
        return self.fired or time.monotonic() >= self.deadline


def _shut(sock: Any) -> None:
    """Shut a socket down for both directions; a reader blocked on it in another thread wakes up with EOF."""
    raw = sock if isinstance(sock, socket.socket) else getattr(sock, "socket", None)
    if not isinstance(raw, socket.socket):
        return
    # socket.socket's own shutdown, not SSLSocket's: only the file descriptor is touched, never the TLS state
    # another thread is using.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(raw, socket.SHUT_RDWR)


class Watchdog:
    """The one thread that ends attempts past their deadline (started on first use, again after a fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._active: set[Attempt] = set()
        self._next = math.inf  # when the thread means to look next
        self._thread: Optional[threading.Thread] = None

    def watch(self, attempt: Attempt) -> None:
        """Start (or update) watching ``attempt``; its ``connection`` is what gets shut at the deadline."""
        with self._lock:
            self._active.add(attempt)
            if attempt.deadline < self._next:
                self._next = attempt.deadline
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="vluna-deadlines", daemon=True)
                    self._thread.start()
                self._wake.set()

    def unwatch(self, attempt: Attempt) -> None:
        """Stop watching; from here on the watchdog never touches the attempt's connection."""
        with self._lock:
            self._active.discard(attempt)
            attempt.connection = None
            attempt.sock = None

    def after_fork(self) -> None:
        """In a forked child: no watchdog thread exists there, and the parent's attempts are not ours."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._active = set()
        self._next = math.inf
        self._thread = None

    def _run(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                earliest = math.inf
                for attempt in list(self._active):
                    if attempt.deadline <= now:
                        connection = attempt.connection
                        if connection is None or getattr(connection, "_vluna_attempt", None) is not attempt:
                            self._active.discard(attempt)
                            continue
                        sock = getattr(connection, "sock", None) or attempt.sock
                        if sock is None:
                            attempt.deadline = now + _CONNECTING_RECHECK  # still connecting: look again soon
                        else:
                            attempt.fired = True
                            _shut(sock)
                            self._active.discard(attempt)
                            continue
                    earliest = min(earliest, attempt.deadline)
                self._next = earliest
                self._wake.clear()
            self._wake.wait(None if earliest == math.inf else max(0.0, earliest - time.monotonic()))


WATCHDOG = Watchdog()
_CURRENT = threading.local()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=WATCHDOG.after_fork)


def begin(attempt: Attempt) -> None:
    """Make ``attempt`` the one this thread's next request belongs to."""
    _CURRENT.attempt = attempt


def end(attempt: Attempt) -> None:
    """The attempt is over (answer read, or failed): stop watching it."""
    _CURRENT.attempt = None
    if attempt.connection is not None:
        WATCHDOG.unwatch(attempt)
    attempt.sock = None


def adopt(connection: Any, attempt: Attempt, *, reused: bool) -> None:
    """``connection`` now serves ``attempt``: set the deadline from this moment and watch it.

    A connection that still has to be opened gets ``connect + read``; once open (:func:`connected`), the deadline
    becomes ``read`` from that moment, so ``read`` always counts from when the request starts to go out.
    """
    connection._vluna_attempt = attempt
    attempt.connection = connection
    attempt.sock = getattr(connection, "sock", None)
    attempt.deadline = time.monotonic() + attempt.read + (0.0 if reused else attempt.connect)
    WATCHDOG.watch(attempt)


def connected(attempt: Attempt, sock: Any) -> None:
    """The attempt's connection was just opened: from now on only the read budget is left."""
    attempt.sock = sock
    attempt.deadline = time.monotonic() + attempt.read
    WATCHDOG.watch(attempt)


_CLASSES: Optional[dict[str, Any]] = None


def pool_classes() -> dict[str, Any]:
    """urllib3 connection-pool classes (by scheme) whose connections report to the current attempt."""
    global _CLASSES  # built on first use: urllib3 is imported with the transport, not with the package
    if _CLASSES is None:
        from urllib3.connection import HTTPConnection, HTTPSConnection
        from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

        def hooked_request(base: Any) -> Any:
            def hooked(self: Any, *args: Any, **kwargs: Any) -> Any:
                attempt = getattr(_CURRENT, "attempt", None)
                if attempt is not None:
                    adopt(self, attempt, reused=getattr(self, "sock", None) is not None)
                return base.request(self, *args, **kwargs)

            return hooked

        def hooked_connect(base: Any) -> Any:
            def hooked(self: Any) -> Any:
                result = base.connect(self)
                current = getattr(_CURRENT, "attempt", None)
                if current is not None and getattr(self, "_vluna_attempt", None) is current:
                    connected(cast(Attempt, current), getattr(self, "sock", None))
                return result

            return hooked

        class DeadlineHTTPConnection(HTTPConnection):
            request = hooked_request(HTTPConnection)
            connect = hooked_connect(HTTPConnection)

        class DeadlineHTTPSConnection(HTTPSConnection):
            request = hooked_request(HTTPSConnection)
            connect = hooked_connect(HTTPSConnection)

        class DeadlineHTTPConnectionPool(HTTPConnectionPool):
            ConnectionCls = DeadlineHTTPConnection

        class DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
            ConnectionCls = DeadlineHTTPSConnection

        _CLASSES = {"http": DeadlineHTTPConnectionPool, "https": DeadlineHTTPSConnectionPool}
    return _CLASSES
