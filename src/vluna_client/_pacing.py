"""How many requests a bulk job keeps in flight: a fixed number, or one that adapts (AIMD-style).

The adaptive pacer starts at 8 and probes upwards while throughput keeps rising, steps back when a probe brought
nothing, halves on a 429 and pauses dispatch for as long as the server asked. It only sees completions, so it works
the same against a local emulator (CPU-bound: a few workers saturate it) and a remote deployment (latency-bound:
many do).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable, Optional

# A probe must beat the previous window by this much to count as progress (noise on a busy machine is ~±3 %).
_GAIN = 1.05
# A measurement window lasts at least this long and sees at least this many completions per worker.
_MIN_WINDOW_S = 0.25
_COMPLETIONS_PER_WORKER = 2
# After a failed probe or a 429, hold this many windows before probing upwards again.
_HOLD_WINDOWS = 8
# Pause used after a 429 that named no wait.
_DEFAULT_PAUSE_S = 1.0
# After a 429 the rate that drew it is known to be too much: sends are then spaced to a little under the rate that
# was completing, and the cap rises slowly while no 429 comes back (the server's limit is a rate, not a count of
# requests in flight, so a concurrency limit alone keeps overshooting it and sitting out the pauses).
_CAP_BELOW = 0.9
_CAP_GROWTH = 1.10
# Close to the rate that last drew a 429, the cap creeps instead (like TCP after its slow start).
_CAP_CREEP = 1.01
_RECENT_S = 1.0


class Pacer:
    """Decides the in-flight limit of a bulk job from what completes.

    Args:
        workers: A fixed limit; ``None`` adapts between 1 and ``max_workers``.
        max_workers: Upper bound (the thread pool's size).
        start: First limit when adapting.
        max_rate: Requests per second never exceeded, from the first send (``None``: no fixed bound). Several
            processes sharing one server limit each take their share of it (limit / processes), so none has to
            learn it from 429s; a 429 still lowers the rate below this, and it climbs back no higher.
        clock: Monotonic clock (tests pass a fake one).
    """

    def __init__(
        self,
        *,
        workers: Optional[int] = None,
        max_workers: int = 32,
        start: int = 8,
        max_rate: Optional[float] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.adaptive = workers is None
        self.max_workers = max_workers if workers is None else workers
        self.limit = min(start, self.max_workers) if workers is None else workers
        self._clock = clock
        self._paused_until = 0.0
        self._window_start = clock()
        self._window_done = 0
        self._prev_rate: Optional[float] = None
        self._prev_limit = self.limit
        self._probing = False
        self._hold = 0
        self.max_rate = max_rate
        self._cap: Optional[float] = max_rate
        self._ceiling = 0.0
        self._next_send = 0.0
        self._recent: deque[float] = deque()
        self.rate_limited = 0
        """How many 429 answers reached the pacer."""

    # -- dispatch -------------------------------------------------------------------------------------------

    def ready(self) -> bool:
        """Whether a request may be sent now (not inside a server-requested pause, nor ahead of the rate cap)."""
        now = self._clock()
        return now >= self._paused_until and (self._cap is None or now >= self._next_send)

    def pause_left(self) -> float:
        """Seconds until a request may be sent (0 when one may go now)."""
        now = self._clock()
        until = max(self._paused_until, self._next_send if self._cap is not None else 0.0)
        return max(0.0, until - now)

    def sent(self) -> None:
        """Count a request just sent against the rate cap, when there is one."""
        if self._cap is not None:
            self._next_send = max(self._clock(), self._next_send) + 1.0 / self._cap

    @property
    def rate_cap(self) -> Optional[float]:
        """Requests per second the pacer allows: ``max_rate``, or lower since a 429 (``None``: no bound yet)."""
        return self._cap

    # -- feedback -------------------------------------------------------------------------------------------

    def completed(self, n: int = 1) -> None:
        """Count finished requests (any outcome but a 429) and adjust the limit at the end of a window."""
        self._window_done += n
        if not self.adaptive:
            return
        now = self._clock()
        self._recent.extend([now] * n)
        while self._recent and self._recent[0] < now - _RECENT_S:
            self._recent.popleft()
        elapsed = now - self._window_start
        if elapsed < _MIN_WINDOW_S or self._window_done < _COMPLETIONS_PER_WORKER * self.limit:
            return
        rate = self._window_done / elapsed
        self._decide(rate)
        self._window_start, self._window_done = now, 0

    def rate_limited_for(self, retry_after: Optional[float]) -> None:
        """A 429 came back: halve the limit and pause dispatch for ``retry_after`` seconds (or a default)."""
        self.rate_limited += 1
        now = self._clock()
        wait = retry_after if retry_after is not None and retry_after >= 0 else _DEFAULT_PAUSE_S
        self._paused_until = max(self._paused_until, now + wait)
        if self.adaptive:
            stamps = [stamp for stamp in self._recent if stamp >= now - _RECENT_S]
            # Completions per second over the span they cover (a job that began less than a second ago counts
            # over its own age, not over a full second it has not lived).
            span = max(0.25, now - stamps[0]) if stamps else _RECENT_S
            recent = len(stamps) / span
            if recent > 0:
                self._ceiling = recent
                cap = max(1.0, _CAP_BELOW * recent)
                self._cap = cap if self._cap is None else min(self._cap * _CAP_BELOW, cap)
            elif self._cap is not None:
                self._cap = max(1.0, self._cap * _CAP_BELOW)
            self._next_send = self._paused_until
            self.limit = max(1, self.limit // 2)
            self._probing = False
            self._prev_rate = None
            self._hold = _HOLD_WINDOWS
        # The window spans the pause otherwise, and the pause would read as a throughput drop.
        self._window_start, self._window_done = self._paused_until, 0

    def _decide(self, rate: float) -> None:
        if self._cap is not None:
            # A window without a 429: climb back quickly, then creep near the rate that last drew one.
            self._cap *= _CAP_GROWTH if self._cap < _CAP_BELOW * self._ceiling else _CAP_CREEP
            if self.max_rate is not None:
                self._cap = min(self._cap, self.max_rate)
        if self._probing:
            self._probing = False
            if self._prev_rate is not None and rate < self._prev_rate * _GAIN:
                # The extra workers bought nothing: go back and stay there for a while.
                self.limit = self._prev_limit
                self._hold = _HOLD_WINDOWS
                return
        self._prev_rate, self._prev_limit = rate, self.limit
        if self._hold > 0:
            self._hold -= 1
            return
        if self.limit < self.max_workers:
            # Half again per step: from 8 to 32 in four windows, and one step back is never far.
            self.limit = min(self.max_workers, self.limit + max(1, self.limit // 2))
            self._probing = True
