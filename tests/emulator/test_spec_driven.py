"""The spec-driven routes apply the server's guards and keep consistent state, checked on the wire."""

from __future__ import annotations

import uuid

import pytest
import requests

from support.emulator_wire import PRINCIPAL, USER, Wire
from vluna_client.testing import Emulator

FEATURE = {"feature_code": "llm.chat", "name": "Chat"}


def _error(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()
    assert body["ok"] is False
    assert body["meta"]["status"] == response.status_code
    return response.status_code, body["code"], body["message"]


def test_service_key_routes_refuse_missing_auth_and_bearer_tokens(emu: Emulator, wire: Wire) -> None:
    unsigned = wire.plain("GET", "/mgt/v1/features", headers={"X-Realm-Id": emu.realm_id})
    assert _error(unsigned) == (401, "AUTH.UNAUTHORIZED", "unsupported_authorization_scheme")
    bearer = wire.bearer("GET", "/mgt/v1/features", wire.token())
    assert _error(bearer) == (403, "AUTH.INSUFFICIENT_SCOPE", "service_auth_required")
    no_realm = wire.plain("GET", "/mgt/v1/features")
    assert _error(no_realm) == (400, "VALIDATION.INVALID_INPUT", "missing_realm")
    assert wire.svc("GET", "/mgt/v1/features").status_code == 200


def test_bearer_routes_need_a_token(emu: Emulator, wire: Wire) -> None:
    missing = wire.plain("GET", "/api/v1/budgets", headers={"X-Realm-Id": emu.realm_id})
    assert _error(missing) == (401, "AUTH.UNAUTHORIZED", "missing_token")
    signed = wire.svc("GET", "/api/v1/budgets")
    assert _error(signed) == (401, "AUTH.UNAUTHORIZED", "missing_token")
    assert wire.bearer("GET", "/api/v1/budgets", wire.token()).status_code == 200


def test_runtime_and_account_bindings_are_required_with_a_service_key(wire: Wire) -> None:
    no_user = wire.svc("POST", "/mgt/v1/budgets", {"name": "b"}, user=None)
    assert _error(no_user)[:2] == (401, "AUTH.MISSING_RUNTIME_BINDINGS")
    unbound = wire.svc("GET", "/mgt/v1/invoices", principal=None, user=None)
    assert _error(unbound)[:2] == (401, "AUTH.MISSING_SERVICE_BINDINGS")
    unknown_account = wire.svc(
        "GET", "/mgt/v1/invoices", principal=None, user=None, headers={"X-Billing-Account-Id": str(uuid.uuid4())}
    )
    # The server's ServiceAccountGuard cannot resolve it: 403 (runtime routes answer 404 for an unknown account).
    assert _error(unknown_account)[:2] == (403, "AUTH.SERVICE_BINDINGS_INVALID")
    other = wire.emu.billing_ids("org_other")["billing_account_id"]
    mismatch = wire.svc("GET", "/mgt/v1/invoices", user=None, headers={"X-Billing-Account-Id": other})
    assert _error(mismatch)[:2] == (403, "AUTH.SERVICE_BINDINGS_INVALID")
    admin = {"X-Billing-Account-Id": other, "X-Realm-Admin": "true"}
    assert wire.svc("GET", "/mgt/v1/invoices", user=None, headers=admin).status_code == 200
    assert wire.svc("GET", "/mgt/v1/invoices", user=None).status_code == 200


def test_writes_need_an_idempotency_key_and_replay_or_conflict(emu: Emulator, wire: Wire) -> None:
    missing = wire.svc("POST", "/mgt/v1/budgets", {"name": "b"}, key=None)
    assert _error(missing) == (400, "VALIDATION.INVALID_INPUT", "missing_idempotency_key")
    first = wire.svc("POST", "/mgt/v1/budgets", {"name": "b"}, key="budget-1")
    assert first.status_code == 201
    again = wire.svc("POST", "/mgt/v1/budgets", {"name": "b"}, key="budget-1")
    assert (again.status_code, again.content) == (201, first.content)
    other = wire.svc("POST", "/mgt/v1/budgets", {"name": "c"}, key="budget-1")
    assert _error(other) == (409, "WRITE.INVALID_PAYLOAD", "idempotency_conflict")
    listed = wire.svc("GET", "/mgt/v1/budgets").json()["data"]
    assert [item["budget_id"] for item in listed["items"]] == [first.json()["data"]["budget_id"]]
    assert [r.replayed for r in emu.ledger.requests_to("/mgt/v1/budgets", "POST")] == [False, False, True, False]


def test_bodies_and_queries_are_validated_against_the_spec(wire: Wire) -> None:
    no_code = wire.svc("POST", "/mgt/v1/features", {"name": "Chat"})
    assert _error(no_code) == (422, "VALIDATION.INVALID_INPUT", "feature_code is required")
    wrong_type = wire.svc("POST", "/mgt/v1/features", {**FEATURE, "entitlement_required": "yes"})
    assert _error(wrong_type) == (422, "VALIDATION.INVALID_INPUT", "entitlement_required must be a boolean")
    policy = {
        "name": "p",
        "feature_code": "x",
        "kind": "forever",
        "subject_scope": "user",
        "unit": "u",
        "window_sec": 1,
    }
    bad_enum = wire.svc("POST", "/mgt/v1/gate/policies", policy)
    assert _error(bad_enum)[:2] == (422, "VALIDATION.INVALID_INPUT")
    assert "kind must be one of" in _error(bad_enum)[2]
    not_a_number = wire.svc("GET", "/mgt/v1/features?limit=many")
    assert _error(not_a_number) == (400, "VALIDATION.INVALID_INPUT", "limit must be an integer")


def test_unknown_ids_are_404_and_codes_are_upserted_or_conflict(wire: Wire) -> None:
    unknown = wire.svc("GET", f"/mgt/v1/features/{uuid.uuid4()}")
    assert _error(unknown) == (404, "RESOURCE.NOT_FOUND", "feature not found")
    created = wire.svc("POST", "/mgt/v1/features", FEATURE)
    assert created.status_code == 201
    feature = created.json()["data"]
    assert uuid.UUID(feature["feature_id"])
    assert feature["created_at"].endswith("Z")
    assert len(feature["created_at"]) == len("2026-01-01T00:00:00.000Z")
    upserted = wire.svc("POST", "/mgt/v1/features", {**FEATURE, "name": "Chat v2"})
    assert upserted.status_code == 200
    assert (upserted.json()["data"]["feature_id"], upserted.json()["data"]["name"]) == (
        feature["feature_id"],
        "Chat v2",
    )
    product = {
        "product_code": "pro",
        "provider": "stripe",
        "provider_product_id": "prod_1",
        "kind": "subscription",
        "status": "active",
        "name": "Pro",
        "default_currency": "USD",
    }
    assert wire.svc("POST", "/mgt/v1/ops/catalog/products", product).status_code == 201
    duplicate = wire.svc("POST", "/mgt/v1/ops/catalog/products", product)
    assert _error(duplicate) == (409, "CONFLICT", "product_code already exists")


def test_operations_not_served_answer_the_routers_404(wire: Wire) -> None:
    response = wire.svc("POST", "/mgt/v1/reports/usage", {})
    assert _error(response) == (404, "RESOURCE.NOT_FOUND", "Cannot POST /mgt/v1/reports/usage")


def test_seeded_resources_are_scoped_to_their_account(emu: Emulator, wire: Wire) -> None:
    invoice = emu.seed("/mgt/v1/invoices", principal_id=PRINCIPAL, status="paid")
    emu.seed("/mgt/v1/invoices", principal_id="org_other")
    listed = wire.svc("GET", "/mgt/v1/invoices", user=None).json()
    assert [item["invoice_id"] for item in listed["data"]] == [invoice["invoice_id"]]
    assert listed["meta"] == {"next_cursor": None, "has_more": False, "limit": 50}
    got = wire.svc("GET", f"/mgt/v1/invoices/{invoice['invoice_id']}", user=None).json()["data"]
    assert (got["invoice_id"], got["status"]) == (invoice["invoice_id"], "paid")
    foreign = emu.seed("/mgt/v1/invoices", principal_id="org_other")
    hidden = wire.svc("GET", f"/mgt/v1/invoices/{foreign['invoice_id']}", user=None)
    assert hidden.status_code == 404
    bearer = wire.bearer("GET", f"/api/v1/invoices/{invoice['invoice_id']}", wire.token(PRINCIPAL, USER))
    assert bearer.status_code == 200
    with pytest.raises(ValueError, match="not a spec-driven list"):
        emu.seed("/mgt/v1/gate/limits")


def test_a_replayed_key_on_a_route_whose_handler_replies_itself_hangs(emu: Emulator, wire: Wire) -> None:
    assert wire.svc("POST", "/mgt/v1/features", FEATURE, key="feature-1").status_code == 201
    with pytest.raises(requests.ReadTimeout):
        wire.svc("POST", "/mgt/v1/features", FEATURE, key="feature-1", timeout=0.3)
    replay = emu.ledger.requests_to("/mgt/v1/features", "POST")[-1]
    assert (replay.replayed, replay.dropped, replay.held_seconds) == (True, True, 30.0)


def test_replays_can_be_answered_instead() -> None:
    with Emulator(replay_hang_seconds=0) as emu:
        wire = Wire(emu)
        try:
            first = wire.svc("POST", "/mgt/v1/features", FEATURE, key="feature-1")
            again = wire.svc("POST", "/mgt/v1/features", FEATURE, key="feature-1", timeout=5)
            assert again.content == first.content
        finally:
            wire.close()
