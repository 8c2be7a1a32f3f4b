"""Every request leaves with a bounded (connect, read) timeout; network failures map to the client's errors."""

from __future__ import annotations

import pytest
import requests

from support.mock_deployment import AUTHZ_DATA, CANCEL_DATA, COMMIT_DATA, URL, make_client, ok
from vluna_client import (
    MAX_TIMEOUT,
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    OutcomeUnknownError,
    RetryPolicy,
    Timeout,
    parse_timeout,
)


def limits(client, **kwargs):
    return client.gate.limits(principal_id="o", user_id="u", **kwargs)


def adapter_timeouts(rsps):
    """What the transport adapter itself was handed (responses records the adapter's send kwargs)."""
    return [call.request.req_kwargs.get("timeout", "MISSING") for call in rsps.calls]


def test_default_timeout_is_5_connect_30_read(client, rsps, sent_timeouts) -> None:
    rsps.add("GET", URL["limits"], json=ok([]))
    limits(client)
    assert sent_timeouts == [(5.0, 30.0)]
    assert adapter_timeouts(rsps) == [(5.0, 30.0)]
    assert client.timeout == Timeout(connect=5.0, read=30.0)


@pytest.mark.parametrize(
    ("configured", "expected"),
    [(10, (10.0, 10.0)), (2.5, (2.5, 2.5)), ((2, 20), (2.0, 20.0)), (Timeout(connect=1.5, read=9), (1.5, 9.0))],
)
def test_client_level_timeout(rsps, sent_timeouts, configured, expected) -> None:
    client = make_client(timeout=configured)
    rsps.add("GET", URL["limits"], json=ok([]))
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    limits(client)
    client.gate.authorize(feature_code="llm.chat", principal_id="o", user_id="u")
    assert sent_timeouts == [expected, expected]
    assert adapter_timeouts(rsps) == [expected, expected]


@pytest.mark.parametrize(
    ("per_call", "expected"),
    [(2.5, (2.5, 2.5)), (7, (7.0, 7.0)), ((1, 2), (1.0, 2.0)), (Timeout(connect=3, read=4), (3.0, 4.0))],
)
def test_per_call_timeout_overrides_the_client(rsps, sent_timeouts, per_call, expected) -> None:
    client = make_client(timeout=25)
    rsps.add("GET", URL["limits"], json=ok([]))
    limits(client, timeout=per_call)
    limits(client)
    assert sent_timeouts == [expected, (25.0, 25.0)]


def test_none_means_the_default_never_unbounded(rsps, sent_timeouts) -> None:
    client = make_client(timeout=None)
    rsps.add("GET", URL["limits"], json=ok([]))
    limits(client, timeout=None)
    assert sent_timeouts == [(5.0, 30.0)]
    for value in sent_timeouts + adapter_timeouts(rsps):
        assert value is not None
        assert value != "MISSING"
        assert all(part is not None and part > 0 for part in value)


def test_timeout_is_sent_on_every_retry_attempt(rsps, sent_timeouts) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=3))
    rsps.add("GET", URL["limits"], body=requests.exceptions.ReadTimeout("slow"))
    rsps.add("GET", URL["limits"], json={"ok": False, "code": "SERVER.UNEXPECTED"}, status=500)
    rsps.add("GET", URL["limits"], json=ok([]))
    limits(client, timeout=(1, 3))
    assert sent_timeouts == [(1.0, 3.0)] * 3


def test_lease_timeout_reaches_authorize_commit_and_cancel(client, rsps, sent_timeouts) -> None:
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    rsps.add("POST", URL["commit"], json=ok(COMMIT_DATA))
    rsps.add("POST", URL["cancel"], json=ok(CANCEL_DATA))
    with client.lease(feature_code="llm.chat", principal_id="o", user_id="u", timeout=4) as lease:
        lease.commit(quantity_minor=3)
    with client.lease(feature_code="llm.chat", principal_id="o", user_id="u", timeout=(1, 2)):
        pass
    assert sent_timeouts == [(4.0, 4.0), (4.0, 4.0), (1.0, 2.0), (1.0, 2.0)]


def test_next_page_keeps_the_per_call_timeout(client, rsps, sent_timeouts) -> None:
    rsps.add("GET", URL["features"], json=ok({"items": [], "next_cursor": "c1"}))
    rsps.add("GET", URL["features"], json=ok({"items": [], "next_cursor": None}))
    list(client.features.list(timeout=(2, 6)).auto_paging_iter())
    assert sent_timeouts == [(2.0, 6.0), (2.0, 6.0)]


@pytest.mark.parametrize("bad", [0, -1, (None, 5), (5, None), (1, 2, 3), (0, 1), "5", True, float("nan")])
def test_invalid_timeouts_are_configuration_errors(rsps, bad) -> None:
    with pytest.raises(ConfigurationError):
        make_client(timeout=bad)
    client = make_client()
    with pytest.raises(ConfigurationError):
        limits(client, timeout=bad)
    assert len(rsps.calls) == 0


HOSTILE_TIMEOUTS = [
    float("inf"),
    -float("inf"),
    (5, float("inf")),
    (float("inf"), 5),
    1e10,
    2**63,
    (5, 2**63),
    10**5000,
    600.001,
    (5, float("nan")),
    ((1, 2), 3),
    1e-400,  # underflows to 0.0
]


