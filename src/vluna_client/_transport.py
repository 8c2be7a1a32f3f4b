"""The wire: a small ``Transport`` protocol, and the ``requests``-based transport the clients use by default.

Everything that knows about ``requests`` lives here. The client hands a transport the final method, URL, headers
and body bytes of one attempt and gets back status, headers and body bytes, or a :class:`TransportError` that says
whether the request certainly never left this machine (the one fact retries and money safety depend on).
"""

from __future__ import annotations

import http.client
import os
import threading
import weakref
from collections.abc import Mapping
from typing import Any, Optional, Protocol, Union, cast

# By its full name: `from . import _deadline` reads as an import of the package itself in the import graph.
import vluna_client._deadline as _deadline

from ._errors import ConfigurationError

# Re-exported: the timeout types live in _timeout (a leaf), but older imports and pickles name them here.
from ._timeout import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from ._timeout import MAX_TIMEOUT as MAX_TIMEOUT
from ._timeout import Timeout as Timeout
from ._timeout import TimeoutTypes as TimeoutTypes
from ._timeout import coerce_timeout as coerce_timeout
from ._timeout import parse_timeout as parse_timeout
from ._travel import packed, unpacked

#: What an attempt's I/O can raise once it started, besides the HTTP libraries' own errors: socket and TLS errors,
#: a malformed answer, or a bug below us (an OverflowError from a socket timeout, a RecursionError). Any of them
#: after the request may have left is reported as a lost answer, so a write says its outcome is unknown.
ATTEMPT_FAILURES: tuple[type[BaseException], ...] = (
    OSError,
    ArithmeticError,
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    RuntimeError,
    http.client.HTTPException,
)

#: The largest answer the default transport accepts, counted after decompression.
DEFAULT_MAX_ANSWER_BYTES = 16 * 1024 * 1024

_CHUNK = 64 * 1024


def _oversized(cap: int) -> TransportError:
    return TransportError(f"the answer is larger than {cap} bytes; it was not read", unsent=False)


def _decompress(content: bytes, encoding: str, cap: int) -> bytes:
    """Undo ``gzip``/``deflate`` without ever holding more than ``cap`` decompressed bytes."""
    import zlib

    name = encoding.strip().lower()
    if name in ("", "identity"):
        return content
    if name in ("gzip", "x-gzip"):
        modes = [16 + zlib.MAX_WBITS]
    elif name == "deflate":
        modes = [zlib.MAX_WBITS, -zlib.MAX_WBITS]  # zlib-wrapped, as the standard says; raw, as some servers send
    else:
        return content  # not asked for; the body is read as it is
    for wbits in modes:
        try:
            out = bytearray()
            rest = content
            while rest:
                inflater = zlib.decompressobj(wbits)
                out += inflater.decompress(rest, cap + 1 - len(out))
                if len(out) > cap or inflater.unconsumed_tail:
                    raise _oversized(cap)
                rest = inflater.unused_data  # a gzip body may hold several members
            return bytes(out)
        except zlib.error:
            continue
    raise TransportError(f"the answer's {name} encoding is corrupt", unsent=False)


class RawResponse:
    """One answer as it came off the wire: status, headers and the whole body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> Optional[str]:
        """A header's value by case-insensitive name, or ``None``."""
        value = self.headers.get(name)
        if value is None:
            lowered = name.lower()
            value = next((v for k, v in self.headers.items() if k.lower() == lowered), None)
        return value

    def __repr__(self) -> str:
        return f"<RawResponse status={self.status} bytes={len(self.body)}>"


class TransportError(Exception):
    """An attempt got no answer.

    Attributes:
        unsent: True only when the request certainly never reached the server (refused connection, DNS failure,
            connect timeout, a request that could not be built). False means it may have been received and
            processed: the answer was lost.
        timeout: True when a connect or read timeout ended the attempt.
    """

    def __init__(self, message: str, *, unsent: bool, timeout: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.unsent = unsent
        self.timeout = timeout


class Transport(Protocol):
    """Sends one attempt. Implementations must be safe to call from several threads at once."""

    def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes, timeout: Timeout) -> RawResponse:
        """Send one attempt and return the whole answer; never follow a redirect.

        ``url``, ``body`` and every header given must go out unchanged: the client signed them already (SVC-AUTH
        covers the method, the path and query, the body's digest and the headers in ``SIGNED_HEADERS``). A
        transport may add headers the signature does not cover, as ``RequestsTransport`` adds ``Content-Length``
        and, with a session, the session's default headers.

        Raises:
            TransportError: no answer; ``unsent`` tells whether the request certainly never left.
        """
        ...

    def close(self) -> None:
        """Release pooled connections."""
        ...


