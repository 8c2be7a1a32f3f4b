"""When to retry, how long to wait, and what the caller must be told when the client gives up.

Whether an attempt may be repeated depends on what was observed, not only on the route:

- the request certainly never left (refused connection, connect timeout): always safe to repeat;
- a 429 answer: the server refused before doing anything, always safe to repeat after the wait it asks for;
- a 5xx answer: repeatable unless the operation is not deduplicated (``unsent`` rule); the server stores only
  successful answers, so the same key is processed afresh;
- no answer (reset after sending, read timeout): repeatable only for reads and for writes whose replay the server
  answers (``read``/``idempotent`` rules);
- any other 4xx: never (the same request would be refused again).

For a write, every attempt that was received and not answered with a refusal (answer lost, 5xx) may have been
applied. That is remembered across attempts, so a later 429 or 5xx cannot make the final error look like "not
done": the caller gets :class:`~vluna_client.OutcomeUnknownError` with the key to replay.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Callable, Optional

import attrs

from ._attrs_methods import shared_methods
from ._errors import ConfigurationError
from ._timeout import MAX_TIMEOUT, Timeout

if TYPE_CHECKING:
    from ._operation import RetryRule

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _statuses(value: Iterable[int]) -> frozenset[int]:
    return frozenset(value)


#: The longest ``max_elapsed`` a policy accepts (one hour): a bound on a whole call must itself be bounded.
MAX_ELAPSED = 3600.0


def _bounded_seconds(*, positive: bool, most: float) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: a finite number of seconds in ``[0, most]`` (``(0, most]`` when ``positive``)."""

    def check(_instance: Any, attribute: Any, value: Any) -> None:
        low_ok = (
            isinstance(value, (int, float)) and not isinstance(value, bool) and (value > 0 if positive else value >= 0)
        )
        if not low_ok or not value <= most:  # NaN and infinity fail here too
            bound = "more than 0" if positive else "at least 0"
            raise ConfigurationError(
                f"RetryPolicy.{attribute.name} must be a number of seconds, {bound} and at most {most:g}"
            )

    return check


