"""When the client retries, how long it waits, and when it gives up."""

from __future__ import annotations

import os
import random
import warnings
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import List, Optional, Tuple

import attrs
import pytest
import requests

from support.mock_deployment import AUTHZ_DATA, SLEEPS, URL, err, make_client, ok
from vluna_client import (
    NO_RETRIES,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    Retrier,
    RetryPolicy,
    ServerError,
    VlunaError,
)
from vluna_client._retry import parse_retry_after

RATE_BODY = err(429, "LIMIT.RATE_EXCEEDED", "rate limit exceeded")


def fast_retrier_with(policy: RetryPolicy, rng: random.Random) -> Retrier:
    return Retrier(policy, sleep=SLEEPS.append, rng=rng)


def authorize(client):
    return client.gate.authorize(feature_code="llm.chat", principal_id="org_123", user_id="user_42")


class FakeClock:
    """Monotonic time that only waits advance; handed to the Retrier instead of patching module globals."""

    def __init__(self, sleeps: List[float]) -> None:
        self.now = 1000.0
        self.sleeps = sleeps

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def retrier(self, policy: RetryPolicy, rng: Optional[random.Random] = None) -> Retrier:
        if rng is None:
            return Retrier(policy, clock=self.monotonic, sleep=self.sleep)
        return Retrier(policy, clock=self.monotonic, sleep=self.sleep, rng=rng)


@pytest.fixture
def clock(sleeps) -> FakeClock:
    return FakeClock(sleeps)


class RecordingRng(random.Random):
    """Returns the upper bound of every uniform() draw and remembers the bounds asked for."""

    def __init__(self) -> None:
        super().__init__(0)
        self.bounds: List[Tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.bounds.append((a, b))
        return b


# -- Retry-After ----------------------------------------------------------------------------------------------


def test_retry_after_seconds_is_honoured(client, rsps, sleeps) -> None:
    rsps.add("POST", URL["authorize"], json=RATE_BODY, status=429, headers={"Retry-After": "2"})
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    result = authorize(client)
    assert result.data.lease_token == "lt_abc"
    assert sleeps == [2.0]
    assert len(rsps.calls) == 2


def test_retry_after_http_date_is_honoured(client, rsps, sleeps) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=8)
    rsps.add(
        "POST",
        URL["authorize"],
        json=RATE_BODY,
        status=429,
        headers={"Retry-After": format_datetime(when, usegmt=True)},
    )
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    authorize(client)
    assert len(sleeps) == 1
    assert 6.0 <= sleeps[0] <= 8.0


def test_a_wait_longer_than_max_retry_wait_raises_at_once(client, rsps, sleeps) -> None:
    rsps.add("POST", URL["authorize"], json=RATE_BODY, status=429, headers={"Retry-After": "30"})
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    with pytest.raises(RateLimitError) as info:
        authorize(client)
    assert info.value.retry_after == 30.0
    assert sleeps == []
    assert len(rsps.calls) == 1


def test_max_retry_wait_can_allow_longer_waits(rsps, sleeps) -> None:
    patient = make_client(retry=RetryPolicy(max_retry_wait=60))
    rsps.add("POST", URL["authorize"], json=RATE_BODY, status=429, headers={"Retry-After": "30"})
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    authorize(patient)
    assert sleeps == [30.0]


def test_retry_after_on_503_is_honoured_too(client, rsps, sleeps) -> None:
    rsps.add("GET", URL["limits"], json=err(503, "SERVER.DB_UNAVAILABLE"), status=503, headers={"Retry-After": "4"})
    rsps.add("GET", URL["limits"], json=ok([]))
    client.gate.limits(principal_id="o", user_id="u")
    assert sleeps == [4.0]


def test_rate_limit_hint_seconds_used_without_header(client, rsps, sleeps) -> None:
    body = dict(RATE_BODY, hints=[{"type": "rate.limit", "seconds": 3, "remaining": 0}])
    rsps.add("POST", URL["authorize"], json=body, status=429)
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    authorize(client)
    assert sleeps == [3.0]


