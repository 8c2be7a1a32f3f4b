"""Envelopes, routing, HTTP idempotency and the bearer surface, over real loopback HTTP."""

from __future__ import annotations

import json

from support.emulator_wire import PRINCIPAL, USER, Wire
from vluna_client.testing import Emulator


def test_health(wire: Wire) -> None:
    response = wire.plain("GET", "/health")
    assert response.status_code == 200
    assert response.content == b'{"ok":true,"code":"OK","data":{"service":"vluna","status":"healthy"}}'
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "traceparent" in response.headers["Access-Control-Expose-Headers"]
    assert "Retry-After" not in response.headers


def test_unknown_route_and_wrong_method(wire: Wire) -> None:
    response = wire.plain("GET", "/mgt/v1/nope?x=1")
    assert response.status_code == 404
    assert response.json() == {
        "ok": False,
        "code": "RESOURCE.NOT_FOUND",
        "message": "Cannot GET /mgt/v1/nope?x=1",
        "meta": {"status": 404},
    }
    assert wire.plain("GET", "/mgt/v1/gate/authorize").json()["message"] == "Cannot GET /mgt/v1/gate/authorize"


def test_trailing_slash_is_tolerated(wire: Wire) -> None:
    assert wire.plain("GET", "/health/").status_code == 200
    assert wire.svc("GET", "/mgt/v1/wallet/balance/").status_code == 200


def test_success_envelope_omits_absent_fields(wire: Wire) -> None:
    body = wire.authorize().json()
    assert list(body) == ["ok", "code", "data"]
    assert list(body["data"]) == [
        "lease_token",
        "lease_id",
        "feature_code",
        "feature_family_code",
        "window_start",
        "window_end",
    ]
    assert body["data"]["window_start"].endswith(".000Z")


def test_missing_idempotency_key_is_400(wire: Wire) -> None:
    response = wire.authorize(key=None)
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "code": "VALIDATION.INVALID_INPUT",
        "message": "missing_idempotency_key",
        "meta": {"status": 400},
    }


def test_replay_is_byte_identical_and_not_reprocessed(emu: Emulator, wire: Wire) -> None:
    token = wire.lease_token()
    first = wire.commit(token, key="commit-1")
    again = wire.commit(token, key="commit-1")
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert len(emu.ledger.commits()) == 1
    assert [r.replayed for r in emu.ledger.requests_to("/mgt/v1/gate/commits")] == [False, True]


def test_whitespace_does_not_change_the_fingerprint(wire: Wire) -> None:
    compact = json.dumps({"feature_code": "llm.chat"}, separators=(",", ":")).encode()
    spaced = json.dumps({"feature_code": "llm.chat"}, indent=2).encode()
    first = wire.svc("POST", "/mgt/v1/gate/authorize", raw=compact, key="same")
    second = wire.svc("POST", "/mgt/v1/gate/authorize", raw=spaced, key="same")
    assert second.status_code == 200
    assert second.content == first.content


def test_key_reuse_with_another_body_is_409(wire: Wire) -> None:
    assert wire.authorize("llm.chat", key="k").status_code == 200
    response = wire.authorize("llm.embed", key="k")
    assert response.status_code == 409
    assert response.json() == {
        "ok": False,
        "code": "WRITE.INVALID_PAYLOAD",
        "message": "idempotency_conflict",
        "meta": {"status": 409},
    }


def test_key_order_matters_to_the_fingerprint(wire: Wire) -> None:
    first = wire.svc("POST", "/mgt/v1/gate/authorize", raw=b'{"feature_code":"a1","labels":{"x":"1"}}', key="o")
    second = wire.svc("POST", "/mgt/v1/gate/authorize", raw=b'{"labels":{"x":"1"},"feature_code":"a1"}', key="o")
    assert first.status_code == 200
    assert second.status_code == 409


def test_errors_are_not_stored(wire: Wire) -> None:
    bad = wire.svc("POST", "/mgt/v1/gate/authorize", {"feature_code": "Not Valid!"}, key="e")
    assert bad.status_code == 422
    assert bad.json()["message"] == "feature_code must match [a-z0-9._/@:-]+"
    # The same key with the same (still bad) body re-executes and fails again rather than replaying.
    assert wire.svc("POST", "/mgt/v1/gate/authorize", {"feature_code": "Not Valid!"}, key="e").status_code == 422
    assert wire.svc("POST", "/mgt/v1/gate/authorize", {"feature_code": "ok.now"}, key="e").status_code == 200


