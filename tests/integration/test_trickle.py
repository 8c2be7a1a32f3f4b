"""A server that dribbles its answer forever cannot hold a call past its budget (real sockets on 127.0.0.1).

The budget of an attempt is ``connect + read``; with retries, ``max_elapsed`` bounds the whole call. Every byte the
server sends arrives well within the socket read timeout, so these tests fail if the client relies on per-read
timeouts alone. Half a second of slack covers thread scheduling on a busy machine.
"""

from __future__ import annotations

import time

import pytest

from support.mock_deployment import KEY_ID, REALM, SECRET_B64
from support.trickle_server import TrickleServer
from vluna_client import (
    NO_RETRIES,
    APIConnectionError,
    APITimeoutError,
    OutcomeUnknownError,
    RetryPolicy,
    ServiceClient,
)

SLACK = 0.5
MODES = ["status", "headers", "body", "chunked"]


def client_for(server: TrickleServer, **kwargs) -> ServiceClient:
    return ServiceClient(
        base_url=server.url + "/mgt/v1", realm_id=REALM, key_id=KEY_ID, key_secret=SECRET_B64, **kwargs
    )


def timed(call):
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        call()
    return time.monotonic() - started, info.value


@pytest.mark.parametrize("mode", MODES)
def test_a_read_ends_within_connect_plus_read(mode: str) -> None:
    with TrickleServer(mode, interval=0.05) as server, client_for(server, retry=NO_RETRIES) as client:
        elapsed, error = timed(lambda: client.wallet.get_balance(principal_id="org", user_id="user", timeout=(1, 1.5)))
    assert isinstance(error, APITimeoutError), repr(error)
    assert error.unsent is False
    assert 1.5 - 0.1 <= elapsed <= 1 + 1.5 + SLACK, elapsed


@pytest.mark.parametrize("mode", MODES)
def test_a_write_whose_answer_is_dribbled_reports_an_unknown_outcome(mode: str) -> None:
    with TrickleServer(mode, interval=0.05) as server, client_for(server, retry=NO_RETRIES) as client:
        elapsed, error = timed(
            lambda: client.gate.ingest(
                feature_code="llm.chat",
                quantity_minor=5,
                principal_id="org",
                user_id="user",
                idempotency_key="trickle-1",
                timeout=(1, 1.5),
            )
        )
        assert server.requests == 1
    assert isinstance(error, OutcomeUnknownError), repr(error)
    assert error.idempotency_key == "trickle-1"
    assert isinstance(error.last_error, APITimeoutError)
    assert elapsed <= 1 + 1.5 + SLACK, elapsed


def test_retries_of_a_dribbled_read_stay_within_max_elapsed() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_base=0.05, backoff_max=0.1, max_elapsed=4)
    with TrickleServer("body", interval=0.05) as server, client_for(server, retry=policy) as client:
        elapsed, error = timed(lambda: client.wallet.get_balance(principal_id="org", user_id="user", timeout=(1, 1.5)))
        attempts = server.requests
    assert isinstance(error, APITimeoutError), repr(error)
    assert attempts >= 2  # it did retry, each attempt cut at its deadline
    assert elapsed <= 4 + SLACK, elapsed


def test_max_elapsed_shorter_than_one_attempt_bounds_the_first_attempt_too() -> None:
    policy = RetryPolicy(max_attempts=3, max_elapsed=2)
    with TrickleServer("headers", interval=0.05) as server, client_for(server, retry=policy, timeout=(5, 30)) as client:
        elapsed, error = timed(lambda: client.gate.limits(principal_id="org", user_id="user"))
    assert isinstance(error, APITimeoutError), repr(error)
    assert elapsed <= 2 + SLACK, elapsed


def test_threads_sharing_the_client_are_each_cut_at_their_own_deadline() -> None:
    import concurrent.futures

    with TrickleServer("body", interval=0.05) as server, client_for(server, retry=NO_RETRIES) as client:

        def one(read: float) -> float:
            elapsed, error = timed(lambda: client.gate.limits(principal_id="o", user_id="u", timeout=(1, read)))
            assert isinstance(error, APITimeoutError)
            return elapsed

        reads = [0.6, 1.2, 1.8, 0.6, 1.2, 1.8]
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            times = list(pool.map(one, reads))
    for read, elapsed in zip(reads, times):
        assert read - 0.1 <= elapsed <= read + 1 + SLACK, (read, elapsed)


def test_an_oversized_answer_is_refused_without_being_held_in_memory() -> None:
    with TrickleServer("oversized", size=40 * 1024 * 1024) as server, client_for(server, retry=NO_RETRIES) as client:
        _, read_error = timed(lambda: client.gate.limits(principal_id="o", user_id="u"))
        _, write_error = timed(
            lambda: client.gate.ingest(feature_code="f", quantity_minor=1, principal_id="o", user_id="u")
        )
    assert isinstance(read_error, APIConnectionError)
    assert not isinstance(read_error, APITimeoutError)
    assert "larger than 16777216 bytes" in str(read_error)
    assert isinstance(write_error, OutcomeUnknownError)
    assert "larger than" in str(write_error.last_error)
