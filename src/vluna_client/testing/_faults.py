"""Scriptable fault injection for the emulator: scheduled faults and a seeded random mode for chaos tests."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Iterable, List, Literal, Mapping, Optional, Tuple, Union, get_args

__all__ = ["FAULT_KINDS", "Fault", "FaultKind", "Faults"]

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

FaultKind = Literal["fail", "rate_limit", "reset", "delay", "drop", "stall", "trickle", "oversized"]
"""The type of :attr:`Fault.kind`: one of :data:`FAULT_KINDS`."""

FAULT_KINDS: Tuple[FaultKind, ...] = get_args(FaultKind)
"""Every fault kind. ``fail``, ``rate_limit`` and ``reset`` stop a request before it is processed; ``delay`` slows
it down first; ``drop``, ``stall``, ``trickle`` (the answer sent one byte at a time) and ``oversized`` (an answer
padded far beyond any sane size) act after processing, so the work is done whatever the client hears."""

#: How long ``trickle`` waits between two bytes by default: well inside any socket read timeout, so only a
#: deadline on the whole answer ends the wait.
DEFAULT_TRICKLE_INTERVAL = 0.1
#: Size of an ``oversized`` answer by default: past the client's 16 MiB cap.
DEFAULT_OVERSIZED_BYTES = 17 * 1024 * 1024

_BEFORE_PROCESSING: frozenset[FaultKind] = frozenset({"fail", "rate_limit", "reset"})
_RANDOM_DEFAULT_KINDS: Tuple[FaultKind, ...] = ("fail", "rate_limit", "reset", "drop", "stall")


@dataclass(frozen=True)
class Fault:
    """One fault, as handed to the request pipeline when it matches a request.

    Attributes:
        kind: one of :data:`FAULT_KINDS`.
        status: HTTP status for ``fail`` (429 for ``rate_limit``).
        seconds: sleep before processing for ``delay``; how long ``stall`` holds the answer; ``Retry-After`` for
            ``rate_limit``.
        code: error code for ``fail`` (derived from the status when not given).
        message: error message for ``fail``.
        then: what ``stall`` does once the time is up: ``"drop"`` (close unanswered) or ``"send"``; for
            ``trickle``, the part sent one byte at a time: ``"headers"`` (status line and headers, then the body)
            or ``"body"``.
        size: bytes of an ``oversized`` answer (the real envelope, then JSON whitespace up to this size).
    """

    kind: FaultKind
    status: int = 0
    seconds: float = 0.0
    code: Optional[str] = None
    message: Optional[str] = None
    then: str = "drop"
    size: int = 0

    @property
    def processes(self) -> bool:
        """Whether the request is processed (state may change) under this fault."""
        return self.kind not in _BEFORE_PROCESSING


@dataclass
class _Rule:
    fault: Fault
    remaining: int
    path: Optional[str]
    method: Optional[str]

    def matches(self, method: str, path: str) -> bool:
        return _matches(self.path, self.method, method, path)


def _matches(pattern: Optional[str], wanted_method: Optional[str], method: str, path: str) -> bool:
    if wanted_method is not None and wanted_method.upper() != method.upper():
        return False
    if pattern is None:
        return True
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path.rstrip("/") == pattern.rstrip("/")


@dataclass
class _RandomMode:
    rng: random.Random
    weights: Tuple[Tuple[FaultKind, float], ...]  # (kind, probability), summing to at most 1
    paths: Optional[Tuple[str, ...]]
    methods: Optional[Tuple[str, ...]]
    status: int
    retry_after: int
    seconds: float
    then: str
    trickle_interval: float = DEFAULT_TRICKLE_INTERVAL
    oversized_bytes: int = DEFAULT_OVERSIZED_BYTES

    def draw(self, method: str, path: str) -> Optional[Fault]:
        if self.methods is not None and method.upper() not in self.methods:
            return None
        if self.paths is not None and not any(_matches(p, None, method, path) for p in self.paths):
            return None
        roll = self.rng.random()
        cumulative = 0.0
        for kind, probability in self.weights:
            cumulative += probability
            if roll < cumulative:
                return self._fault(kind)
        return None

    def _fault(self, kind: FaultKind) -> Fault:
        if kind == "fail":
            return Fault("fail", status=self.status)
        if kind == "rate_limit":
            return Fault("rate_limit", status=429, seconds=float(self.retry_after))
        if kind == "stall":
            return Fault("stall", seconds=self.seconds, then=self.then)
        if kind == "delay":
            return Fault("delay", seconds=self.seconds)
        if kind == "trickle":
            part = "headers" if self.rng.random() < 0.5 else "body"
            return Fault("trickle", seconds=self.trickle_interval, then=part)
        if kind == "oversized":
            return Fault("oversized", size=self.oversized_bytes)
        return Fault(kind)


class Faults:
    """Faults a test schedules; each request gets at most one.

    Scheduled faults are consumed in the order they were scheduled; when none matches and :meth:`random` is on, the
    random mode may pick one. Every method takes an optional ``path`` (the request path without query; a trailing
    ``*`` makes it a prefix, e.g. ``"/mgt/v1/gate/*"``) and ``method`` filter. Faults apply before routing, so they
    work on every route, unknown ones included. All methods are thread-safe and return ``self`` for chaining.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: List[_Rule] = []
        self._random: Optional[_RandomMode] = None

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
        _check_status(status)
        return self._add(Fault("fail", status=status, code=code, message=message), n, path, method)

    def reset_next(self, n: int = 1, path: Optional[str] = None, *, method: Optional[str] = None) -> Faults:
        """Reset the connection (TCP RST) of the next ``n`` matching requests before processing them."""
        return self._add(Fault("reset"), n, path, method)

    def drop_response_after_processing(
        self, n: int = 1, path: Optional[str] = None, *, method: Optional[str] = None
    ) -> Faults:
        """Fully process the next ``n`` matching requests (the write is recorded), then close the socket unanswered.

        This is the classic "did my charge go through?" failure: the client sees a connection error although the
        server committed the work, and only an idempotent retry with the same key is safe.
        """
        return self._add(Fault("drop"), n, path, method)

    def stall_next(
        self,
        n: int = 1,
        seconds: float = 1.0,
        *,
        then: str = "drop",
        path: Optional[str] = None,
        method: Optional[str] = None,
    ) -> Faults:
        """Process the next ``n`` matching requests, hold each answer ``seconds``, then ``drop`` it or ``send`` it.

        Set ``seconds`` beyond the client's read timeout to test a timeout whose write did happen. The wait ends
        early when the client closes its connection (as it does when its read timeout fires) or the emulator
        stops, so a test only waits as long as its own client's timeout.
        """
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        if then not in ("drop", "send"):
            raise ValueError('then must be "drop" or "send"')
        return self._add(Fault("stall", seconds=seconds, then=then), n, path, method)

    def trickle_next(
        self,
        n: int = 1,
        interval: float = DEFAULT_TRICKLE_INTERVAL,
        *,
        part: str = "body",
        path: Optional[str] = None,
        method: Optional[str] = None,
    ) -> Faults:
        """Process the next ``n`` matching requests, then send each answer one byte every ``interval`` seconds.

        ``part="headers"`` dribbles the status line and headers (then the body), ``"body"`` sends the headers at
        once and dribbles the body. Every byte arrives well within a socket read timeout, so a client that only
        bounds each read waits for the whole dribble; one that bounds the answer gives up at its deadline. The
        dribble stops when the client hangs up or the emulator stops.
        """
        if not interval > 0:
            raise ValueError("interval must be positive")
        if part not in ("headers", "body"):
            raise ValueError('part must be "headers" or "body"')
        return self._add(Fault("trickle", seconds=interval, then=part), n, path, method)

    def oversized_next(
        self,
        n: int = 1,
        size: int = DEFAULT_OVERSIZED_BYTES,
        *,
        path: Optional[str] = None,
        method: Optional[str] = None,
    ) -> Faults:
        """Process the next ``n`` matching requests, then answer each with ``size`` bytes (chunked, no length).

        The body is the real envelope followed by JSON whitespace, so it parses: only a client that caps the size
        of an answer refuses it (the default client's cap is 16 MiB).
        """
        if size < 1:
            raise ValueError("size must be positive")
        return self._add(Fault("oversized", size=size), n, path, method)

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
        """Answer the next ``n`` matching requests (a burst) with 429 ``LIMIT.RATE_EXCEEDED`` and ``Retry-After``.

        The real server never sends ``Retry-After``; the emulator does so clients can be tested against
        deployments (or proxies) that do.
        """
        if retry_after < 0:
            raise ValueError("retry_after must not be negative")
        return self._add(Fault("rate_limit", status=429, seconds=float(retry_after)), n, path, method)

    def random(
        self,
        rate: Union[float, Mapping[str, float]] = 0.2,
        *,
        seed: Optional[int] = None,
        kinds: Iterable[str] = _RANDOM_DEFAULT_KINDS,
        paths: Optional[Iterable[str]] = None,
        methods: Optional[Iterable[str]] = None,
        status: int = 503,
        retry_after: int = 0,
        stall_seconds: float = 1.0,
        then: str = "drop",
        trickle_interval: float = DEFAULT_TRICKLE_INTERVAL,
        oversized_bytes: int = DEFAULT_OVERSIZED_BYTES,
    ) -> Faults:
        """Inject faults at random into requests that no scheduled fault matched (replaces any previous mode).

        Args:
            rate: probability that a matching request gets a fault, the kind then chosen uniformly from ``kinds``;
                or a mapping kind -> probability (their sum at most 1), in which case ``kinds`` is ignored.
            seed: seed of the random generator; the same seed and the same request sequence give the same faults.
            kinds: kinds to choose from (default: every kind but ``delay``).
            paths: path patterns to act on (``*`` suffix for a prefix); all paths when omitted.
            methods: HTTP methods to act on; all when omitted.
            status: status of ``fail`` faults.
            retry_after: ``Retry-After`` of ``rate_limit`` faults (0 lets a fast-retry client go on at once).
            stall_seconds: how long ``stall`` holds an answer (and ``delay`` sleeps); keep it above the client's
                read timeout, which tests set small.
            then: what ``stall`` does after waiting: ``"drop"`` or ``"send"``.
            trickle_interval: seconds between two bytes of a ``trickle`` (headers or body, chosen at random).
            oversized_bytes: size of an ``oversized`` answer.
        """
        weights = _weights(rate, kinds)
        _check_status(status)
        if then not in ("drop", "send"):
            raise ValueError('then must be "drop" or "send"')
        mode = _RandomMode(
            rng=random.Random(seed),  # noqa: S311 - test fault injection, not cryptography
            weights=weights,
            paths=tuple(paths) if paths is not None else None,
            methods=tuple(m.upper() for m in methods) if methods is not None else None,
            status=status,
            retry_after=retry_after,
            seconds=stall_seconds,
            then=then,
            trickle_interval=trickle_interval,
            oversized_bytes=oversized_bytes,
        )
        with self._lock:
            self._random = mode
        return self

    def stop_random(self) -> Faults:
        """Turn the random mode off (scheduled faults stay)."""
        with self._lock:
            self._random = None
        return self

    def clear(self) -> None:
        """Forget every pending fault and turn the random mode off."""
        with self._lock:
            self._rules.clear()
            self._random = None

    @property
    def pending(self) -> int:
        """How many scheduled faults are still pending (summed over all rules; the random mode not counted)."""
        with self._lock:
            return sum(rule.remaining for rule in self._rules)

    def take(self, method: str, path: str) -> Optional[Fault]:
        """Consume and return the fault for this request, if any (used by the request pipeline)."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    return rule.fault
            if self._random is not None:
                return self._random.draw(method, path)
        return None


def _fault_kind(kind: str) -> FaultKind:
    """``kind`` as a :data:`FaultKind`, or ValueError when it names none."""
    # The declared kind equal to `kind`, not a cast: mypy 1.19 does not narrow a str by `in`, and newer ones call
    # such a cast redundant.
    for known in FAULT_KINDS:
        if kind == known:
            return known
    raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")


def _weights(rate: Union[float, Mapping[str, float]], kinds: Iterable[str]) -> Tuple[Tuple[FaultKind, float], ...]:
    """Each fault kind of a random mode with its probability (see :meth:`Faults.random`), checked."""
    if isinstance(rate, Mapping):
        weights = tuple((_fault_kind(kind), float(probability)) for kind, probability in rate.items())
    else:
        chosen = tuple(kinds)
        if not chosen:
            raise ValueError("kinds must not be empty")
        weights = tuple((_fault_kind(kind), float(rate) / len(chosen)) for kind in chosen)
    for _, probability in weights:
        if probability < 0:
            raise ValueError("probabilities must not be negative")
    if sum(probability for _, probability in weights) > 1.0 + 1e-9:
        raise ValueError("the probabilities must add up to at most 1")
    return weights


def _check_status(status: int) -> None:
    if not 400 <= status <= 599:
        raise ValueError("status must be a 4xx or 5xx code")


def default_fail_code(status: int) -> str:
    """Error code the server's exception filter derives from a bare status."""
    return _FAIL_CODES.get(status, "SERVER.UNEXPECTED")