def _origin(url: str) -> str:
    """``scheme://host:port`` of an absolute URL, by slicing: it runs on every attempt."""
    end = url.find("/", url.find("//") + 2)
    return url if end < 0 else url[:end]


def _plain_target(url: Any) -> Optional[str]:
    """The path and query of ``url`` as requests sends them when no proxy is used, or None to let requests say.

    requests splits the URL twice to find them; slicing is enough unless the URL holds something that splitting
    could read differently (a fragment, a bare ``?``, no path, a ``//`` path, spaces or characters urlsplit strips).
    """
    if not isinstance(url, str):
        return None
    start = url.find("/", url.find("//") + 2)
    if start <= 0 or url.find("?", 0, start) >= 0 or url.startswith("//", start) or url.endswith("?"):
        return None
    if not url.isprintable() or "#" in url or " " in url:
        return None
    return url[start:]


_LEAN_ADAPTER: Any = None


def _lean_adapter_class() -> Any:
    """``HTTPAdapter`` without the per-answer work this client never uses (cookie jar, charset sniffing)."""
    global _LEAN_ADAPTER  # built once, on first use, so importing the package stays cheap
    if _LEAN_ADAPTER is None:
        import requests
        from requests.adapters import HTTPAdapter

        class LeanAdapter(HTTPAdapter):
            def __init__(self, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                self._pools: dict[Any, Any] = {}

            def get_connection_with_tls_context(
                self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
            ) -> Any:
                # Finding the pool parses the URL twice and rebuilds its key on every call; the answer only
                # depends on the origin and the TLS and proxy settings, so remember it (while the pool is open).
                url = request.url
                key = (_origin(url), verify if isinstance(verify, (bool, str)) else id(verify), cert, id(proxies))
                pool = self._pools.get(key)
                if pool is None or pool.pool is None:
                    pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
                    self._pools[key] = pool
                return pool

            def request_url(self, request: Any, proxies: Any) -> str:
                target = None if proxies else _plain_target(request.url)
                return target if target is not None else cast(str, cast(Any, super()).request_url(request, proxies))

            def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
                # types-requests leaves these two unannotated; through Any they stay checkable with or without it.
                cast(Any, super()).init_poolmanager(*args, **kwargs)
                # Connections that report to the attempt's deadline watchdog (see _deadline).
                self.poolmanager.pool_classes_by_scheme = _deadline.pool_classes()

            def proxy_manager_for(self, proxy: Any, **proxy_kwargs: Any) -> Any:
                manager = cast(Any, super()).proxy_manager_for(proxy, **proxy_kwargs)
                if not proxy.lower().startswith("socks"):
                    manager.pool_classes_by_scheme = _deadline.pool_classes()
                return manager

            def build_response(self, req: Any, resp: Any) -> Any:
                response = requests.Response()
                response.status_code = resp.status
                response.headers = resp.headers  # urllib3's header dict is already case-insensitive
                response.raw = resp
                response.reason = resp.reason
                response.url = req.url
                response.request = req
                response.connection = self
                return response

        _LEAN_ADAPTER = LeanAdapter
    return _LEAN_ADAPTER


_TRANSPORTS: weakref.WeakSet[RequestsTransport] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A forked child shares the parent's open sockets; reusing one would interleave two processes' requests on a
    # single connection. Forget (do not close: the parent still owns them) every pooled connection.
    for transport in list(_TRANSPORTS):
        transport._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class RequestsTransport:
    """The default transport: ``requests``' pooled HTTP adapter, shared by every thread of the process.

    Without a ``session``, requests go straight to one ``HTTPAdapter`` (urllib3's pools are thread-safe), skipping
    the per-call work of a ``Session`` this client never needs: cookie jars (which could carry one customer's
    load-balancer cookie into another's call), hooks, redirects, ``~/.netrc`` and re-reading the environment.
    Proxy and CA settings (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``...) are read once per origin.

    With a ``session`` (proxies, mTLS client certificates, custom adapters or test doubles), every attempt goes
    through ``session.send`` with the session's own settings; sharing it between threads is then your choice.

    Args:
        session: A ``requests.Session`` to send through instead of the built-in pool.
        pool_maxsize: Connections kept per host by the built-in pool (threads beyond it open extra ones).
        max_answer_bytes: The largest answer accepted, counted after decompression (default 16 MiB). A larger
            one ends the attempt with a :class:`TransportError` (for a write: the outcome is unknown).
    """

    def __init__(
        self, session: Any = None, *, pool_maxsize: int = 32, max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES
    ) -> None:
        import requests

        if session is not None and not isinstance(session, requests.Session):
            raise ConfigurationError("session must be a requests.Session")
        if isinstance(pool_maxsize, bool) or not isinstance(pool_maxsize, int) or not 1 <= pool_maxsize <= 10_000:
            raise ConfigurationError("pool_maxsize must be an integer from 1 to 10000")
        if isinstance(max_answer_bytes, bool) or not isinstance(max_answer_bytes, int) or max_answer_bytes < 1024:
            raise ConfigurationError("max_answer_bytes must be an integer of at least 1024")
        self._max_answer_bytes = max_answer_bytes
        self._session = session
        self._pool_maxsize = pool_maxsize
        self._lock = threading.Lock()
        self._adapter: Any = None
        self._environment: dict[str, dict[str, Any]] = {}
        self._pid = os.getpid()
        self._closed = False
        _TRANSPORTS.add(self)

    def _forget(self) -> None:
        self._adapter = None
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _pooled_adapter(self) -> Any:
        if self._closed:
            raise ConfigurationError("the client is closed")
        if self._pid != os.getpid():  # a fork that register_at_fork did not report
            self._forget()
        adapter = self._adapter
        if adapter is None:
            with self._lock:
                if self._adapter is None:
                    self._adapter = _lean_adapter_class()(pool_connections=4, pool_maxsize=self._pool_maxsize)
                adapter = self._adapter
        return adapter

    def environment(self, url: str) -> dict[str, Any]:
        """``send`` keyword arguments from the environment (proxies, CA bundle) for this URL's origin."""
        origin = _origin(url)
        settings = self._environment.get(origin)
        if settings is None:
            from requests.utils import get_environ_proxies

            verify: Union[bool, str] = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            settings = {"proxies": get_environ_proxies(url), "verify": verify, "cert": None}
            self._environment[origin] = settings
        return settings

    def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes, timeout: Timeout) -> RawResponse:
        """Send one attempt; see :class:`Transport`.

        The attempt ends when ``timeout.read`` has passed since the request started (plus ``timeout.connect`` when
        a connection had to be opened), however slowly the server sends its status line, headers or body: the
        connection is shut down then and the attempt fails with a timeout. With your own ``session``, only the
        body is bounded that way (the header phase is then bounded per socket read, by requests).
        """
        import requests
        import urllib3

        if self._closed:
            raise ConfigurationError("the client is closed")
        adapter = self._pooled_adapter() if self._session is None else None
        prepared = requests.PreparedRequest()
        prepared.method = method
        prepared.url = url
        prepared.body = body or None
        session = self._session
        merged: dict[str, Any] = dict(session.headers) if session is not None else {}
        merged.update(headers)
        if body or method not in ("GET", "HEAD"):
            merged["Content-Length"] = str(len(body))
        # Our header names are exact and unique, so a plain dict is enough for the adapter (a session's own send
        # path gets the case-insensitive mapping it expects).
        prepared.headers = merged if session is None else requests.structures.CaseInsensitiveDict(merged)  # type: ignore[assignment]
        attempt = _deadline.Attempt(timeout.connect, timeout.read)
        _deadline.begin(attempt)
        try:
            if adapter is not None:
                response = adapter.send(prepared, stream=True, timeout=timeout.as_tuple(), **self.environment(url))
            elif session is not None:
                settings = session.merge_environment_settings(url, {}, None, None, None)
                settings["stream"] = True
                response = session.send(prepared, allow_redirects=False, timeout=timeout.as_tuple(), **settings)
                connection = getattr(response.raw, "_connection", None)
                if connection is not None and attempt.connection is None:
                    connection._vluna_attempt = attempt
                    attempt.connection = connection
                    attempt.sock = getattr(connection, "sock", None)
                    _deadline.WATCHDOG.watch(attempt)
            content = self._read_answer(response)
            if attempt.fired:
                # The watchdog shut the socket: what looked like the end of the headers or body was the deadline.
                raise TransportError("no complete answer within the read timeout", unsent=False, timeout=True)
        except requests.exceptions.ConnectTimeout:
            raise TransportError("connecting timed out", unsent=True, timeout=True) from None
        except TransportError:
            raise
        except Exception as exc:
            if not isinstance(exc, (*ATTEMPT_FAILURES, urllib3.exceptions.HTTPError)):
                raise  # not a failure of the I/O (e.g. a signal handler's time limit): the caller's to handle
            raise self._failure(exc, attempt) from None
        finally:
            _deadline.end(attempt)
        return RawResponse(response.status_code, response.headers, content)

    def _read_answer(self, response: Any) -> bytes:
        """The whole body, decompressed, refusing more than ``max_answer_bytes`` at any stage."""
        raw = response.raw
        cap = self._max_answer_bytes
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and len(length) < 20 and int(length) > cap:
            response.close()
            raise _oversized(cap)
        if length is not None and length.isdigit():
            content: bytes = raw.read(decode_content=False)  # at most Content-Length bytes
        else:
            parts = []
            size = 0
            while True:
                chunk = raw.read(_CHUNK, decode_content=False)
                if not chunk:
                    break
                size += len(chunk)
                if size > cap:
                    response.close()
                    raise _oversized(cap)
                parts.append(chunk)
            content = b"".join(parts)
        encoding = response.headers.get("Content-Encoding")
        if encoding:
            content = _decompress(content, encoding, cap)
        return content

    def _failure(self, exc: Exception, attempt: _deadline.Attempt) -> TransportError:
        """The TransportError for an attempt that raised after it started."""
        import requests
        import urllib3

        if attempt.expired():
            return TransportError("no complete answer within the read timeout", unsent=False, timeout=True)
        if isinstance(exc, requests.exceptions.Timeout):
            return TransportError("no answer within the read timeout", unsent=False, timeout=True)
        if isinstance(exc, (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL)):
            return TransportError(f"the request could not be built ({type(exc).__name__})", unsent=True)
        if isinstance(exc, requests.exceptions.RequestException):
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            unsent = type(reason).__name__ in ("NewConnectionError", "NameResolutionError")
            what = "could not connect" if unsent else "the connection failed"
            return TransportError(f"{what} ({type(exc).__name__})", unsent=unsent)
        if isinstance(exc, urllib3.exceptions.HTTPError):
            # Raised while reading the body, after the request went out: the answer is lost.
            timed_out = isinstance(exc, urllib3.exceptions.ReadTimeoutError)
            what = "no answer within the read timeout" if timed_out else "the answer was cut off"
            return TransportError(f"{what} ({type(exc).__name__})", unsent=False, timeout=timed_out)
        # Anything else (an OS error, a bug below us): the request may have left, so it may have been applied.
        return TransportError(f"the attempt failed ({type(exc).__name__})", unsent=False)

    def close(self) -> None:
        """Close pooled connections (not a session you passed in: it is yours)."""
        self._closed = True
        with self._lock:
            adapter, self._adapter = self._adapter, None
        if adapter is not None:
            adapter.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its settings: pools and locks belong to this process, and the copy builds its own on first use.
        # A session of yours travels only if it pickles itself (requests.Session does, without its connections).
        session = None if self._session is None else packed(self._session, what="session")
        return (_rebuilt_transport, (session, self._pool_maxsize, self._closed))

    def __repr__(self) -> str:
        return f"<RequestsTransport {'session' if self._session is not None else 'pooled'}>"


def _rebuilt_transport(session: Optional[bytes], pool_maxsize: int, closed: bool) -> RequestsTransport:
    """A pickled :class:`RequestsTransport` on the other side: same settings, connections of its own."""
    transport = RequestsTransport(unpacked(session) if session is not None else None, pool_maxsize=pool_maxsize)
    transport._closed = closed
    return transport
