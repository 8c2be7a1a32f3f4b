"""Forward compatibility: unknown fields and enum values parse; hints stay on the result."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from support.mock_deployment import BILLING_USER, URL, ok
from vluna_client import Hint, OpenEnum, Result
from vluna_client._generated.models.common import Rounding
from vluna_client._generated.models.gate import CommitResponse, Status

LINE = {
    "line_id": "l-1",
    "meter_code": "tokens.out",
    "quantity_minor": "1500",
    "amount_xusd": "1200",
    "pricing_snapshot": {
        "computed_at": "2026-01-15T10:00:00.000Z",
        "unit": "token",
        "fingerprint": "fp-1",
        "unit_price_xusd": "800",
        "rounding": "stochastic",
        "provenance": {"source": "oracle", "inputs": {"x": 1}},
        "brand_new_snapshot_field": [1, 2, 3],
    },
    "cost_rounding": "ceil",
    "line_field_from_the_future": {"nested": True},
}


def commit(client):
    return client.gate.commit(
        lease_token="lt_abc", feature_code="llm.chat", quantity_minor=1500, principal_id="o", user_id="u"
    )


def test_unknown_fields_and_enum_values_parse(client, rsps) -> None:
    data = dict(amount_xusd="1200", commit_id="c-1", lines=[LINE], field_added_next_year="x")
    rsps.add("POST", URL["commit"], json=ok(data, hints=[{"type": "quota.remaining", "max_quantity_minor": 5}]))
    result = commit(client)

    assert isinstance(result, Result)
    assert isinstance(result.data, CommitResponse)
    assert result.data.amount_xusd == "1200"
    assert result.data.commit_id == "c-1"
    assert result.data.lines is not None
    line = result.data.lines[0]
    assert line.meter_code == "tokens.out"
    assert line.pricing_snapshot is not None
    rounding = line.pricing_snapshot.rounding
    assert isinstance(rounding, Rounding)
    assert isinstance(rounding, OpenEnum)
    assert rounding.is_known is False
    assert rounding.value == "stochastic"
    assert str(rounding) == "stochastic"
    assert f"{rounding}" == "stochastic"
    assert rounding == "stochastic"  # last: mypy narrows the name to the literal after it
    assert line.cost_rounding is Rounding.CEIL
    assert line.cost_rounding.is_known is True
    provenance = line.pricing_snapshot.provenance
    assert provenance is not None
    assert provenance.source is not None
    assert provenance.source.is_known is False
    assert provenance.source == "oracle"


def test_result_raw_is_the_whole_decoded_answer_and_read_only(client, rsps) -> None:
    data = dict(amount_xusd="1200", commit_id="c-1", lines=[LINE], field_added_next_year={"tier": "gold"})
    rsps.add("POST", URL["commit"], json=ok(data, hints=[{"type": "quota.remaining", "n": 5}], meta={"m": 1}))
    result = commit(client)

    raw = result.raw
    # A field this client's models do not know is reachable without regenerating.
    assert raw["data"]["field_added_next_year"]["tier"] == "gold"
    assert raw["data"]["lines"][0]["line_field_from_the_future"] == {"nested": True}
    assert raw["hints"][0]["type"] == "quota.remaining"
    assert (raw["ok"], raw["code"], raw["meta"]["m"]) == (True, "OK", 1)
    with pytest.raises(TypeError):
        raw["data"]["commit_id"] = "c-2"  # type: ignore[index]
    with pytest.raises(TypeError):
        raw["data"]["lines"][0]["meter_code"] = "other"  # type: ignore[index]
    assert isinstance(raw["data"]["lines"], tuple)
    with pytest.raises(AttributeError):
        result.raw = {}  # type: ignore[misc]
    assert result.raw["data"]["commit_id"] == "c-1"
    assert "raw" not in repr(result)


def test_open_enum_pseudo_members_are_stable_and_do_not_become_known() -> None:
    a = Rounding("half_even_v2")
    b = Rounding("half_even_v2")
    assert a is b
    assert not a.is_known
    assert a == "half_even_v2"
    assert Rounding("floor") is Rounding.FLOOR
    assert Rounding.FLOOR.is_known
    assert "half_even_v2" not in Rounding.__members__
    assert [m.value for m in Rounding] == ["floor", "nearest", "ceil"]
    assert Status("queued") == "queued"
    with pytest.raises(ValueError):
        Rounding(42)


def test_hints_are_kept_on_results(client, rsps) -> None:
    hints: List[Dict[str, Any]] = [
        {"type": "quota.remaining", "max_quantity_minor": 5, "message": "5 left"},
        {"type": "pricing.changed", "previous_fingerprint": "client", "current_fingerprint": "server"},
        {"type": "hint.from.the.future", "anything": {"goes": 1}},
    ]
    rsps.add("POST", URL["commit"], json=ok({"amount_xusd": "0"}, hints=hints))
    result = commit(client)

    assert [h.type for h in result.hints] == ["quota.remaining", "pricing.changed", "hint.from.the.future"]
    assert all(isinstance(h, Hint) for h in result.hints)
    quota = result.hint("quota.remaining")
    assert quota is not None
    assert quota["max_quantity_minor"] == 5
    assert quota.get("message") == "5 left"
    assert quota.get("absent", "dflt") == "dflt"
    assert "type" not in quota.fields
    assert result.hint("pricing.changed")["current_fingerprint"] == "server"
    assert result.hint("hint.from.the.future")["anything"] == {"goes": 1}
    assert result.hint("rate.limit") is None
    with pytest.raises(KeyError):
        quota["nope"]


def test_no_hints_gives_an_empty_tuple(client, rsps) -> None:
    rsps.add("POST", URL["commit"], json=ok({"amount_xusd": "0"}))
    result = commit(client)
    assert result.hints == ()
    assert result.hint("quota.remaining") is None


def test_odd_hint_shapes_do_not_break_parsing(client, rsps) -> None:
    rsps.add("POST", URL["commit"], json=ok({"amount_xusd": "0"}, hints=["just a string", {"no_type": 1}]))  # type: ignore[list-item]
    result = commit(client)
    assert len(result.hints) == 2
    assert result.hints[1].get("no_type") == 1


def test_unknown_enum_in_a_required_field_and_201_status(client, rsps) -> None:
    user = dict(BILLING_USER, status="suspended_by_fraud_team", new_field=1)
    rsps.add("POST", "https://vluna.test/mgt/v1/billing-users/bu_1/disable", json=ok(user), status=201)
    result = client.billing_users.disable(billing_user_id="bu_1")
    assert result.status_code == 201
    assert result.data.status == "suspended_by_fraud_team"
    assert result.data.status.is_known is False


def test_meta_is_kept_on_results(client, rsps) -> None:
    rsps.add("POST", URL["commit"], json=ok({"amount_xusd": "0"}, meta={"trace": "t-1"}))
    assert commit(client).meta == {"trace": "t-1"}
