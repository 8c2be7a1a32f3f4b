"""The money scenario on the emulator gives the figures measured on the open-source server (reference §13)."""

from __future__ import annotations

from typing import Any, Dict, Iterator

import pytest

from e2e.money_scenario import run
from vluna_client import PaymentRequiredError
from vluna_client.testing import Emulator


@pytest.fixture(scope="module")
def figures() -> Iterator[Dict[str, Any]]:
    with Emulator(billing_mode="prepaid", price_per_unit_xusd=None) as emu, emu.service_client() as client:
        yield run(client)


def test_each_meter_is_charged_at_its_own_price(figures: Dict[str, Any]) -> None:
    commit = figures["commit"]
    assert (commit["amount_xusd"], commit["cost_xusd"]) == ("130", "50")
    assert commit["lines"] == [("in", "10", "3", "30", "10"), ("out", "20", "5", "100", "40")]
    assert (figures["ingest"]["amount_xusd"], figures["ingest"]["cost_xusd"]) == ("40", "15")


def test_a_grant_counts_twice_and_usage_overflows_into_the_fallback_grant(figures: Dict[str, Any]) -> None:
    assert figures["adjust.balance"] == "100"
    grant = {"balances": "200", "outstanding_balances": "200", "grants": [("cash", False, "100", "0")]}
    assert figures["after_grant"] == grant
    after = figures["after_commit"]
    assert (after["balances"], after["outstanding_balances"]) == ("100", "70")
    assert after["grants"] == [("cash", False, "0", "0"), ("fallback", False, "-30", "0")]
    assert (figures["after_ingest"]["balances"], figures["after_ingest"]["outstanding_balances"]) == ("100", "30")


def test_budget_is_attributed_consumed_and_covers_meters(figures: Dict[str, Any]) -> None:
    assert figures["authorize.budget_echoed"] is True
    assert figures["commit"]["budget_echoed"] is True
    assert figures["commit"]["hints"] == ["budget.low_headroom"]
    # Like the server, the commit answer carries neither budget figure; the budget itself shows the consumption.
    assert (figures["commit"]["budget_consumed_delta_xusd"], figures["commit"]["budget_remaining_xusd"]) == (None, None)
    assert figures["budget.after_commit"] == ("active", "1000", "130")
    assert figures["meters.budget_coverage"] == [("budget", "870", "290")]


def test_overdraft_warns_applies_in_full_then_refuses(figures: Dict[str, Any]) -> None:
    short = figures["short.authorize"]
    assert short["hints"] == ["funding.xusd_shortfall", "quota.remaining"]
    assert short["shortfall"] == {"shortfall_xusd": 10}
    assert figures["short.commit"] == ("130", [])
    assert figures["short.after_commit"]["outstanding_balances"] == "-30"
    refused = (402, "SERVER.CONFIG", "grant balance exhausted", [])
    assert figures["short.next_authorize"] == refused
    assert figures["broke.authorize"] == refused


def test_unpriced_feature_authorizes_with_hints_and_quarantines() -> None:
    with Emulator(billing_mode="prepaid", price_per_unit_xusd=None) as emu, emu.service_client() as client:
        emu.set_feature("free.thing", {"free.thing": None})
        gate = client.bind(principal_id="org_x", user_id="u_x")
        lease = gate.gate.authorize(feature_code="free.thing", estimated_quantity_minor=5)
        assert [h.type for h in lease.hints] == ["pricing.not_configured", "funding.xusd_shortfall"]
        done = gate.gate.commit(lease_token=lease.data.lease_token, feature_code="free.thing", quantity_minor=5)
        assert done.data.amount_xusd == "0"
        assert [r.application_status for r in emu.ledger.commits()] == ["quarantined"]
        emu.set_feature("paid.thing", {"paid.thing": 1})
        with pytest.raises(PaymentRequiredError) as refused:
            gate.gate.authorize(feature_code="paid.thing")
        assert (refused.value.code, refused.value.message) == ("SERVER.CONFIG", "grant balance exhausted")