def test_service_idempotency_cache_is_shared_across_users(wire: Wire) -> None:
    # Like the server: for SVC-AUTH the cache key has no subject, so a key reused by another user replays.
    first = wire.svc("POST", "/mgt/v1/gate/authorize", {"feature_code": "x1"}, key="shared", user="alice")
    second = wire.svc("POST", "/mgt/v1/gate/authorize", {"feature_code": "x1"}, key="shared", user="bob")
    assert second.content == first.content


def test_token_issue_and_bearer_routes(emu: Emulator, wire: Wire) -> None:
    token = wire.token()
    balance = wire.bearer("GET", "/api/v1/wallet/balance", token)
    assert balance.status_code == 200, balance.text
    data = balance.json()["data"]
    assert data == {**emu.billing_ids(PRINCIPAL, USER), **data}
    assert data["balances"] == {"xusd": "0", "usd": "0"}
    assert data["conversion"]["usd_per_xusd"] == "0.000001"
    products = wire.bearer("GET", "/api/v1/catalog/products?limit=2", token)
    assert products.status_code == 200
    page = products.json()
    assert len(page["data"]) == 2
    assert page["meta"]["has_more"] is True
    assert page["meta"]["limit"] == 2
    cursor = page["meta"]["next_cursor"]
    rest = wire.bearer("GET", f"/api/v1/catalog/products?limit=2&cursor={cursor}", token).json()
    assert [p["name"] for p in rest["data"]] == ["Credit pack 10 USD"]
    assert rest["meta"] == {"next_cursor": None, "has_more": False, "limit": 2}


def test_bearer_token_is_checked(emu: Emulator, wire: Wire) -> None:
    token = wire.token()
    missing = wire.plain("GET", "/api/v1/wallet/balance", headers={"X-Realm-Id": emu.realm_id})
    assert (missing.status_code, missing.json()["message"]) == (401, "missing_token")
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    invalid = wire.bearer("GET", "/api/v1/wallet/balance", forged)
    assert (invalid.status_code, invalid.json()["code"], invalid.json()["message"]) == (
        401,
        "AUTH.UNAUTHORIZED",
        "invalid_token",
    )
    emu.advance_clock(901)
    expired = wire.bearer("GET", "/api/v1/wallet/balance", token)
    assert expired.json()["message"] == "invalid_token"


def test_token_of_another_realm_is_403() -> None:
    with Emulator(other_realms=["realm_b"]) as emulator:
        wire = Wire(emulator)
        try:
            token = emulator.issue_token("org", "user")
            response = wire.bearer("GET", "/api/v1/wallet/balance", token, realm="realm_b")
        finally:
            wire.close()
    assert response.status_code == 403
    assert response.json()["message"] == "realm_mismatch"


def test_service_auth_is_refused_on_the_bearer_surface(wire: Wire) -> None:
    # Stricter than the server, which lets an unverified SVC-AUTH header through on /api/v1.
    response = wire.svc("GET", "/api/v1/wallet/balance")
    assert response.status_code == 401
    assert response.json()["message"] == "missing_token"
    garbage = wire.plain(
        "GET", "/api/v1/wallet/balance", headers={"X-Realm-Id": wire.emu.realm_id, "Authorization": "SVC-AUTH x"}
    )
    assert garbage.status_code == 401


def test_bearer_token_works_on_gate_routes(emu: Emulator, wire: Wire) -> None:
    token = emu.issue_token("org_b", "user_b")
    response = wire.bearer("POST", "/mgt/v1/gate/authorize", token, {"feature_code": "llm.chat"}, key="b1")
    assert response.status_code == 200, response.text
    assert emu.ledger.leases()[0].principal_id == "org_b"


def test_billing_account_header_must_match(wire: Wire) -> None:
    response = wire.svc("GET", "/mgt/v1/wallet/balance", headers={"X-Billing-Account-Id": "someone-else"})
    assert response.status_code == 403
    assert response.json()["code"] == "AUTH.BILLING_ACCOUNT_MISMATCH"