def test_header_wins_over_hint(client, rsps, sleeps) -> None:
    body = dict(RATE_BODY, hints=[{"type": "rate.limit", "seconds": 30}])
    rsps.add("POST", URL["authorize"], json=body, status=429, headers={"Retry-After": "1"})
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    authorize(client)
    assert sleeps == [1.0]


def test_gives_up_when_retry_after_exceeds_max_elapsed(rsps, sleeps) -> None:
    client = make_client(retry=RetryPolicy(max_elapsed=10.0))
    rsps.add("POST", URL["authorize"], json=RATE_BODY, status=429, headers={"Retry-After": "11"})
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    with pytest.raises(RateLimitError) as info:
        authorize(client)
    assert len(rsps.calls) == 1
    assert sleeps == []
    assert info.value.retry_after == 11.0


def test_gives_up_when_hint_exceeds_max_elapsed(rsps, sleeps) -> None:
    client = make_client(retry=RetryPolicy(max_elapsed=10.0))
    body = dict(RATE_BODY, hints=[{"type": "rate.limit", "seconds": 45, "remaining": 0}])
    rsps.add("POST", URL["authorize"], json=body, status=429)
    with pytest.raises(RateLimitError) as info:
        authorize(client)
    assert len(rsps.calls) == 1
    assert sleeps == []
    assert info.value.retry_after == 45.0


def test_respect_retry_after_false_uses_backoff(rsps, sleeps) -> None:
    client = make_client(retry=RetryPolicy(respect_retry_after=False, backoff_base=0.25, backoff_max=0.25))
    rsps.add("POST", URL["authorize"], json=RATE_BODY, status=429, headers={"Retry-After": "20"})
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    authorize(client)
    assert len(sleeps) == 1
    assert 0.0 <= sleeps[0] <= 0.25


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), ("  7 ", 7.0), ("0", 0.0), ("-3", 0.0), ("1.5", 1.5), (None, None), ("", None), ("soon", None)],
)
def test_parse_retry_after_seconds(value, expected) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2015, 10, 21, 7, 27, 0, tzinfo=timezone.utc)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 60.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now=now) == 0.0  # in the past: retry now


# -- attempts and elapsed time --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_up_to_max_attempts(rsps, sleeps, status) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=4))
    rsps.add("POST", URL["authorize"], json=err(status, "SERVER.UNEXPECTED"), status=status)
    with pytest.raises(OutcomeUnknownError) as info:
        authorize(client)
    assert len(rsps.calls) == 4
    assert len(sleeps) == 3
    # a 5xx may come after the work was done: a write is never reported as a plain server error
    assert info.value.attempts == 4
    assert isinstance(info.value.last_error, ServerError)
    assert info.value.last_error.status == status
    assert info.value.idempotency_key == rsps.calls[0].request.headers["Idempotency-Key"]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_on_reads_stay_server_errors(rsps, sleeps, status) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=2))
    rsps.add("GET", URL["limits"], json=err(status, "SERVER.UNEXPECTED"), status=status)
    with pytest.raises(ServerError) as info:
        client.gate.limits(principal_id="o", user_id="u")
    assert info.value.status == status
    assert info.value.may_have_applied is False
    assert len(rsps.calls) == 2


def test_default_policy_makes_three_attempts(client, rsps, sleeps) -> None:
    rsps.add("GET", URL["limits"], json=err(500, "SERVER.UNEXPECTED"), status=500)
    with pytest.raises(ServerError):
        client.gate.limits(principal_id="o", user_id="u")
    assert len(rsps.calls) == 3
    assert len(sleeps) == 2


