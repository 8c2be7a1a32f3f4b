"""Budgets, the wallet, consent, and what comes from the payment provider (checkout, portal, invoices...)."""

from __future__ import annotations

import os
from typing import Any, Dict

import pytest

from vluna_client import BearerClient, ConflictError, InvalidRequestError, ServiceClient

from ._support import covers, fresh, slug
from .conftest import Customer

# Checkout and portal sessions need the realm's payment provider (Stripe test mode) set up on the deployment.
PAYMENTS = os.environ.get("VLUNA_E2E_PAYMENTS") == "1"
needs_payments = pytest.mark.skipif(
    not PAYMENTS, reason="set VLUNA_E2E_PAYMENTS=1 when the realm has a payment provider (Stripe test mode)"
)


@covers(
    "service budgets.create",
    "service budgets.get",
    "service budgets.list",
    "service budgets.close",
    "bearer budgets.create",
    "bearer budgets.get",
    "bearer budgets.list",
    "bearer budgets.close",
)
def test_budgets_on_both_surfaces(service: ServiceClient, bearer: BearerClient, customer: Customer) -> None:
    mine = service.budgets.create(name=fresh("svc-budget"), limit_xusd=1000, **customer.who).data
    theirs = bearer.budgets.create(name=fresh("user-budget"), limit_xusd=2000).data
    assert service.budgets.get(budget_id=theirs.budget_id, **customer.who).data.budget_id == theirs.budget_id
    assert bearer.budgets.get(budget_id=mine.budget_id).data.budget_id == mine.budget_id
    ids = {mine.budget_id, theirs.budget_id}
    assert ids <= {b.budget_id for b in service.budgets.list(limit=200, **customer.who).auto_paging_iter()}
    assert ids <= {b.budget_id for b in bearer.budgets.list(limit=200).auto_paging_iter()}
    assert (
        service.budgets.close(budget_id=mine.budget_id, reason="e2e", **customer.who).data.budget_id == mine.budget_id
    )
    assert bearer.budgets.close(budget_id=theirs.budget_id).data.budget_id == theirs.budget_id
    assert bearer.budgets.get(budget_id=mine.budget_id).data.status == "closed"
    assert service.budgets.get(budget_id=theirs.budget_id, **customer.who).data.status == "closed"


@covers("service budgets.create")
def test_budget_key_reused_with_another_body_conflicts(service: ServiceClient, customer: Customer) -> None:
    key = fresh("key")
    service.budgets.create(name="first", limit_xusd=1, idempotency_key=key, **customer.who)
    with pytest.raises(ConflictError):
        service.budgets.create(name="second", limit_xusd=1, idempotency_key=key, **customer.who)


@covers("service wallet.adjust", "service wallet.consume", "service wallet.get_balance")
def test_wallet_adjust_then_consume(service: ServiceClient) -> None:
    from .conftest import register

    customer = register(service, "wallet")
    before = int(service.wallet.adjust(delta="5000", unit="xusd", reason_code="e2e", **customer.who).data.balance)
    after = service.wallet.consume(amount=1200, unit="xusd", source_ref=slug("e2e"), **customer.who).data
    assert int(after.balance) == before - 1200
    balance = service.wallet.get_balance(**customer.who).data
    assert balance.billing_user_id == customer.billing_user_id


@covers("service wallet.adjust")
def test_zero_adjustment_is_refused(service: ServiceClient, customer: Customer) -> None:
    with pytest.raises(InvalidRequestError):
        service.wallet.adjust(delta="0", unit="xusd", **customer.who)


@covers("bearer consent.record")
def test_consent_is_echoed_as_saved(bearer: BearerClient) -> None:
    saved = bearer.consent.record(body={"terms_version": "e2e-1", "accepted": True}).data
    assert saved.saved is True


def _provider_view(client: Any, area: str, lister: str, getter: str, id_field: str, **bindings: str) -> None:
    listed = list(getattr(getattr(client, area), lister)(**bindings).data)
    if not listed:
        pytest.skip(f"no {area} on this deployment for a fresh customer (they come from the payment provider)")
    first = getattr(listed[0], id_field)
    assert getattr(getattr(getattr(client, area), getter)(**{id_field: first}, **bindings).data, id_field) == first


PROVIDER_AREAS = [("invoices", "invoice_id"), ("payments", "payment_id"), ("subscriptions", "subscription_id")]


@pytest.mark.parametrize(("area", "id_field"), PROVIDER_AREAS)
@pytest.mark.parametrize("surface", ["service", "bearer"])
def test_provider_views_list_and_read_back(
    service: ServiceClient,
    bearer: BearerClient,
    customer: Customer,
    area: str,
    id_field: str,
    surface: str,
    request: pytest.FixtureRequest,
) -> None:
    request.applymarker(pytest.mark.covers(f"{surface} {area}.list"))
    if surface == "service":
        _provider_view(service, area, "list", "get", id_field, billing_account_id=customer.billing_account_id)
    else:
        _provider_view(bearer, area, "list", "get", id_field, billing_account_id=customer.billing_account_id)


ITEM = {"catalog_price_id": "00000000-0000-4000-8000-000000000000", "quantity": 1}


@needs_payments
@covers("service checkout.create_session", "bearer checkout.create_session")
def test_checkout_sessions(service: ServiceClient, bearer: BearerClient, customer: Customer) -> None:
    urls: Dict[str, Any] = {"success_url": "https://example.com/ok", "cancel_url": "https://example.com/cancel"}
    for session in (
        service.checkout.create_session(items=[ITEM], billing_account_id=customer.billing_account_id, **urls).data,
        bearer.checkout.create_session(items=[ITEM], **urls).data,
    ):
        assert session.checkout_url.startswith("https://")


@needs_payments
@covers("service portal.create_session", "bearer portal.create_session")
def test_portal_sessions(service: ServiceClient, bearer: BearerClient, customer: Customer) -> None:
    back = "https://example.com/back"
    for session in (
        service.portal.create_session(return_url=back, billing_account_id=customer.billing_account_id).data,
        bearer.portal.create_session(return_url=back).data,
    ):
        assert session.portal_url.startswith("https://")
