"""Scriptable fault injection for the emulator."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import List, Optional

__all__ = ["Fault", "Faults"]

_FAIL_CODES = {
    400: "VALIDATION.INVALID_INPUT",
    401: "AUTH.UNAUTHORIZED",
    403: "AUTH.INSUFFICIENT_SCOPE",
    404: "RESOURCE.NOT_FOUND",
    409: "WRITE.INVALID_PAYLOAD",
    422: "VALIDATION.INVALID_INPUT",
    502: "SERVER.UPSTREAM",
    503: "SERVER.DB_UNAVAILABLE",
}


@dataclass(frozen=True)
class Fault:
    """One scheduled fault, as handed to the request pipeline when it matches a request.

    Attributes:
        kind: ``"fail"``, ``"drop"``, ``"delay"`` or ``"rate_limit"``.
        status: HTTP status for ``fail`` (and 429 for ``rate_limit``).
        seconds: sleep for ``delay``; ``Retry-After`` value for ``rate_limit``.
        code: error code for ``fail`` (derived from the status when not given).
        message: error message for ``fail``.
    """

    kind: str
    status: int = 0
    seconds: float = 0.0
    code: Optional[str] = None
    message: Optional[str] = None


@dataclass
class _Rule:
    fault: Fault
    remaining: int
    path: Optional[str]
    method: Optional[str]

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is None:
            return True
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path.rstrip("/") == self.path.rstrip("/")


class Faults:
    """Faults a test schedules; each request consumes at most one, in the order they were scheduled.

    Every method takes an optional ``path`` (the request path without query; a trailing ``*`` makes it a prefix,
    e.g. ``"/mgt/v1/gate/*"``) and ``method`` filter. A request that matches no pending rule is served normally.
    All methods are thread-safe and return ``self`` so calls can be chained.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: List[_Rule] = []

    def _add(self, fault: Fault, n: int, path: Optional[str], method: Optional[str]) -> Faults:
        if n < 1:
            raise ValueError("n must be at least 1")
        with self._lock:
            self._rules.append(_Rule(fault=fault, remaining=n, path=path, method=method))
        return self

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        path: Optional[str] = None,
        method: Optional[str] = None,
        code: Optional[str] = None,
        message: Optional[str] = None,
    ) -> Faults:
        """Answer the next ``n`` matching requests with an error without processing them.

        A 500 looks like the server's unhandled-error reply (``SERVER.UNEXPECTED``, no ``meta``); other statuses
        use the production error envelope with ``meta.status``. ``code``/``message`` override the defaults.
        """
        if not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        return self._add(Fault("fail", status=status, code=code, message=message), n, path, method)

    def drop_response_after_processing(
        self, n: int = 1, path: Optional[str] = None, *, method: Optional[str] = None
    ) -> Faults:
        """Fully process the next ``n`` matching requests (the write is recorded), then close the socket unanswered.

        This is the classic "did my charge go through?" failure: the client sees a connection error although the
        server committed the work, and only an idempotent retry with the same key is safe.
        """
        return self._add(Fault("drop"), n, path, method)

    def delay_next(
        self, n: int = 1, seconds: float = 1.0, *, path: Optional[str] = None, method: Optional[str] = None
    ) -> Faults:
        """Sleep ``seconds`` before processing each of the next ``n`` matching requests (a slow server).

        The sleep is cut short when the emulator stops, so a test never waits for it at teardown.
        """
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        return self._add(Fault("delay", seconds=seconds), n, path, method)

    def rate_limit_next(
        self, n: int = 1, retry_after: int = 1, *, path: Optional[str] = None, method: Optional[str] = None
    ) -> Faults:
        """Answer the next ``n`` matching requests with 429 ``LIMIT.RATE_EXCEEDED`` and ``Retry-After``.

        The real server never sends ``Retry-After``; the emulator does so clients can be tested against
        deployments (or proxies) that do.
        """
        if retry_after < 0:
            raise ValueError("retry_after must not be negative")
        return self._add(Fault("rate_limit", status=429, seconds=float(retry_after)), n, path, method)

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._rules.clear()

    @property
    def pending(self) -> int:
        """How many faults are still scheduled (summed over all rules)."""
        with self._lock:
            return sum(rule.remaining for rule in self._rules)

    def take(self, method: str, path: str) -> Optional[Fault]:
        """Consume and return the first pending fault matching this request (used by the request pipeline)."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    return rule.fault
        return None


def default_fail_code(status: int) -> str:
    """Error code the server's exception filter derives from a bare status."""
    return _FAIL_CODES.get(status, "SERVER.UNEXPECTED")
