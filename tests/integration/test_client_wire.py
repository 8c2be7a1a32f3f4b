"""What reaches a real socket: a local server rebuilds the canonical string from the bytes it received.

And a refused connection, which only a real socket shows.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import parse_qs, urlsplit

import pytest

from support.mock_deployment import AUTHZ_DATA, BILLING_USER, err, make_client, ok, verify_signed
from support.svcauth import EMPTY_DIGEST
from vluna_client import APIConnectionError, RetryPolicy


def limits(client, **kwargs):
    return client.gate.limits(principal_id="o", user_id="u", **kwargs)


@pytest.fixture
def wire_client(server):
    client = make_client(base_url=server.root + "/mgt/v1")
    yield client
    client.close()


def verify_received(rec):
    return verify_signed(rec.method, rec.target, rec.header_map(), rec.body)


def test_get_with_repeated_and_reserved_query_values_verifies_on_the_server(wire_client, server) -> None:
    server.answers.append((200, ok([])))
    wire_client.gate.limits(
        principal_id="org_123",
        user_id="user_42",
        feature_code=["openai/gpt-4o@2024:mini", "a b&c=d"],
        expand=["quotas", "rates"],
    )
    (rec,) = server.received
    assert rec.method == "GET"
    assert rec.target.startswith("/mgt/v1/gate/limits?")
    assert parse_qs(urlsplit(rec.target).query) == {
        "feature_code": ["openai/gpt-4o@2024:mini", "a b&c=d"],
        "expand": ["quotas", "rates"],
    }
    headers = rec.header_map()
    assert "content-type" not in headers
    assert headers["content-digest"] == EMPTY_DIGEST
    assert rec.body == b""
    verify_received(rec)


def test_post_body_bytes_received_are_the_ones_digested(wire_client, server) -> None:
    server.answers.append((200, ok(AUTHZ_DATA)))
    wire_client.gate.authorize(
        feature_code="llm.chat",
        labels={"note": "naïve ☕", "z": "1", "a": "2"},
        estimated_quantity_minor=77,
        principal_id="org_123",
        user_id="user_42",
    )
    (rec,) = server.received
    assert rec.header_map()["content-type"] == "application/json"
    assert json.loads(rec.body) == {
        "feature_code": "llm.chat",
        "labels": {"note": "naïve ☕", "z": "1", "a": "2"},
        "estimated_quantity_minor": "77",
    }
    verify_received(rec)


def test_body_less_post_on_the_wire(wire_client, server) -> None:
    server.answers.append((201, ok(BILLING_USER)))
    wire_client.billing_users.disable(billing_user_id="bu 1/x")
    (rec,) = server.received
    assert rec.method == "POST"
    assert rec.target == "/mgt/v1/billing-users/bu%201%2Fx/disable"
    headers = rec.header_map()
    assert "content-type" not in headers
    assert rec.body == b""
    assert headers["content-digest"] == EMPTY_DIGEST
    assert headers.get("content-length", "0") == "0"
    verify_received(rec)


def test_retries_on_the_wire_keep_the_key_and_re_sign(wire_client, server) -> None:
    server.answers.extend([(503, err(503, "SERVER.DB_UNAVAILABLE")), (200, ok(AUTHZ_DATA))])
    wire_client.gate.authorize(feature_code="llm.chat", principal_id="o", user_id="u")
    assert len(server.received) == 2
    first, second = server.received
    assert first.header_map()["idempotency-key"] == second.header_map()["idempotency-key"]
    assert first.body == second.body
    a1, a2 = verify_received(first), verify_received(second)
    assert a1["nonce"] != a2["nonce"]


def test_health_is_served_from_the_deployment_root(wire_client, server) -> None:
    server.answers.append((200, ok({"service": "vluna", "status": "healthy"})))
    result = wire_client.health()
    assert server.received[0].target == "/health"
    assert result.data.status == "healthy"


def test_real_connection_refused_is_an_api_connection_error(sleeps) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # nothing listens on that port any more
    client = make_client(base_url=f"http://127.0.0.1:{port}/mgt/v1", retry=RetryPolicy(max_attempts=2))
    try:
        with pytest.raises(APIConnectionError):
            limits(client, timeout=2)
        assert len(sleeps) == 1  # a refused connection never reached the server: retried
    finally:
        client.close()


def test_refused_connection_on_a_non_idempotent_post_is_retried(sleeps) -> None:
    """Nothing was sent when the connection is refused, so even a POST without an Idempotency-Key may retry."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{port}/mgt/v1", retry=RetryPolicy(max_attempts=3))
    try:
        with pytest.raises(APIConnectionError):
            client.ops.revenue_report(
                time={"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "granularity": "month"},
                principal_id="org_123",
                timeout=2,
            )
        assert len(sleeps) == 2
    finally:
        client.close()
