"""Idempotency-Key: fixed before the first attempt, reused on every retry, never sent on reads (wire §4)."""

from __future__ import annotations

import time
import uuid
from typing import List

import pytest
import requests

from support.mock_deployment import AUTHZ_DATA, URL, err, make_client, ok, verify_request
from support.svcauth import body_bytes, parse_auth
from vluna_client import OutcomeUnknownError, Retrier, RetryPolicy, ServerError


def test_same_key_fresh_signature_on_every_retry(rsps) -> None:
    sleeps: List[float] = []

    def pause(seconds: float) -> None:
        # Record the backoff but wait only long enough for the client's millisecond timestamp to move on.
        sleeps.append(seconds)
        time.sleep(0.003)

    rsps.add("POST", URL["authorize"], json=err(500, "SERVER.UNEXPECTED"), status=500)
    rsps.add("POST", URL["authorize"], json=err(503, "SERVER.DB_UNAVAILABLE"), status=503)
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))

    with make_client(retry=Retrier(RetryPolicy(), sleep=pause)) as client:
        result = client.gate.authorize(feature_code="llm.chat", principal_id="org_123", user_id="user_42")

    assert result.data.lease_token == "lt_abc"
    assert len(rsps.calls) == 3
    assert len(sleeps) == 2
    requests_sent = [c.request for c in rsps.calls]
    keys = {r.headers["Idempotency-Key"] for r in requests_sent}
    assert len(keys) == 1
    (key,) = keys
    assert result.idempotency_key == key
    auths = [verify_request(r) for r in requests_sent]  # every attempt is validly signed on its own
    assert len({a["nonce"] for a in auths}) == 3, "each attempt needs a fresh nonce"
    assert len({a["ts"] for a in auths}) == 3, "each attempt needs a fresh timestamp"
    assert len({a["sig"] for a in auths}) == 3
    assert len({body_bytes(r) for r in requests_sent}) == 1, "the body must not change between attempts"


def test_same_key_after_a_connection_error(client, rsps) -> None:
    rsps.add("POST", URL["authorize"], body=requests.exceptions.ConnectionError("reset by peer"))
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    result = client.gate.authorize(feature_code="llm.chat", principal_id="org_123", user_id="user_42")
    assert len(rsps.calls) == 2
    # the first call raised inside the adapter; responses still records the request it was given
    first, second = (c.request for c in rsps.calls)
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == result.idempotency_key
    assert parse_auth(first.headers["Authorization"])["nonce"] != parse_auth(second.headers["Authorization"])["nonce"]


def test_caller_supplied_key_is_sent_and_reported(client, rsps) -> None:
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    result = client.gate.authorize(
        feature_code="llm.chat", principal_id="org_123", user_id="user_42", idempotency_key="order-42:authz"
    )
    assert rsps.calls[0].request.headers["Idempotency-Key"] == "order-42:authz"
    assert result.idempotency_key == "order-42:authz"
    verify_request(rsps.calls[0].request)


def test_caller_supplied_key_survives_retries_and_is_on_the_error(client, rsps) -> None:
    for _ in range(3):
        rsps.add("POST", URL["authorize"], json=err(503, "SERVER.DB_UNAVAILABLE"), status=503)
    with pytest.raises(OutcomeUnknownError) as info:
        client.gate.authorize(feature_code="llm.chat", principal_id="o", user_id="u", idempotency_key="k-1")
    assert [c.request.headers["Idempotency-Key"] for c in rsps.calls] == ["k-1", "k-1", "k-1"]
    assert info.value.idempotency_key == "k-1"
    assert isinstance(info.value.last_error, ServerError)
    assert info.value.last_error.idempotency_key == "k-1"


def test_generated_key_is_a_uuid4_and_new_per_call(client, rsps) -> None:
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    client.gate.authorize(feature_code="llm.chat", principal_id="o", user_id="u")
    client.gate.authorize(feature_code="llm.chat", principal_id="o", user_id="u")
    keys = [c.request.headers["Idempotency-Key"] for c in rsps.calls]
    parsed = [uuid.UUID(k) for k in keys]
    assert all(p.version == 4 for p in parsed)
    assert [str(p) for p in parsed] == keys  # canonical text form
    assert keys[0] != keys[1]


def test_reads_send_no_idempotency_key(client, rsps) -> None:
    rsps.add("GET", URL["limits"], json=ok([]))
    rsps.add("GET", URL["features"], json=ok({"items": [], "next_cursor": None}))
    rsps.add("GET", URL["products"], json=ok([], meta={"next_cursor": None, "has_more": False, "limit": 50}))
    r1 = client.gate.limits(principal_id="o", user_id="u")
    r2 = client.features.list()
    r3 = client.catalog.list_products(principal_id="o")
    assert len(rsps.calls) == 3
    for call in rsps.calls:
        assert "Idempotency-Key" not in call.request.headers
        verify_request(call.request)  # the canonical idempotency-key line is then empty
    assert r1.idempotency_key is None
    assert r2.idempotency_key is None
    assert r3.idempotency_key is None


def test_read_only_post_sends_no_idempotency_key(client, rsps) -> None:
    rsps.add("POST", URL["revenue"], json=ok([]), status=201)
    client.ops.revenue_report(
        time={"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "granularity": "month"},
        principal_id="org_123",
    )
    assert "Idempotency-Key" not in rsps.calls[0].request.headers
    verify_request(rsps.calls[0].request)
