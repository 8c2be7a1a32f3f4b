"""Gate semantics: authorize, commit pricing and validation, batch, cancel, ingest, limits, meters, wallet."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from support.emulator_wire import PRINCIPAL, USER, Wire
from vluna_client.testing import Emulator


def data(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_authorize_normalises_and_registers_the_feature(emu: Emulator, wire: Wire) -> None:
    lease = data(wire.authorize("  OpenAI.GPT-4o ", feature_family_code="llm"))
    assert lease["feature_code"] == "openai.gpt-4o"
    assert lease["feature_family_code"] == "llm"
    prefix, lease_id, suffix = lease["lease_token"].split(".", 1)[0], lease["lease_id"], lease["lease_token"][-16:]
    assert prefix == "lease"
    assert lease["lease_token"] == f"lease.{lease_id}.{suffix}"
    assert int(suffix, 16) >= 0
    (record,) = emu.ledger.leases()
    assert (record.lease_id, record.state, record.principal_id) == (lease_id, "open", PRINCIPAL)


def test_authorize_database_replay_and_conflict(emu: Emulator, wire: Wire) -> None:
    # The HTTP cache is keyed by subject, so a bearer call with the same key misses it and reaches the
    # database layer, where leases are unique per (billing user, key).
    first = data(wire.authorize("llm.chat", key="db"))
    token = emu.issue_token(PRINCIPAL, USER)
    conflict = wire.bearer("POST", "/mgt/v1/gate/authorize", token, {"feature_code": "llm.embed"}, key="db")
    assert (conflict.status_code, conflict.json()["message"]) == (409, "idempotency conflict")
    replay = wire.bearer("POST", "/mgt/v1/gate/authorize", token, {"feature_code": "LLM.chat"}, key="db")
    assert data(replay)["lease_id"] == first["lease_id"]
    assert len(emu.ledger.leases()) == 1


def test_commit_prices_every_meter(emu: Emulator, wire: Wire) -> None:
    emu.set_price("tokens.out", 30, unit_cost_xusd=7)
    token = wire.lease_token("llm.chat")
    body = data(
        wire.commit(
            token,
            "9",
            meters=[
                {"meter_code": "tokens.in", "quantity_minor": "100"},
                {"meter_code": "Tokens.Out", "quantity_minor": 4},
            ],
        )
    )
    assert body["amount_xusd"] == str(100 * 10 + 4 * 30)
    assert body["cost_xusd"] == "28"
    lines = body["lines"]
    assert [line["meter_code"] for line in lines] == ["tokens.in", "tokens.out"]
    assert list(lines[0]) == [
        "line_id",
        "meter_code",
        "quantity_minor",
        "unit_price_xusd",
        "amount_xusd",
        "pricing_snapshot",
        "pricing_fingerprint",
        "cost_xusd",
        "unit_cost_xusd",
        "cost_unit_quantity_minor",
        "cost_rounding",
        "cost_snapshot",
        "cost_fingerprint",
    ]
    snapshot = lines[1]["pricing_snapshot"]
    assert snapshot["provenance"] == {
        "source": "live",
        "inputs": {"feature_code": "llm.chat", "meter_code": "tokens.out"},
    }
    shown = (snapshot["unit_price_xusd"], snapshot["unit_quantity_minor"], snapshot["rounding"])
    assert shown == ("30", "1", "nearest")
    assert lines[1]["pricing_fingerprint"] == snapshot["fingerprint"]
    (record,) = emu.ledger.commits()
    assert (record.quantity_minor, record.amount_xusd, record.application_status) == (9, 1120, "applied")


def test_commit_without_meters_uses_the_primary_meter(wire: Wire) -> None:
    body = data(wire.commit(wire.lease_token("llm.chat"), 12))
    assert [(line["meter_code"], line["amount_xusd"]) for line in body["lines"]] == [("llm.chat", "120")]


@pytest.mark.parametrize(
    ("change", "status", "code", "message"),
    [
        ({"quantity_minor": "0"}, 422, "VALIDATION.INVALID_INPUT", "quantity_minor must be greater than 0"),
        (
            {"quantity_minor": "-3"},
            422,
            "VALIDATION.INVALID_INPUT",
            "quantity_minor must be greater than or equal to 0",
        ),
        (
            {"quantity_minor": "ten"},
            422,
            "VALIDATION.INVALID_INPUT",
            "quantity_minor must be a number or numeric string",
        ),
        ({"lease_token": ""}, 422, "VALIDATION.INVALID_INPUT", "lease_token is required"),
        ({"lease_token": "garbage"}, 422, "VALIDATION.INVALID_INPUT", "invalid lease token format"),
        ({"feature_code": "llm.other"}, 422, "WRITE.INVALID_PAYLOAD", "feature mismatch for lease"),
        ({"tamper": True}, 422, "WRITE.INVALID_PAYLOAD", "invalid lease token"),
        ({"unknown": True}, 422, "RESOURCE.NOT_FOUND", "lease not found"),
    ],
)
def test_commit_validation(wire: Wire, change: Dict[str, Any], status: int, code: str, message: str) -> None:
    token = wire.lease_token("llm.chat")
    body: Dict[str, Any] = {"lease_token": token, "feature_code": "llm.chat", "quantity_minor": "5"}
    if change.pop("tamper", False):
        body["lease_token"] = token[:-1] + ("0" if token[-1] != "0" else "1")
    if change.pop("unknown", False):
        body["lease_token"] = "lease.00000000-0000-4000-8000-000000000000.abcdef0123456789"
    body.update(change)
    response = wire.svc("POST", "/mgt/v1/gate/commits", body)
    assert response.status_code == status
    assert response.json() == {"ok": False, "code": code, "message": message, "meta": {"status": status}}


def test_another_users_lease_is_not_found(wire: Wire) -> None:
    token = wire.lease_token("llm.chat")
    body = {"lease_token": token, "feature_code": "llm.chat", "quantity_minor": "5"}
    response = wire.svc("POST", "/mgt/v1/gate/commits", body, user="intruder")
    assert (response.status_code, response.json()["message"]) == (422, "lease not found")


def test_second_commit_on_a_closed_lease_is_recorded_with_a_hint(emu: Emulator, wire: Wire) -> None:
    token = wire.lease_token("llm.chat")
    data(wire.commit(token, "5"))
    second = wire.commit(token, "5")
    assert second.status_code == 200
    assert second.json()["hints"] == [{"type": "lease.closed_at_commit", "state": "closed"}]
    commits = emu.ledger.commits()
    assert [c.application_status for c in commits] == ["applied", "quarantined"]
    assert commits[1].applied_amount_xusd == 0


def test_commit_database_idempotency_per_lease(emu: Emulator, wire: Wire) -> None:
    token = wire.lease_token("llm.chat")
    first = data(wire.commit(token, "5", key="c"))
    # Batch items use their own key at lease scope: the same key as the single commit hits the stored commit.
    item = {"idempotency_key": "c", "lease_token": token, "feature_code": "llm.chat", "quantity_minor": 5}
    batch = data(wire.svc("POST", "/mgt/v1/gate/commits/batch", {"items": [item]}))
    assert batch["items"][0]["commit"]["commit_id"] == first["commit_id"]
    changed = data(wire.svc("POST", "/mgt/v1/gate/commits/batch", {"items": [{**item, "quantity_minor": 6}]}))
    assert changed["items"][0] == {
        "index": 0,
        "status": "failed",
        "error": {"type": "WRITE.INVALID_PAYLOAD", "details": "idempotency conflict"},
    }
    assert len(emu.ledger.commits()) == 1


def test_cancel_is_naturally_idempotent(emu: Emulator, wire: Wire) -> None:
    token = wire.lease_token("llm.chat")
    first = data(wire.svc("POST", "/mgt/v1/gate/cancel", {"lease_token": token}))
    assert (first["cancelled"], first["released_cap"]) == (True, "0")
    assert first["trace_id"].startswith("cancel_")
    second = data(wire.svc("POST", "/mgt/v1/gate/cancel", {"lease_token": token}))
    assert second["cancelled"] is False
    assert [c.cancelled for c in emu.ledger.cancels()] == [True, False]
    late = wire.commit(token, "1")
    assert late.json()["hints"] == [{"type": "lease.closed_at_commit", "state": "canceled"}]


def test_cancel_validation(wire: Wire) -> None:
    missing = wire.svc("POST", "/mgt/v1/gate/cancel", {})
    assert (missing.status_code, missing.json()["message"]) == (422, "lease_token is required")
    bad_id = wire.svc("POST", "/mgt/v1/gate/cancel", {"lease_token": "lease.not-a-uuid.abc"})
    # The server's uuid column rejects the text itself: an unhandled error, answered as a bare 500.
    assert bad_id.status_code == 500
    assert bad_id.json() == {
        "ok": False,
        "code": "SERVER.UNEXPECTED",
        "message": "Unexpected server error. Please try again later.",
    }


def test_batch_commits(emu: Emulator, wire: Wire) -> None:
    token = wire.lease_token("llm.chat")
    items = [
        {"idempotency_key": "i1", "lease_token": token, "feature_code": "llm.chat", "quantity_minor": "2"},
        {"idempotency_key": "i2", "lease_token": token, "feature_code": "llm.chat", "quantity_minor": "0"},
        {"idempotency_key": " ", "lease_token": token, "feature_code": "llm.chat", "quantity_minor": "1"},
        {"idempotency_key": "i4", "lease_token": token, "feature_code": "llm.chat", "quantity_minor": "3"},
    ]
    body = data(wire.svc("POST", "/mgt/v1/gate/commits/batch", {"items": items}))
    assert [(item["index"], item["status"]) for item in body["items"]] == [
        (0, "committed"),
        (1, "invalid"),
        (2, "invalid"),
        (3, "committed"),
    ]
    assert body["items"][1]["error"] == {
        "type": "VALIDATION.INVALID_INPUT",
        "details": "quantity_minor must be greater than 0",
    }
    assert (body["committed_count"], body["failed_count"]) == (2, 2)
    # Leases close only after the whole batch, so both items on the lease were applied.
    assert [c.application_status for c in emu.ledger.commits()] == ["applied", "applied"]
    assert emu.ledger.leases()[0].state == "committed"
    again = data(wire.svc("POST", "/mgt/v1/gate/commits/batch", {"items": items[:1]}))
    assert again["items"][0]["commit"]["commit_id"] == body["items"][0]["commit"]["commit_id"]
    assert len(emu.ledger.commits()) == 2
    empty = data(wire.svc("POST", "/mgt/v1/gate/commits/batch", {"items": []}))
    assert empty == {"items": [], "committed_count": 0, "failed_count": 0}
    broken = wire.svc("POST", "/mgt/v1/gate/commits/batch", {"items": [{"lease_token": token}]})
    assert broken.status_code == 500


def test_ingest(emu: Emulator, wire: Wire) -> None:
    body = {"feature_code": "Search.API", "quantity_minor": "3", "occurred_at": "2026-01-02T03:04:05Z"}
    first = data(wire.svc("POST", "/mgt/v1/gate/ingest", body, key="ing"))
    assert first["amount_xusd"] == "30"
    (record,) = emu.ledger.ingests()
    assert record.feature_code == "search.api"
    assert emu.ledger.commits() == []
    zero = data(wire.svc("POST", "/mgt/v1/gate/ingest", {"feature_code": "search.api", "quantity_minor": 0}))
    assert zero["amount_xusd"] == "0"
    bad = wire.svc("POST", "/mgt/v1/gate/ingest", {"feature_code": "search.api"})
    assert (bad.status_code, bad.json()["message"]) == (422, "quantity_minor or meters[] is required")
    bad_date = wire.svc("POST", "/mgt/v1/gate/ingest", {**body, "occurred_at": "yesterday"})
    assert bad_date.json()["message"] == "occurred_at must be a valid date-time"


def test_limits_and_meters(emu: Emulator, wire: Wire) -> None:
    data(wire.commit(wire.lease_token("llm.chat"), "4"))
    data(wire.authorize("llm.embed"))
    limits = data(wire.svc("GET", "/mgt/v1/gate/limits?expand=quotas"))
    assert [entry["feature_code"] for entry in limits] == ["llm.chat", "llm.embed"]
    chat = limits[0]
    assert chat["quotas"][0]["limit_minor"] == "-1"
    assert chat["quotas"][0]["used_minor"] == "4"
    assert "rates" not in chat
    only = data(wire.svc("GET", "/mgt/v1/gate/limits?feature_code=llm.embed&feature_code=nope"))
    assert [entry["feature_code"] for entry in only] == ["llm.embed"]
    meters = data(wire.svc("GET", "/mgt/v1/gate/meters?expand=pricing,coverage&meter_code=llm.chat"))
    (meter,) = meters
    assert meter["features"] == ["llm.chat"]
    assert meter["pricing"]["unit_price_xusd"] == "10"
    # The commit above overflowed into the period's fallback grant, so the user has a grant now (as on the server).
    assert (meter["coverage"]["notes"], meter["coverage"]["balance_xusd"]) == ("feature=llm.chat", "0")
    fresh = data(wire.svc("GET", "/mgt/v1/gate/meters?expand=coverage&meter_code=llm.chat", principal="org_new"))
    assert fresh[0]["coverage"]["notes"] == "no active grants; feature=llm.chat"


def test_explicit_features_turn_auto_registration_off() -> None:
    with Emulator(features={"llm.chat": ["tokens.in", "tokens.out"]}) as emulator:
        wire = Wire(emulator)
        try:
            unknown = wire.authorize("llm.unknown")
            assert (unknown.status_code, unknown.json()["code"]) == (422, "RESOURCE.NOT_FOUND")
            token = wire.lease_token("llm.chat")
            response = wire.commit(token, "1", meters=[{"meter_code": "images", "quantity_minor": "1"}])
            assert response.json()["hints"] == [
                {"type": "feature.meter_not_allowed", "feature_code": "llm.chat", "meters": ["images"]}
            ]
        finally:
            wire.close()


def test_prepaid_wallet(emu: Emulator, wire: Wire) -> None:
    emu.set_wallet_balance(PRINCIPAL, 100)
    hinted = wire.authorize("llm.chat", estimated_quantity_minor="25")
    assert hinted.json()["hints"] == [
        {"type": "funding.xusd_shortfall", "shortfall_xusd": 150},
        {
            "type": "quota.remaining",
            "max_quantity_minor": 10,
            "message": "insufficient credits to cover estimated usage",
        },
    ]
    data(wire.commit(hinted.json()["data"]["lease_token"], "10"))
    assert emu.wallet_balance(PRINCIPAL) == 0
    balance = data(wire.svc("GET", "/mgt/v1/wallet/balance"))
    assert balance["balances"] == {"xusd": "0", "usd": "0"}
    # Usage is allocated to the grant but not posted (no settlement run), so consumed_xusd stays "0" on the server.
    assert [(g["remaining"]["xusd"], g["consumed_xusd"]) for g in balance["grants"]] == [("0", "0")]
    exhausted = wire.authorize("llm.chat")
    assert exhausted.status_code == 402
    assert exhausted.json() == {
        "ok": False,
        "code": "SERVER.CONFIG",
        "message": "grant balance exhausted",
        "meta": {"status": 402},
    }


def test_rate_limit(emu: Emulator, wire: Wire) -> None:
    emu.set_rate_limit("llm.chat", 2, window_seconds=3600)
    first = wire.authorize("llm.chat")
    assert first.json()["hints"][0]["type"] == "rate.limit"
    assert first.json()["hints"][0]["remaining"] == 1
    assert wire.authorize("llm.chat").status_code == 200
    limited = wire.authorize("llm.chat")
    assert limited.status_code == 429
    body = limited.json()
    assert (body["code"], body["message"], body["meta"]) == (
        "LIMIT.RATE_EXCEEDED",
        "rate limit exceeded",
        {"status": 429},
    )
    (hint,) = body["hints"]
    assert (hint["type"], hint["remaining"]) == ("rate.limit", 0)
    assert int(limited.headers["Retry-After"]) == max(1, hint["seconds"])
    rates = data(wire.svc("GET", "/mgt/v1/gate/limits?expand=rates"))
    assert rates[0]["rates"][0]["used_minor"] == "2"


def test_quota(emu: Emulator, wire: Wire) -> None:
    emu.set_quota("llm.chat", 5)
    response = wire.commit(wire.lease_token("llm.chat"), "8")
    assert response.json()["hints"] == [{"type": "quota.remaining", "max_quantity_minor": 5}]
    exhausted = wire.authorize("llm.chat")
    assert (exhausted.status_code, exhausted.json()["message"]) == (402, "quota limit exhausted")


def test_lease_expiry_hints(emu: Emulator) -> None:
    with Emulator(lease_ttl_seconds=10) as short:
        wire = Wire(short)
        try:
            token = wire.lease_token("llm.chat")
            short.advance_clock(11)
            late = wire.commit(token, "1")
            (hint,) = late.json()["hints"]
            assert (hint["type"], hint["exceeded_grace"]) == ("lease.expired", False)
            assert short.ledger.commits()[0].application_status == "applied"
        finally:
            wire.close()
