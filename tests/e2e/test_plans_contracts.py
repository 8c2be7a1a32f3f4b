"""Billing plans with entitlements, plan assignments, and contracts with their terms."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from support.bindings import Account
from vluna_client import ConflictError, InvalidRequestError, NotFoundError, ServiceClient

from ._support import covers, slug
from .conftest import Customer, OutcomeFeature

NOW = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@covers(
    "service plans.upsert",
    "service plans.get",
    "service plans.list",
    "service plans.update",
    "service plans.upsert_entitlements",
    "service plans.list_entitlements",
    "service plans.delete_entitlement",
)
def test_plan_with_entitlements(service: ServiceClient, outcome_feature: OutcomeFeature) -> None:
    code = slug("plan")
    plan = service.plans.upsert(plan_code=code, name="E2E plan", kind="base").data
    assert (plan.plan_code, plan.kind) == (code, "base")
    assert service.plans.get(plan_id=plan.plan_id).data.plan_code == code
    assert plan.plan_id in [p.plan_id for p in service.plans.list(plan_code=code).auto_paging_iter()]
    assert service.plans.update(plan_id=plan.plan_id, name="Renamed").data.name == "Renamed"
    assert service.plans.get(plan_id=plan.plan_id).data.name == "Renamed"

    added = service.plans.upsert_entitlements(
        plan_id=plan.plan_id, mode="append", items=[{"feature_code": outcome_feature.feature_code, "effect": "allow"}]
    ).data
    assert [e.feature_code for e in added.items or []] == [outcome_feature.feature_code]
    listed = list(service.plans.list_entitlements(plan_id=plan.plan_id).auto_paging_iter())
    assert [e.feature_code for e in listed] == [outcome_feature.feature_code]
    bpe_id = listed[0].bpe_id
    assert service.plans.delete_entitlement(plan_id=plan.plan_id, bpe_id=bpe_id).data.bpe_id == bpe_id
    assert list(service.plans.list_entitlements(plan_id=plan.plan_id).auto_paging_iter()) == []


@covers("service plans.upsert_entitlements")
def test_entitlement_for_an_unknown_feature_is_refused(service: ServiceClient) -> None:
    plan = service.plans.upsert(plan_code=slug("plan"), name="E2E plan", kind="addon").data
    with pytest.raises((NotFoundError, InvalidRequestError)):
        service.plans.upsert_entitlements(plan_id=plan.plan_id, mode="append", items=[{"feature_code": slug("nof")}])


@covers("service plan_assignments.create", "service plan_assignments.list", "service plan_assignments.update")
def test_plan_assignment_lifecycle(service: ServiceClient, customer: Customer) -> None:
    plan = service.plans.upsert(plan_code=slug("plan"), name="E2E plan", kind="addon").data
    account: Account = {"billing_account_id": customer.billing_account_id}
    assignment = service.plan_assignments.create(
        assignment_scope="account",
        plan_id=plan.plan_id,
        source_kind="ops.manual",
        source_ref=slug("e2e"),
        window_start=NOW,
        **account,
    ).data
    assert (assignment.plan_id, assignment.billing_account_id) == (plan.plan_id, customer.billing_account_id)
    listed = service.plan_assignments.list(plan_id=plan.plan_id, **account).auto_paging_iter()
    assert [a.assignment_id for a in listed] == [assignment.assignment_id]
    paused = service.plan_assignments.update(assignment_id=assignment.assignment_id, status="paused", **account)
    assert paused.data.status == "paused"
    listed = service.plan_assignments.list(plan_id=plan.plan_id, **account).auto_paging_iter()
    assert [a.status for a in listed] == ["paused"]


@covers("service plan_assignments.create")
def test_assignment_of_an_unknown_plan_is_refused(service: ServiceClient, customer: Customer) -> None:
    with pytest.raises(NotFoundError):
        service.plan_assignments.create(
            assignment_scope="account",
            plan_id="00000000-0000-4000-8000-000000000000",
            source_kind="ops.manual",
            source_ref=slug("e2e"),
            window_start=NOW,
            billing_account_id=customer.billing_account_id,
        )


@covers(
    "service contracts.upsert",
    "service contracts.get",
    "service contracts.list",
    "service contracts.update",
    "service contracts.upsert_term",
    "service contracts.list_terms",
)
def test_contract_with_a_term(service: ServiceClient, customer: Customer) -> None:
    account: Account = {"billing_account_id": customer.billing_account_id}
    contract = service.contracts.upsert(effective_at=NOW, name="E2E contract", **account).data
    cid = contract.contract_id
    assert contract.billing_account_id == customer.billing_account_id
    assert service.contracts.get(contract_id=cid, **account).data.name == "E2E contract"
    assert cid in [c.contract_id for c in service.contracts.list(**account).auto_paging_iter()]
    assert service.contracts.update(contract_id=cid, name="Renamed", **account).data.name == "Renamed"
    assert service.contracts.get(contract_id=cid, **account).data.name == "Renamed"

    key = slug("rate")
    term = service.contracts.upsert_term(
        contract_id=cid, kind="e2r_param", term_key=key, effective_at=NOW, value_json=7, **account
    ).data
    assert (term.term_key, term.value_json) == (key, 7)
    terms = service.contracts.list_terms(contract_id=cid, **account).data.items or []
    assert [(t.term_key, t.value_json) for t in terms] == [(key, 7)]


@covers("service contracts.upsert_term")
def test_term_rewritten_with_another_value_conflicts(service: ServiceClient, customer: Customer) -> None:
    account: Account = {"billing_account_id": customer.billing_account_id}
    contract = service.contracts.upsert(effective_at=NOW, **account).data
    key = slug("rate")
    service.contracts.upsert_term(
        contract_id=contract.contract_id, kind="e2r_param", term_key=key, effective_at=NOW, value_json=1, **account
    )
    with pytest.raises((ConflictError, InvalidRequestError)):
        service.contracts.upsert_term(
            contract_id=contract.contract_id, kind="e2r_param", term_key=key, effective_at=NOW, value_json=2, **account
        )
