"""HTTP plumbing: one ``requests.Session`` per thread, fresh sessions after ``fork``, timeouts always set."""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any, Optional, Union
from urllib.parse import urlsplit

import attrs
import requests
from requests.utils import get_environ_proxies

from ._errors import ConfigurationError


@attrs.frozen
class Timeout:
    """Connect and read timeouts in seconds. Never ``None``: a stuck server must not hang a worker forever."""

    connect: float = attrs.field(default=5.0)
    read: float = attrs.field(default=30.0)

    def __attrs_post_init__(self) -> None:
        for name in ("connect", "read"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigurationError(f"timeout {name} must be a positive number of seconds, got {value!r}")

    def as_tuple(self) -> tuple[float, float]:
        """The ``(connect, read)`` pair requests expects."""
        return (float(self.connect), float(self.read))


#: A timeout as callers may give it: seconds for both phases, a ``(connect, read)`` pair, or a Timeout.
TimeoutTypes = Union[None, float, tuple[float, float], Timeout]

DEFAULT_TIMEOUT = Timeout()


def coerce_timeout(value: TimeoutTypes, default: Timeout) -> Timeout:
    """Resolve a per-call or per-client timeout; ``None`` means the default, never "wait forever"."""
    if value is None:
        return default
    if isinstance(value, Timeout):
        return value
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ConfigurationError("a timeout tuple must be (connect, read)")
        return Timeout(connect=value[0], read=value[1])
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"timeout must be seconds, a (connect, read) pair or a Timeout, got {value!r}")
    return Timeout(connect=value, read=value)


_POOLS: weakref.WeakSet[SessionPool] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A forked child shares the parent's open sockets; reusing one would interleave two processes' requests on a
    # single connection. Forget (do not close: the parent still owns them) every pooled session.
    for pool in list(_POOLS):
        pool._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class SessionPool:
    """Hands each thread its own ``requests.Session`` (sessions are not thread-safe) and closes them all."""

    def __init__(self, user_agent: str, factory: Optional[type[requests.Session]] = None) -> None:
        self._user_agent = user_agent
        self._factory = factory or requests.Session
        self._lock = threading.Lock()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._pid = os.getpid()
        self._closed = False
        _POOLS.add(self)

    def _forget(self) -> None:
        self._local = threading.local()
        self._sessions = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def session(self) -> requests.Session:
        """This thread's session, created on first use."""
        if self._closed:
            raise ConfigurationError("the client is closed")
        if self._pid != os.getpid():  # fork without register_at_fork (should not happen on CPython 3.7+)
            self._forget()
        session: Optional[requests.Session] = getattr(self._local, "session", None)
        if session is None:
            session = self._factory()
            session.headers["User-Agent"] = self._user_agent
            # requests re-reads the whole environment (proxies, CA bundle) and ~/.netrc on every call when
            # trust_env is on: about 0.3 ms a call. environment() reads it once per origin instead, and netrc
            # credentials have no business on a signed request anyway.
            session.trust_env = False
            self._local.environment = {}
            with self._lock:
                self._sessions.append(session)
            self._local.session = session
        return session

    def environment(self, url: str) -> dict[str, Any]:
        """``send`` keyword arguments from the environment (proxies, CA bundle) for this URL's origin."""
        cache: dict[tuple[str, str], dict[str, Any]] = getattr(self._local, "environment", None) or {}
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        settings = cache.get(origin)
        if settings is None:
            verify: Union[bool, str] = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            settings = {"proxies": get_environ_proxies(url), "verify": verify, "stream": False, "cert": None}
            cache[origin] = settings
            self._local.environment = cache
        return settings

    def close(self) -> None:
        """Close every session this process opened."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
            self._closed = True
        for session in sessions:
            session.close()
        self._local = threading.local()
