"""When to retry, and how long to wait.

Only failures that cannot have charged twice are retried: connection errors, timeouts, 429 and 5xx, and for
writes only when the server deduplicates them by Idempotency-Key (the key is fixed before the first attempt).
Other 4xx never retry: sending the same bad request again cannot succeed.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Optional

import attrs

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@attrs.frozen
class RetryPolicy:
    """How the client retries a failed attempt.

    Attributes:
        max_attempts: Attempts in total, the first included (1 disables retries).
        backoff_base: Seconds before the first retry; doubles each time (full jitter is applied).
        backoff_max: Upper bound of one backoff wait.
        max_elapsed: Give up instead of starting a retry that would end later than this many seconds after the
            first attempt began (waits included).
        retry_statuses: HTTP statuses worth another attempt.
        respect_retry_after: Wait what ``Retry-After`` (or a ``rate.limit`` hint) asks for, when it fits in
            ``max_elapsed``.
        max_retry_wait: The longest server-requested wait the client sits out by itself; a longer one raises
            :class:`RateLimitError` (with ``retry_after``) at once, so a web request is not blocked for a minute.
    """

    max_attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    backoff_base: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    backoff_max: float = attrs.field(default=8.0, validator=attrs.validators.ge(0))
    max_elapsed: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    retry_statuses: frozenset[int] = attrs.field(default=RETRY_STATUSES, converter=frozenset)
    respect_retry_after: bool = True
    max_retry_wait: float = attrs.field(default=10.0, validator=attrs.validators.ge(0))

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
