"""The server's rules on spec-driven operations: filters, updates, references, soft deletes, one account model."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from support.bindings import Account
from support.emulator_wire import Wire
from vluna_client import ConflictError, InvalidRequestError, NotFoundError, ServiceClient
from vluna_client.testing import Emulator

STAMP = "2026-01-15T10:00:00.000Z"


@pytest.fixture
def client(emu: Emulator) -> Iterator[ServiceClient]:
    with emu.service_client() as c:
        yield c


def ids(page: Any, field: str) -> list[str]:
    return [getattr(item, field) for item in page.auto_paging_iter()]


def test_budget_status_filters_only_as_a_repeated_parameter(emu: Emulator, client: ServiceClient) -> None:
    gate = client.bind(principal_id="org_b", user_id="u1")
    open_one = gate.budgets.create(name="Alpha open", limit_xusd=10).data.budget_id
    closed = gate.budgets.create(name="Beta closed", limit_xusd=10).data.budget_id
    gate.budgets.close(budget_id=closed)
    assert set(ids(gate.budgets.list(status=["closed", "expired"]), "budget_id")) == {closed}
    assert ids(gate.budgets.list(), "budget_id") == [closed, open_one]  # newest first
    assert set(ids(gate.budgets.list(name="alpha"), "budget_id")) == {open_one}
    assert set(ids(gate.budgets.list(created_at_ge="2999-01-01T00:00:00Z"), "budget_id")) == set()
    other = client.bind(principal_id="org_b", user_id="u2")
    assert ids(other.budgets.list(), "budget_id") == []  # budgets belong to their user


def test_single_status_value_is_ignored_on_the_wire(emu: Emulator) -> None:
    # One value arrives as a string, which the server does not read as a status filter.
    wire = Wire(emu)
    try:
        made = wire.svc("POST", "/mgt/v1/budgets", {"name": "x", "limit_xusd": "5"}).json()["data"]["budget_id"]
        wire.svc("POST", f"/mgt/v1/budgets/{made}/close", {})
        assert [b["budget_id"] for b in wire.svc("GET", "/mgt/v1/budgets?status=active").json()["data"]["items"]] == [
            made
        ]
        assert wire.svc("GET", "/mgt/v1/budgets?status=active&status=canceled").json()["data"]["items"] == []
    finally:
        wire.close()


def test_billing_accounts_filter_by_principal_and_search(emu: Emulator, client: ServiceClient) -> None:
    first = emu.billing_ids("org_first")["billing_account_id"]
    emu.billing_ids("org_second")
    assert ids(client.billing_accounts.list(billing_principal_id="org_first"), "billing_account_id") == [first]
    assert ids(client.billing_accounts.list(q="FIRST"), "billing_account_id") == [first]
    assert len(ids(client.billing_accounts.list(), "billing_account_id")) == 2


def test_catalog_filters_and_the_gate_see_the_same_features(client: ServiceClient) -> None:
    client.feature_families.upsert(feature_family_code="fam.chat", name="Chat")
    client.feature_families.upsert(feature_family_code="fam.other", name="Other")
    client.features.upsert(
        feature_code="chat.reply",
        feature_family_code="fam.chat",
        name="Reply",
        meters=[{"meter_code": "tokens.in", "unit": "tokens"}, {"meter_code": "tokens.out", "unit": "tokens"}],
    )
    client.features.upsert(feature_code="other.thing", feature_family_code="fam.other", name="Thing")
    assert ids(client.features.list(q="REPL"), "feature_code") == ["chat.reply"]
    assert ids(client.features.list(feature_family_code="fam.other"), "feature_code") == ["other.thing"]
    assert sorted(ids(client.meters.list(feature_code="chat.reply"), "meter_code")) == ["tokens.in", "tokens.out"]
    gate = client.bind(principal_id="org", user_id="u")
    assert [f.feature_code for f in gate.gate.limits(feature_family_code=["fam.chat"]).data] == ["chat.reply"]
    # The server gives a feature named without its own meter a primary meter of its code (meters.list there shows
    # chat.reply too), so the gate charges three meters.
    assert [m.meter_code for m in gate.gate.meters(feature_family_code=["fam.chat"]).data] == [
        "chat.reply",
        "tokens.in",
        "tokens.out",
    ]


def test_references_are_checked_before_writing(client: ServiceClient, emu: Emulator) -> None:
    with pytest.raises(InvalidRequestError, match="feature_family_code not found"):
        client.features.upsert(feature_code="x.y", feature_family_code="nope", name="x")
    with pytest.raises(InvalidRequestError, match="feature not found"):
        client.meters.upsert(meter_code="m", feature_code="nope", unit="calls")
    plan = client.plans.upsert(plan_code="p", name="P", kind="addon").data
    with pytest.raises(InvalidRequestError, match="feature_code not found"):
        client.plans.upsert_entitlements(plan_id=plan.plan_id, mode="append", items=[{"feature_code": "nope"}])
    account = emu.billing_ids("org")["billing_account_id"]
    with pytest.raises(NotFoundError):
        client.ops.create_catalog_price(
            catalog_product_id="00000000-0000-4000-8000-000000000000", price_code="c", provider_price_id="pp",
            currency="USD", unit_amount=1, billing_account_id=account,
        )  # fmt: skip
    with pytest.raises(NotFoundError):
        client.contracts.list_terms(contract_id="00000000-0000-4000-8000-000000000000", billing_account_id=account)
    assert ids(client.features.list(), "feature_id") == []  # nothing was written


def test_updates_apply_every_field(client: ServiceClient) -> None:
    family = client.feature_families.upsert(feature_family_code="fam.u", name="U").data
    changed = client.feature_families.update(
        feature_family_id=family.feature_family_id, description="about", metadata={"team": "core"}
    ).data
    again = client.feature_families.get(feature_family_id=family.feature_family_id).data
    assert (changed.description, again.description, again.metadata.extras) == ("about", "about", {"team": "core"})
    plan = client.plans.upsert(plan_code="pl", name="Plan", kind="base").data
    client.plans.update(plan_id=plan.plan_id, priority=7, name="Renamed", metadata={"tier": "gold"})
    got = client.plans.get(plan_id=plan.plan_id).data
    assert (got.priority, got.name, got.metadata.extras) == (7, "Renamed", {"tier": "gold"})
    assert ids(client.plans.list(q="renam"), "plan_id") == [plan.plan_id]
    assert ids(client.plans.list(plan_code="other"), "plan_id") == []


def test_plans_filter_by_what_they_entitle(client: ServiceClient) -> None:
    client.feature_families.upsert(feature_family_code="fam.p", name="P")
    client.features.upsert(feature_code="f.p", feature_family_code="fam.p", name="F")
    with_it = client.plans.upsert(plan_code="with", name="With", kind="base").data.plan_id
    client.plans.upsert(plan_code="without", name="Without", kind="base")
    client.plans.upsert_entitlements(plan_id=with_it, mode="append", items=[{"feature_code": "f.p"}])
    assert ids(client.plans.list(feature_code="f.p"), "plan_id") == [with_it]
    assert ids(client.plans.list(feature_code="other"), "plan_id") == []


def test_a_family_in_use_is_archived_and_an_unused_one_deleted(client: ServiceClient) -> None:
    used = client.feature_families.upsert(feature_family_code="fam.used", name="Used").data.feature_family_id
    unused = client.feature_families.upsert(feature_family_code="fam.unused", name="Unused").data.feature_family_id
    client.features.upsert(feature_code="f.used", feature_family_code="fam.used", name="F")
    soft = client.feature_families.delete(feature_family_id=used).data
    assert (soft.deleted, soft.soft_deleted) == (False, True)
    assert client.feature_families.get(feature_family_id=used).data.active is False
    assert ids(client.feature_families.list(active=False), "feature_family_id") == [used]
    hard = client.feature_families.delete(feature_family_id=unused).data
    assert (hard.deleted, hard.soft_deleted) == (True, False)
    with pytest.raises(NotFoundError):
        client.feature_families.get(feature_family_id=unused)


def test_accounts_and_users_are_one_model(emu: Emulator, client: ServiceClient) -> None:
    ids_ = emu.billing_ids("org_seats", "gate-user")  # created by the gate's own path
    account = ids_["billing_account_id"]
    client.billing_accounts.update(billing_account_id=account, seat_limit=2)
    member = client.billing_accounts.create_user(billing_account_id=account, user_id="member", email="m@example.com")
    assert member.data.billing_account_id == account
    same = client.billing_accounts.create_user(billing_account_id=account, user_id="gate-user").data
    assert same.billing_user_id == ids_["billing_user_id"]
    client.billing_users.disable(billing_user_id=member.data.billing_user_id)
    seats = client.billing_accounts.get_seat_summary(billing_account_id=account).data
    assert (seats.active_user_count, seats.disabled_user_count, seats.available_seats) == (1, 1, 1)
    # The gate sees the same account: a user created through the management API is the gate's runtime user.
    assert emu.billing_ids("org_seats", "member")["billing_user_id"] == member.data.billing_user_id
    users = client.billing_accounts.list_users(billing_account_id=account, status=["disabled"])
    assert ids(users, "user_id") == ["member"]
    with pytest.raises(NotFoundError):
        client.billing_accounts.create_user(billing_account_id="00000000-0000-4000-8000-000000000000", user_id="x")


def test_billing_details_are_stored_and_an_empty_change_refused(emu: Emulator, client: ServiceClient) -> None:
    account = emu.billing_ids("org_details")["billing_account_id"]
    with pytest.raises(InvalidRequestError, match="no billing details updates provided"):
        client.billing_accounts.update_billing_details(billing_account_id=account)
    client.billing_accounts.update_billing_details(billing_account_id=account, legal_name="  ACME Ltd ")
    details = client.billing_accounts.update_billing_details(billing_account_id=account, billing_email="b@x.io").data
    assert (details.legal_name, details.billing_email, details.last_updated_by) == ("ACME Ltd", "b@x.io", "ops")
    listed = client.billing_accounts.list(billing_account_id=[account], expand=["billing_details"])
    assert [a.billing_account_id for a in listed.auto_paging_iter()] == [account]


def test_dat_sessions_carry_the_bootstrap_subject(emu: Emulator, client: ServiceClient) -> None:
    made = client.dat.create_bootstrap_token(
        subject_id="agent-7", allowed_realms=[emu.realm_id], granted_scopes=["mcp:read"]
    ).data
    session = client.dat.issue_session(bearer_token=made.token, requested_scopes=["mcp:read"]).data
    assert (session.subject_id, session.granted_scopes) == ("agent-7", ["mcp:read"])
    seen = client.dat.introspect_session(bearer_token=made.token, access_token=session.access_token).data
    assert (seen.valid, seen.subject_id) == (True, "agent-7")
    assert client.dat.revoke_session(bearer_token=made.token, access_token=session.access_token).data.revoked
    assert not client.dat.introspect_session(bearer_token=made.token, access_token=session.access_token).data.valid
    assert client.dat.revoke_bootstrap_token(token_id=made.token_id).data.revoked is True
    assert client.dat.revoke_bootstrap_token(token_id=made.token_id).data.revoked is False


def _dsl(feature: str, meter: str, quantity: int = 1) -> dict[str, Any]:
    intent = {"feature_code": feature, "meters": [{"meter_code": meter, "quantity_minor": quantity}]}
    return {"dsl_version": "v1", "engine": "single", "match": {"event_type": "x"}, "emit": {"intents": [intent]}}


def test_rating_versions_are_checked_and_immutable(client: ServiceClient) -> None:
    client.feature_families.upsert(feature_family_code="fam.r", name="R")
    client.features.upsert(
        feature_code="f.r",
        feature_family_code="fam.r",
        name="R",
        meters=[{"meter_code": "done", "semantic_kind": "outcome"}],
    )
    client.meters.upsert(meter_code="busy", semantic_kind="activity", unit="calls")
    checked = client.rating_policies.validate_version(dsl_json=_dsl("f.r", "busy")).data
    assert checked.valid is False
    assert {e.code for e in checked.errors} == {"meter_semantic_kind_invalid", "feature_meter_unmapped"}
    assert client.rating_policies.validate_version(dsl_json=_dsl("f.r", "done")).data.valid is True
    pid = client.rating_policies.upsert(policy_id="erp-1", name="E").data.policy_id
    first = client.rating_policies.create_version(
        policy_id=pid, policy_version="v1", effective_at=STAMP, dsl_json=_dsl("f.r", "done")
    ).data
    again = client.rating_policies.create_version(
        policy_id=pid, policy_version="v1", effective_at=STAMP, dsl_json=_dsl("f.r", "done")
    ).data
    assert again.dsl_hash == first.dsl_hash
    with pytest.raises(ConflictError):
        client.rating_policies.create_version(
            policy_id=pid, policy_version="v1", effective_at=STAMP, dsl_json=_dsl("f.r", "done", 2)
        )
    with pytest.raises(InvalidRequestError, match="dsl_json invalid"):
        client.rating_policies.create_version(
            policy_id=pid, policy_version="v2", effective_at=STAMP, dsl_json=_dsl("f.r", "nope")
        )


def test_the_public_catalog_is_the_ops_catalog(emu: Emulator, client: ServiceClient) -> None:
    account: Account = {"billing_account_id": emu.billing_ids("org_shop")["billing_account_id"]}
    product = client.ops.create_catalog_product(
        product_code="credits", provider="stripe", provider_product_id="prod_1", kind="credit", status="active",
        name="Credits", default_currency="USD", **account,
    ).data  # fmt: skip
    pid = product.catalog_product_id
    public = [p.catalog_product_id for p in client.catalog.list_products(limit=200, **account).auto_paging_iter()]
    assert pid in public
    assert len(public) == 4  # the three seeded products and this one
    client.ops.delete_catalog_product(catalog_product_id=pid, **account)
    assert client.ops.get_catalog_product(catalog_product_id=pid, **account).data.status == "archived"
    public = [p.catalog_product_id for p in client.catalog.list_products(limit=200, **account).auto_paging_iter()]
    assert pid not in public


def test_contract_terms_latest_is_read_like_javascript_boolean(emu: Emulator, client: ServiceClient) -> None:
    account: Account = {"billing_account_id": emu.billing_ids("org_terms")["billing_account_id"]}
    contract = client.contracts.upsert(effective_at=STAMP, **account).data.contract_id
    for when, value in (
        ("2026-01-01T00:00:00.000Z", 1),
        ("2026-02-01T00:00:00.000Z", 2),
        ("2999-01-01T00:00:00.000Z", 3),
    ):
        client.contracts.upsert_term(
            contract_id=contract, kind="e2r_param", term_key="rate", effective_at=when, value_json=value, **account
        )
    every = client.contracts.list_terms(contract_id=contract, **account).data.items or []
    assert [t.value_json for t in every] == [3, 2, 1]  # the server's order: term_key, then latest first
    latest = client.contracts.list_terms(contract_id=contract, latest=True, **account).data.items or []
    assert [t.value_json for t in latest] == [2]
    back = (
        client.contracts.list_terms(
            contract_id=contract, latest=True, as_of="2026-01-15T00:00:00.000Z", **account
        ).data.items
        or []
    )
    assert [t.value_json for t in back] == [1]
    # As on the server, `latest=false` is a non-empty string, hence true.
    wire = Wire(emu)
    try:
        path = f"/mgt/v1/contracts/{contract}/terms?latest=false"
        answer = wire.svc(
            "GET", path, principal=None, user=None, headers={"X-Billing-Account-Id": account["billing_account_id"]}
        )
        assert [t["value_json"] for t in answer.json()["data"]["items"]] == [2]
    finally:
        wire.close()
