"""The service-key secret and bearer tokens stay out of logs and errors when the client talks to a real socket."""

from __future__ import annotations

import traceback

import pytest

from support.leaks import SECRET_FORMS, TOKEN_FORMS, all_log_text, assert_absent
from support.mock_deployment import AUTHZ_DATA, BEARER_TOKEN, REALM, err, make_client, ok
from vluna_client import AuthenticationError, BearerClient


def test_secret_not_in_logs_over_a_real_socket(server, debug_logs) -> None:
    client = make_client(base_url=server.root + "/mgt/v1")
    server.answers.extend(
        [
            (503, err(503, "SERVER.DB_UNAVAILABLE")),  # retried: logs a warning
            (200, ok(AUTHZ_DATA)),
            (401, err(401, "AUTH.INVALID_SERVICE_SIGNATURE", "Signature mismatch")),
        ]
    )
    try:
        client.gate.authorize(feature_code="llm.chat", principal_id="o", user_id="u")
        with pytest.raises(AuthenticationError) as info:
            client.gate.limits(principal_id="o", user_id="u")
    finally:
        client.close()
    text = all_log_text(debug_logs)
    assert "urllib3" in {r.name.split(".")[0] for r in debug_logs.records}, "urllib3 debug logging was not exercised"
    assert any(r.name == "vluna_client" for r in debug_logs.records)
    assert_absent(text, SECRET_FORMS)
    assert_absent(str(info.value) + repr(info.value) + repr(vars(info.value)), SECRET_FORMS)
    assert_absent(
        "".join(traceback.format_exception(type(info.value), info.value, info.value.__traceback__)), SECRET_FORMS
    )


def test_bearer_token_not_in_logs_over_a_real_socket(server, debug_logs) -> None:
    client = BearerClient(base_url=server.root + "/api/v1", realm_id=REALM, access_token=BEARER_TOKEN)
    server.answers.extend([(503, err(503, "SERVER.DB_UNAVAILABLE")), (200, ok([], meta={"next_cursor": None}))])
    try:
        client.catalog.list_products()
    finally:
        client.close()
    assert [dict((k.lower(), v) for k, v in r.headers)["authorization"] for r in server.received] == [
        f"Bearer {BEARER_TOKEN}"
    ] * 2
    assert_absent(all_log_text(debug_logs), TOKEN_FORMS)