def short_id(value):
    """A test id even for values whose str() is huge or refused (a 5,000-digit int, inside a tuple or a dict)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return "huge-int"
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(short_id(part) for part in value) + ")"
    if isinstance(value, dict):
        return ",".join(f"{key}={short_id(part)}" for key, part in value.items())
    text = repr(value)
    return text if len(text) <= 20 else text[:8] + "..."


@pytest.mark.parametrize("bad", HOSTILE_TIMEOUTS, ids=short_id)
def test_infinite_huge_or_nested_timeouts_are_refused_before_sending(rsps, bad) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        make_client(timeout=bad)
    client = make_client()
    with pytest.raises(ConfigurationError, match="timeout"):
        limits(client, timeout=bad)
    with pytest.raises(ConfigurationError, match="timeout"):
        client.gate.ingest(
            feature_code="f", principal_id="o", user_id="u", quantity_minor=1, idempotency_key="e1", timeout=bad
        )
    assert len(rsps.calls) == 0


def test_the_maximum_timeout_is_accepted_and_documented(rsps, sent_timeouts) -> None:
    assert MAX_TIMEOUT == 600.0
    rsps.add("GET", URL["limits"], json=ok([]))
    limits(make_client(timeout=(MAX_TIMEOUT, MAX_TIMEOUT), retry=RetryPolicy(max_elapsed=1200)))
    assert sent_timeouts == [(600.0, 600.0)]
    assert "600" in (Timeout.__doc__ or "")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("5", (5.0, 5.0)),
        (" 2.5 ", (2.5, 2.5)),
        (7, (7.0, 7.0)),
        (("1", 2), (1.0, 2.0)),
        ([3, 4.5], (3.0, 4.5)),
        (Timeout(connect=1, read=2), (1.0, 2.0)),
    ],
)
def test_parse_timeout_reads_settings_and_command_line_values(given, expected) -> None:
    assert parse_timeout(given).as_tuple() == expected


@pytest.mark.parametrize(
    "bad",
    ["inf", "nan", "1e10", "-3", "0", "", "soon", "9" * 5000, None, True, b"5", {"read": 3}, (1,), *HOSTILE_TIMEOUTS],
    ids=short_id,
)
def test_parse_timeout_refuses_with_the_given_name(bad) -> None:
    with pytest.raises(ConfigurationError, match="--timeout") as info:
        parse_timeout(bad, name="--timeout")
    assert len(str(info.value)) < 200  # a 5,000-digit value is not echoed back


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_elapsed": float("inf")},
        {"max_elapsed": 0},
        {"max_elapsed": 3600.5},
        {"max_elapsed": float("nan")},
        {"backoff_base": float("inf")},
        {"backoff_max": 1e10},
        {"backoff_base": -1},
        {"max_retry_wait": float("inf")},
        {"max_retry_wait": 2**63},
        {"max_attempts": 0},
        {"max_attempts": 10**5000},
        {"max_attempts": 2.5},
        {"max_elapsed": "60"},
    ],
    ids=short_id,
)
def test_retry_policy_bounds_every_duration(kwargs) -> None:
    with pytest.raises(ConfigurationError, match="RetryPolicy." + next(iter(kwargs))):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize("kwargs", [{"connect": None}, {"read": None}, {"connect": 0}, {"read": -2}])
def test_timeout_object_cannot_be_unbounded(kwargs) -> None:
    with pytest.raises(ConfigurationError):
        Timeout(**kwargs)


# -- failures without an HTTP answer -----------------------------------------------------------------------


def test_read_timeout_maps_to_api_timeout_error(rsps) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=2))
    rsps.add("POST", URL["authorize"], body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(OutcomeUnknownError) as info:
        client.gate.authorize(feature_code="llm.chat", principal_id="o", user_id="u", idempotency_key="k-9")
    timeout = info.value.last_error
    assert isinstance(timeout, APITimeoutError)
    assert isinstance(timeout, APIConnectionError)
    assert timeout.unsent is False  # a read timeout: the request went out
    assert timeout.operation == info.value.operation == "gate.authorize"
    assert timeout.idempotency_key == info.value.idempotency_key == "k-9"
    assert len(rsps.calls) == 2


def test_read_timeout_on_a_read_is_an_api_timeout_error(rsps) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=2))
    rsps.add("GET", URL["limits"], body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(APITimeoutError) as info:
        limits(client)
    assert info.value.may_have_applied is False
    assert info.value.idempotency_key is None
    assert len(rsps.calls) == 2


def test_connect_timeout_maps_to_api_timeout_error(rsps) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=1))
    rsps.add("GET", URL["limits"], body=requests.exceptions.ConnectTimeout("connect timed out"))
    with pytest.raises(APITimeoutError):
        limits(client)


def test_connection_error_maps_to_api_connection_error(rsps) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=2))
    rsps.add("GET", URL["limits"], body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(APIConnectionError) as info:
        limits(client)
    assert type(info.value) is APIConnectionError
    assert info.value.operation == "gate.limits"
    assert info.value.idempotency_key is None
    assert "/mgt/v1/gate/limits" in str(info.value)
    assert len(rsps.calls) == 2
