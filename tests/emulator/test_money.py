"""The money scenario on the emulator gives the figures measured on the open-source server (reference §13)."""

from __future__ import annotations

from typing import Any, Dict, Iterator, Tuple

import pytest

from e2e.money_scenario import run
from vluna_client import PaymentRequiredError, VlunaError
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
    refused: Tuple[Any, ...] = (402, "SERVER.CONFIG", "grant balance exhausted", [])
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


def test_events_dedupe_by_content_and_batches_count(figures: Dict[str, Any]) -> None:
    events = figures["events"]
    assert events["same_content_same_event"] is True
    assert events["batch"] == (2, 0)
    assert events["batch_statuses"] == ["accepted", "accepted", "duplicate"]


def test_ops_views_show_what_the_gate_and_events_recorded(figures: Dict[str, Any]) -> None:
    ops = figures["ops"]
    assert ops["rating_amounts"] == [("gate", "30", "130", "50"), ("ingest", "10", "40", "15")]
    # Newest first, as on the server: the ingest, with its two rated records.
    assert ops["first_rating"] == ("40", [("5", "15", "5"), ("5", "25", "10")])
    lines = [("10", "30", "10"), ("20", "100", "40"), ("5", "15", "5"), ("5", "25", "10")]
    assert ops["rated_record_amounts"] == lines
    assert [kind for kind, _ in ops["event_kinds"]] == ["activity"] * 3


def test_activity_lists_events_ratings_and_money_newest_first() -> None:
    with Emulator(billing_mode="prepaid") as emu, emu.service_client() as client:
        gate = client.bind(principal_id="org_a", user_id="u_a")
        gate.wallet.adjust(delta="500", unit="xusd")
        lease = gate.gate.authorize(feature_code="llm.chat")
        gate.gate.commit(lease_token=lease.data.lease_token, feature_code="llm.chat", quantity_minor=3)
        gate.events.record(semantic_kind="outcome", event_type="job.done", occurred_at="2030-01-01T00:00:00Z")
        user_id = emu.billing_ids("org_a", "u_a")["billing_user_id"]
        items = list(client.billing_users.list_activity(billing_user_id=user_id, limit=200).auto_paging_iter())
        assert (items[0].kind, items[0].title) == ("event", "job.done")
        kinds = {item.kind for item in items}
        assert kinds == {"event", "rating", "allocation", "grant", "ledger_entry"}
        rating = next(item for item in items if item.kind == "rating")
        assert (rating.amount_xusd, rating.status, rating.feature_code) == ("30", "debit", "llm.chat")
        only_events = client.billing_users.list_activity(billing_user_id=user_id, kind=["event"]).data
        assert [item.kind for item in only_events] == ["event"]


def test_invalid_event_is_a_500_alone_and_invalid_in_a_batch() -> None:
    with Emulator() as emu, emu.service_client(retry=None) as client:
        gate = client.bind(principal_id="org_e", user_id="u_e")
        batch = gate.events.record_batch(
            events=[{"semantic_kind": "nope", "event_type": "x", "occurred_at": "2030-01-01T00:00:00Z"}]
        ).data
        assert batch.results is not None
        assert (batch.accepted_count, batch.failed_count, batch.results[0].status) == (0, 1, "invalid")
        with pytest.raises(VlunaError) as failed:
            gate.events.record(semantic_kind="nope", event_type="x", occurred_at="2030-01-01T00:00:00Z")
        statuses = [r.status for r in emu.ledger.requests_to("/mgt/v1/events", "POST")]
        assert statuses, failed.value
        assert set(statuses) == {500}