def test_no_retries_policy_makes_one_attempt(rsps, sleeps) -> None:
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], json=err(503, "SERVER.DB_UNAVAILABLE"), status=503)
    with pytest.raises(OutcomeUnknownError):
        authorize(client)
    assert len(rsps.calls) == 1
    assert sleeps == []


def test_max_elapsed_bounds_the_call_including_the_last_attempts_timeout(rsps, sleeps, clock) -> None:
    policy = RetryPolicy(max_attempts=100, backoff_base=1.0, backoff_max=1.0, max_elapsed=5.0)
    # every backoff is its full 1.0 s ceiling
    client = make_client(retry=clock.retrier(policy, RecordingRng()), timeout=(0.1, 0.5))
    rsps.add("GET", URL["limits"], json=err(503, "SERVER.DB_UNAVAILABLE"), status=503)
    with pytest.raises(ServerError):
        client.gate.limits(principal_id="o", user_id="u")
    # attempts start at 0, 1, 2, 3, 4 s: one more (at 5 s) could not finish within 5 s
    assert sleeps == [1.0] * 4
    assert len(rsps.calls) == 5
    last_start = clock.now - 1000.0
    assert last_start + 0.1 + 0.5 <= 5.0


def test_a_late_retry_gets_a_shorter_read_timeout_instead_of_overrunning(rsps, sleeps, clock, sent_timeouts) -> None:
    policy = RetryPolicy(max_attempts=100, backoff_base=1.0, backoff_max=1.0, max_elapsed=5.0)
    client = make_client(retry=clock.retrier(policy, RecordingRng()), timeout=(0.1, 2.0))
    rsps.add("GET", URL["limits"], json=err(503, "SERVER.DB_UNAVAILABLE"), status=503)
    with pytest.raises(ServerError):
        client.gate.limits(principal_id="o", user_id="u")
    # the attempt at 3 s may only read for 1.9 s to end by 5 s; at 4 s less than a useful second is left
    assert sent_timeouts == [(0.1, 2.0), (0.1, 2.0), (0.1, 2.0), (0.1, pytest.approx(1.9))]


# -- backoff ----------------------------------------------------------------------------------------------------


def test_backoff_grows_exponentially_up_to_the_cap(rsps, sleeps) -> None:
    rng = RecordingRng()
    client = make_client(retry=fast_retrier_with(RetryPolicy(max_attempts=6, backoff_base=0.5, backoff_max=3.0), rng))
    rsps.add("POST", URL["authorize"], json=err(500, "SERVER.UNEXPECTED"), status=500)
    with pytest.raises(OutcomeUnknownError):
        authorize(client)
    assert rng.bounds == [(0, 0.5), (0, 1.0), (0, 2.0), (0, 3.0), (0, 3.0)]
    assert sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_is_full_jitter_within_bounds() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=8.0)
    rng = random.Random(1234)
    for retry_number in range(1, 8):
        ceiling = min(8.0, 0.5 * 2 ** (retry_number - 1))
        samples = [policy.backoff(retry_number, rng) for _ in range(300)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert len(set(samples)) > 250, "waits must be jittered, not constant"
        assert max(samples) > 0.8 * ceiling, "the ceiling must grow with the retry number"
        assert min(samples) < 0.2 * ceiling


def test_client_backoff_waits_stay_within_their_ceilings(rsps, sleeps) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=5, backoff_base=0.5, backoff_max=8.0))
    rsps.add("POST", URL["authorize"], json=err(502, "SERVER.UPSTREAM"), status=502)
    with pytest.raises(OutcomeUnknownError):
        authorize(client)
    assert len(sleeps) == 4
    for n, wait in enumerate(sleeps, start=1):
        assert 0.0 <= wait <= 0.5 * 2 ** (n - 1)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"backoff_base": -1}, {"backoff_max": -0.1}, {"max_elapsed": 0}],
)
def test_retry_policy_rejects_nonsense(kwargs) -> None:
    with pytest.raises((ValueError, TypeError)):
        RetryPolicy(**kwargs)


