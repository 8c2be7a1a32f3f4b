"""Wallet routes, budgets in the gate, and prices set through the management API, as the server handles them."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from vluna_client import InvalidRequestError, PaymentRequiredError, ServiceClient, VlunaError
from vluna_client.testing import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(billing_mode="prepaid", price_per_unit_xusd=None) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[ServiceClient]:
    with emu.service_client() as service:
        yield service


def priced_feature(client: ServiceClient, code: str = "chat.reply") -> None:
    client.feature_families.upsert(feature_family_code="fam.money", name="Money")
    client.features.upsert(
        feature_code=code,
        feature_family_code="fam.money",
        name="Reply",
        meters=[
            {"meter_code": code, "meter_prices": {"unit_price_xusd": "4", "unit_cost_xusd": "1"}},
            {"meter_code": f"{code}.in", "meter_prices": {"unit_price_xusd": "3"}},
            {"meter_code": f"{code}.out"},
        ],
    )


def test_adjust_and_consume_validate_and_move_the_ledger(client: ServiceClient) -> None:
    gate = client.bind(principal_id="org_w", user_id="u_w")
    with pytest.raises(InvalidRequestError, match="delta must be non-zero"):
        gate.wallet.adjust(delta="0", unit="xusd")
    with pytest.raises(InvalidRequestError, match="unit must be xusd"):
        gate.wallet.adjust(delta="5", unit="usd")
    assert gate.wallet.adjust(delta="300", unit="xusd", idempotency_key="top-up").data.balance == "300"
    # The same entry key writes nothing again.
    assert gate.wallet.adjust(delta="300", unit="xusd", idempotency_key="top-up").data.balance == "300"
    consumed = gate.wallet.consume(amount=120, unit="xusd", source_ref="job-1").data
    assert (consumed.balance, consumed.replay) == ("180", False)
    with pytest.raises(PaymentRequiredError, match="insufficient balance"):
        gate.wallet.consume(amount=181, unit="xusd")
    view = gate.wallet.get_balance().data
    assert view.balances is not None
    assert view.outstanding_balances is not None
    assert view.grants is not None
    # Ledger 180 + wallet-cash grant (300 issued, 120 consumed) = 360, the server's double count.
    assert (view.balances.xusd, view.outstanding_balances.xusd) == ("360", "360")
    (cash,) = view.grants
    assert cash.issued is not None
    assert cash.remaining is not None
    assert (cash.origin, cash.issued.xusd, cash.remaining.xusd, cash.consumed_xusd) == ("cash", "300", "180", "120")


def test_primary_meter_price_fills_in_for_unpriced_peers(client: ServiceClient) -> None:
    priced_feature(client)
    gate = client.bind(principal_id="org_p", user_id="u_p")
    gate.wallet.adjust(delta="1000", unit="xusd")
    lease = gate.gate.authorize(feature_code="chat.reply").data
    lines = gate.gate.commit(
        lease_token=lease.lease_token,
        feature_code="chat.reply",
        quantity_minor=3,
        meters=[
            {"meter_code": "chat.reply.in", "quantity_minor": 2},
            {"meter_code": "chat.reply.out", "quantity_minor": 1},
        ],
    ).data.lines
    assert lines is not None
    # .in has its own price (3, cost 0 as none was named); .out takes the primary's price and cost.
    assert [(line.unit_price_xusd, line.unit_cost_xusd, line.amount_xusd) for line in lines] == [
        ("3", "0", "6"),
        ("4", "1", "4"),
    ]


def test_meters_upsert_prices_a_meter_for_the_gate(client: ServiceClient) -> None:
    priced_feature(client)
    client.meters.upsert(
        meter_code="chat.reply.img",
        feature_code="chat.reply",
        meter_prices={"unit_price_xusd": "50", "unit_quantity_minor": "10", "rounding": "ceil"},
    )
    gate = client.bind(principal_id="org_m", user_id="u_m")
    gate.wallet.adjust(delta="1000", unit="xusd")
    done = gate.gate.ingest(feature_code="chat.reply", meters=[{"meter_code": "chat.reply.img", "quantity_minor": 11}])
    assert done.data.amount_xusd == "100"


def test_budgets_scope_the_lease_and_refuse_when_unusable(client: ServiceClient) -> None:
    priced_feature(client)
    gate = client.bind(principal_id="org_b", user_id="u_b")
    other = client.bind(principal_id="org_b", user_id="u_other")
    gate.wallet.adjust(delta="1000", unit="xusd")
    budget = gate.budgets.create(name="tight", limit_xusd=10).data
    assert (budget.remaining_xusd, budget.scope_kind) == ("10", "global")
    with pytest.raises(InvalidRequestError, match="budget not found or inactive"):
        other.gate.authorize(feature_code="chat.reply", budget_id=budget.budget_id)
    with pytest.raises(InvalidRequestError, match="budget_id must be a uuid string"):
        gate.gate.authorize(feature_code="chat.reply", budget_id="not-a-uuid")
    lease = gate.gate.authorize(feature_code="chat.reply", budget_id=budget.budget_id, estimated_quantity_minor=5)
    assert [h.type for h in lease.hints] == ["budget.shortfall", "quota.remaining"]
    # The best-covered meter is .in (10 // 3 = 3 units): 2 units short at 3 xusd.
    assert dict(lease.hints[0].fields) == {"budget_id": budget.budget_id, "shortfall_xusd": 6}
    done = gate.gate.commit(lease_token=lease.data.lease_token, feature_code="chat.reply", quantity_minor=5)
    assert done.data.budget_id == budget.budget_id
    assert [h.type for h in done.hints] == ["budget.shortfall", "budget.low_headroom"]
    after = gate.budgets.get(budget_id=budget.budget_id).data
    assert (after.consumed_xusd, after.remaining_xusd) == ("20", "0")
    with pytest.raises(PaymentRequiredError) as exhausted:
        gate.gate.authorize(feature_code="chat.reply", budget_id=budget.budget_id)
    assert exhausted.value.code == "BUDGET.EXHAUSTED"
    assert [h.type for h in exhausted.value.hints] == ["budget.shortfall"]
    gate.budgets.close(budget_id=budget.budget_id)
    with pytest.raises(InvalidRequestError, match="budget not found or inactive"):
        gate.gate.authorize(feature_code="chat.reply", budget_id=budget.budget_id)


def test_budget_create_checks_scope_and_limit(client: ServiceClient) -> None:
    gate = client.bind(principal_id="org_s", user_id="u_s")
    with pytest.raises(InvalidRequestError, match="feature scope requires feature identifier"):
        gate.budgets.create(name="x", scope_kind="feature")
    with pytest.raises(VlunaError) as missing:
        gate.budgets.create(name="x", scope_kind="feature", scope_payload={"feature": "no.such"})
    assert getattr(missing.value, "status", None) == 404
    unlimited = gate.budgets.create(name="open").data
    assert unlimited.limit_xusd is None
    assert unlimited.remaining_xusd is None


def test_postpaid_accounts_are_never_refused_but_still_owe(emu: Any) -> None:
    with Emulator(price_per_unit_xusd=7) as postpaid, postpaid.service_client() as service:
        gate = service.bind(principal_id="org_post", user_id="u_post")
        lease = gate.gate.authorize(feature_code="llm.chat", estimated_quantity_minor=100)
        assert list(lease.hints) == []
        gate.gate.commit(lease_token=lease.data.lease_token, feature_code="llm.chat", quantity_minor=3)
        view = gate.wallet.get_balance().data
        assert (view.balances.xusd, view.outstanding_balances.xusd) == ("0", "-21")
        assert postpaid.wallet_balance("org_post") is None


def test_billing_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="billing_mode"):
        Emulator(billing_mode="credit")