def _attempts(_instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise ConfigurationError("RetryPolicy.max_attempts must be an integer from 1 to 100")


@shared_methods(frozen=True)
@attrs.frozen(repr=False, eq=False)
class RetryPolicy:
    """How the client retries a failed attempt.

    Attributes:
        max_attempts: Attempts in total, the first included (1 disables retries; at most 100).
        backoff_base: Seconds before the first retry; doubles each time (full jitter is applied). At most 600.
        backoff_max: Upper bound of one backoff wait (at most 600 seconds).
        max_elapsed: A bound on the whole call, reading every answer included (more than 0, at most 3600
            seconds): a retry starts only if it can finish (wait, connect and read timeouts included) this many
            seconds after the first attempt began; its read timeout is shortened to fit when needed.
        retry_statuses: HTTP statuses worth another attempt.
        respect_retry_after: Wait what ``Retry-After`` (or a ``rate.limit`` hint) asks for, when it fits in
            ``max_elapsed``.
        max_retry_wait: The longest server-requested wait the client sits out by itself; a longer one raises
            :class:`RateLimitError` (with ``retry_after``) at once, so a web request is not blocked for a minute.
            At most 600 seconds.

    Every bound is checked when the policy is built: a bad value raises :class:`ConfigurationError`.
    """

    max_attempts: int = attrs.field(default=3, validator=_attempts)
    backoff_base: float = attrs.field(default=0.5, validator=_bounded_seconds(positive=False, most=MAX_TIMEOUT))
    backoff_max: float = attrs.field(default=8.0, validator=_bounded_seconds(positive=False, most=MAX_TIMEOUT))
    max_elapsed: float = attrs.field(default=60.0, validator=_bounded_seconds(positive=True, most=MAX_ELAPSED))
    retry_statuses: frozenset[int] = attrs.field(default=RETRY_STATUSES, converter=_statuses)
    respect_retry_after: bool = True
    max_retry_wait: float = attrs.field(default=10.0, validator=_bounded_seconds(positive=False, most=MAX_TIMEOUT))

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff for the n-th retry (1-based)."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** (retry_number - 1)))
        return rng.uniform(0, ceiling)


NO_RETRIES = RetryPolicy(max_attempts=1)


def parse_retry_after(value: Optional[str], now: Optional[datetime] = None) -> Optional[float]:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


# Rules (the spec's x-vluna-retry) under which a lost answer may be repeated.
_REPEAT_AFTER_LOST = frozenset({"read", "idempotent"})
_SHORTEST_USEFUL_READ = 1.0


@shared_methods(frozen=False)
@attrs.define(repr=False, eq=False)
class Retrier:
    """Drives the attempts of one call after another: what may be repeated, how long to wait first.

    Pass one as ``retry=`` to a client to supply the clock, the sleep or the jitter source yourself (a test that
    must not wait: ``Retrier(RetryPolicy(), sleep=waits.append)``).

    Attributes:
        policy: The client's :class:`RetryPolicy`.
        clock: Monotonic seconds (injectable for tests).
        sleep: Waits between attempts (injectable for tests).
        rng: Jitter source. The default draws from the OS, so forked workers do not back off in lock-step.
    """

    policy: RetryPolicy
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = attrs.field(factory=random.SystemRandom)

    def start(self, rule: RetryRule, timeout: Timeout) -> RetryRun:
        """Begin one call under ``rule`` (``read``, ``idempotent``, ``answered`` or ``unsent``)."""
        return RetryRun(self, rule, timeout)

    def __reduce__(self) -> tuple[Any, ...]:
        # The OS entropy source has no state to pickle, and a copy must not share one anyway: the other process
        # draws its own. A seeded Random of yours travels as it is (tests that replay a jitter sequence).
        rng = None if type(self.rng) is random.SystemRandom else self.rng
        return (_rebuilt_retrier, (self.policy, self.clock, self.sleep, rng))


def _rebuilt_retrier(
    policy: RetryPolicy, clock: Callable[[], float], sleep: Callable[[float], None], rng: Optional[random.Random]
) -> Retrier:
    """A pickled :class:`Retrier` on the other side (a fresh OS jitter source unless a seeded one travelled)."""
    if rng is None:
        return Retrier(policy, clock=clock, sleep=sleep)
    return Retrier(policy, clock=clock, sleep=sleep, rng=rng)


class RetryRun:
    """The retry state of one call: attempts so far, and whether a write may already have been applied."""

    __slots__ = ("_retrier", "_started", "attempt", "may_have_applied", "rule", "timeout")

    def __init__(self, retrier: Retrier, rule: RetryRule, timeout: Timeout) -> None:
        self._retrier = retrier
        self._started = retrier.clock()
        self.rule: RetryRule = rule
        budget = retrier.policy.max_elapsed
        if timeout.connect + timeout.read > budget:
            # max_elapsed bounds the whole call, the first attempt included.
            connect = min(timeout.connect, budget / 2)
            timeout = Timeout(connect=connect, read=budget - connect)
        self.timeout = timeout
        self.attempt = 1
        self.may_have_applied = False

    def failed(self, *, status: Optional[int], unsent: bool, retry_after: Optional[float] = None) -> Optional[float]:
        """Record a failed attempt; the seconds to wait before the next one, or ``None`` to give up.

        Args:
            status: The HTTP status of the answer, or ``None`` when there was none.
            unsent: With no answer: whether the request certainly never left.
            retry_after: The wait the server asked for (``Retry-After`` or the ``rate.limit`` hint).
        """
        policy = self._retrier.policy
        lost = status is None and not unsent
        if self.rule != "read" and (lost or (status is not None and status >= 500)):
            self.may_have_applied = True
        if status is not None and status not in policy.retry_statuses:
            return None
        if lost:
            allowed = self.rule in _REPEAT_AFTER_LOST
        elif unsent or status == 429:
            allowed = True
        else:
            allowed = self.rule != "unsent"
        if not allowed or self.attempt >= policy.max_attempts:
            return None
        if retry_after is not None and policy.respect_retry_after:
            if retry_after > policy.max_retry_wait:
                return None
            delay = retry_after
        else:
            delay = policy.backoff(self.attempt, self._retrier.rng)
        # The next attempt must be able to finish within max_elapsed: shorten its read timeout to what is left, and
        # give up when too little is left for a useful attempt.
        left = policy.max_elapsed - (self._retrier.clock() - self._started) - delay - self.timeout.connect
        if left < min(self.timeout.read, _SHORTEST_USEFUL_READ):
            return None
        if left < self.timeout.read:
            self.timeout = Timeout(connect=self.timeout.connect, read=left)
        return delay

    def wait(self, delay: float) -> None:
        """Sit out ``delay`` seconds, then count the next attempt."""
        if delay > 0:
            self._retrier.sleep(delay)
        self.attempt += 1