# -- no retry on client errors --------------------------------------------------------------------------------

CLIENT_ERRORS = [
    (400, "VALIDATION.INVALID_INPUT", InvalidRequestError),
    (401, "AUTH.INVALID_SERVICE_SIGNATURE", AuthenticationError),
    (402, "BUDGET.EXHAUSTED", PaymentRequiredError),
    (403, "AUTH.INSUFFICIENT_SCOPE", PermissionDeniedError),
    (404, "RESOURCE.NOT_FOUND", NotFoundError),
    (409, "WRITE.INVALID_PAYLOAD", ConflictError),
    (422, "VALIDATION.INVALID_INPUT", InvalidRequestError),
]


@pytest.mark.parametrize(("status", "code", "exc_type"), CLIENT_ERRORS)
def test_no_retry_on_client_errors_for_writes(client, rsps, sleeps, status, code, exc_type) -> None:
    rsps.add("POST", URL["authorize"], json=err(status, code), status=status)
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    with pytest.raises(exc_type):
        authorize(client)
    assert len(rsps.calls) == 1
    assert sleeps == []


@pytest.mark.parametrize(("status", "code", "exc_type"), CLIENT_ERRORS)
def test_no_retry_on_client_errors_for_reads(client, rsps, sleeps, status, code, exc_type) -> None:
    rsps.add("GET", URL["limits"], json=err(status, code), status=status, headers={"Retry-After": "1"})
    rsps.add("GET", URL["limits"], json=ok([]))
    with pytest.raises(exc_type):
        client.gate.limits(principal_id="o", user_id="u")
    assert len(rsps.calls) == 1
    assert sleeps == []


# -- connection failures --------------------------------------------------------------------------------------


def test_connection_errors_are_retried_for_reads(client, rsps, sleeps) -> None:
    rsps.add("GET", URL["limits"], body=requests.exceptions.ConnectionError("connection reset"))
    rsps.add("GET", URL["limits"], body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.add("GET", URL["limits"], json=ok([]))
    result = client.gate.limits(principal_id="o", user_id="u")
    assert result.data == []
    assert len(rsps.calls) == 3
    assert len(sleeps) == 2


def test_connection_errors_are_retried_for_idempotent_writes(client, rsps, sleeps) -> None:
    rsps.add("POST", URL["authorize"], body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    authorize(client)
    assert len(rsps.calls) == 2
    assert len(sleeps) == 1


def test_exhausted_connection_retries_raise_api_connection_error(client, rsps, sleeps) -> None:
    rsps.add("GET", URL["limits"], body=requests.exceptions.ConnectionError("connection reset"))
    with pytest.raises(APIConnectionError) as info:
        client.gate.limits(principal_id="o", user_id="u")
    assert not isinstance(info.value, APITimeoutError)
    assert len(rsps.calls) == 3
    assert info.value.operation == "gate.limits"


def test_read_timeout_on_a_read_only_post_is_retried(client, rsps, sleeps) -> None:
    # ops.revenue_report is a POST without an Idempotency-Key, but it only reads (x-vluna-retry: read).
    rsps.add("POST", URL["revenue"], body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.add("POST", URL["revenue"], json=ok([]), status=201)
    result = client.ops.revenue_report(
        time={"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "granularity": "month"},
        principal_id="org_123",
    )
    assert result.data == []
    assert len(rsps.calls) == 2
    assert len(sleeps) == 1


def test_connect_timeout_on_a_non_idempotent_post_is_retried(client, rsps, sleeps) -> None:
    # A connect timeout means nothing reached the server: safe to repeat whatever the method.
    rsps.add("POST", URL["revenue"], body=requests.exceptions.ConnectTimeout("connect timed out"))
    rsps.add("POST", URL["revenue"], json=ok([]), status=201)
    client.ops.revenue_report(
        time={"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "granularity": "month"},
        principal_id="org_123",
    )
    assert len(rsps.calls) == 2
    assert len(sleeps) == 1


# -- writes whose replays the server never answers (operations.tsv: @Res handlers) --------------------------------


def upsert_feature(client):
    return client.features.upsert(feature_code="llm.chat", feature_family_code="llm", idempotency_key="up-1")


def test_replay_hanging_write_is_not_retried_after_a_read_timeout(client, rsps, sleeps) -> None:
    # the first attempt may have been stored; a replay of its key would hang until the read timeout
    rsps.add("POST", URL["features"], body=requests.exceptions.ReadTimeout("slow"))
    rsps.add("POST", URL["features"], json=ok({}), status=201)
    with pytest.raises(OutcomeUnknownError) as info:
        upsert_feature(client)
    assert info.value.idempotency_key == "up-1"
    assert isinstance(info.value.last_error, APITimeoutError)
    assert len(rsps.calls) == 1
    assert sleeps == []


def test_replay_hanging_write_is_retried_after_an_answered_server_error(client, rsps, sleeps) -> None:
    # The server stores only successful answers: after a 5xx it reached us, the same key is processed afresh.
    rsps.add("POST", URL["features"], json=err(502, "SERVER.UPSTREAM"), status=502)
    rsps.add("POST", URL["features"], json=err(500, "SERVER.UNEXPECTED"), status=500)
    rsps.add("POST", URL["features"], json=err(500, "SERVER.UNEXPECTED"), status=500)
    with pytest.raises(VlunaError) as info:
        upsert_feature(client)
    assert [c.request.headers["Idempotency-Key"] for c in rsps.calls] == ["up-1"] * 3
    assert len(sleeps) == 2
    assert isinstance(info.value, OutcomeUnknownError)  # the write may have been applied by an earlier attempt
    assert info.value.idempotency_key == "up-1"


def test_replay_hanging_write_is_retried_when_nothing_reached_the_server(client, rsps, sleeps) -> None:
    feature = {
        "feature_id": "f_1",
        "feature_family_id": "fam_1",
        "feature_code": "llm.chat",
        "name": "Chat",
        "active": True,
        "metadata": {},
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
    }
    rsps.add("POST", URL["features"], body=requests.exceptions.ConnectTimeout("connect timed out"))
    rsps.add("POST", URL["features"], json=ok(feature), status=201)
    result = upsert_feature(client)
    assert result.data.feature_id == "f_1"
    assert [c.request.headers["Idempotency-Key"] for c in rsps.calls] == ["up-1", "up-1"]
    assert len(sleeps) == 1


# -- small things from reading the core --------------------------------------------------------------------------


def test_retry_after_is_an_attribute_not_written_into_the_servers_meta(rsps) -> None:
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], json=RATE_BODY, status=429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimitError) as info:
        authorize(client)
    assert info.value.retry_after == 7.0
    assert "retry_after" not in info.value.meta


def test_retry_warnings_of_reads_do_not_mention_a_key(client, rsps, caplog) -> None:
    rsps.add("GET", URL["limits"], json=err(503, "SERVER.DB_UNAVAILABLE"), status=503)
    rsps.add("GET", URL["limits"], json=ok([]))
    with caplog.at_level("WARNING", logger="vluna_client"):
        client.gate.limits(principal_id="o", user_id="u")
    (line,) = [r.getMessage() for r in caplog.records]
    assert "idempotency key" not in line
    assert "gate.limits" in line


def test_retry_warnings_of_writes_name_the_key(client, rsps, caplog) -> None:
    rsps.add("POST", URL["authorize"], json=err(503, "SERVER.DB_UNAVAILABLE"), status=503)
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    with caplog.at_level("WARNING", logger="vluna_client"):
        client.gate.authorize(feature_code="llm.chat", principal_id="o", user_id="u", idempotency_key="k-log")
    assert "idempotency key k-log" in caplog.text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_workers_do_not_back_off_in_lock_step() -> None:
    """Prefork workers inherit the parent's memory: a seeded jitter source would make them all wait alike."""
    retrier = Retrier(RetryPolicy(backoff_base=1.0, backoff_max=1.0))
    draws = []
    for _ in range(2):
        read_fd, write_fd = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads around
            pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            with os.fdopen(write_fd, "w") as out:
                out.write(repr([retrier.policy.backoff(1, retrier.rng) for _ in range(4)]))
            os._exit(0)
        os.close(write_fd)
        with os.fdopen(read_fd) as inp:
            draws.append(inp.read())
        os.waitpid(pid, 0)
    assert draws[0] != draws[1]


def test_a_bulk_view_raises_a_429_at_once_and_keeps_other_retries(rsps) -> None:
    client = make_client()
    view = client.with_retry(attrs.evolve(client.retry, retry_statuses=client.retry.retry_statuses - {429}))
    assert 429 not in view.retry.retry_statuses
    assert 503 in view.retry.retry_statuses
    assert 429 in client.retry.retry_statuses  # the client itself is untouched
    assert view.transport is client.transport
    rsps.add("POST", URL["authorize"], json=RATE_BODY, status=429)
    with pytest.raises(RateLimitError):
        authorize(view)
    assert len(rsps.calls) == 1


def test_with_retry_is_a_view_with_its_own_policy_and_the_clients_retrier_settings(rsps) -> None:
    client = make_client().bind(principal_id="org_1", user_id="user_1")
    view = client.with_retry(NO_RETRIES)
    assert view.retry == NO_RETRIES
    assert client.retry == RetryPolicy()  # the client itself is untouched
    rsps.add("POST", URL["authorize"], json=RATE_BODY, status=429, headers={"Retry-After": "0"})
    with pytest.raises(RateLimitError):
        view.gate.authorize(feature_code="llm.chat")
    call = rsps.calls[0].request
    assert len(rsps.calls) == 1
    assert (call.headers["X-Principal-Id"], call.headers["X-User-Id"]) == ("org_1", "user_1")  # bindings kept
    assert SLEEPS == []
    rsps.add("POST", URL["authorize"], json=RATE_BODY, status=429, headers={"Retry-After": "2"})
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    client.with_retry(RetryPolicy(max_attempts=2)).gate.authorize(feature_code="llm.chat")
    assert SLEEPS == [2.0]  # waited through the Retrier's injected sleep, not time.sleep
    view.close()
    assert view.transport is client.transport
    with pytest.raises(ConfigurationError):
        client.with_retry(Retrier(NO_RETRIES))  # type: ignore[arg-type]


def test_retry_logs_and_the_final_error_use_the_error_tables_words(client, rsps, caplog) -> None:
    """A lost answer reads as "the answer was lost", never as a connection error that implies "not charged"."""
    rsps.add("POST", URL["authorize"], body=requests.exceptions.ConnectTimeout("no route"))
    rsps.add("POST", URL["authorize"], body=requests.exceptions.ConnectionError("reset after sending"))
    rsps.add("POST", URL["authorize"], json=RATE_BODY, status=429, headers={"Retry-After": "0"})
    client = make_client(retry=Retrier(RetryPolicy(max_attempts=3), sleep=SLEEPS.append))
    with caplog.at_level("WARNING", logger="vluna_client"), pytest.raises(OutcomeUnknownError) as info:
        authorize(client)
    first, second = [r.getMessage() for r in caplog.records]
    assert "gate.authorize: never sent (APITimeoutError); retry 1" in first
    assert "gate.authorize: the answer was lost (APIConnectionError); retry 2" in second
    message = str(info.value)
    assert "may have been applied: the answer was lost (APIConnectionError) on attempt 2" in message
    assert "last attempt: refused (HTTP 429)" in message
    assert "failed (" not in caplog.text + message
    assert "(last:" not in message
