"""Billing accounts and billing users as the operator manages them."""

from __future__ import annotations

import pytest

from vluna_client import InvalidRequestError, NotFoundError, ServiceClient

from ._support import covers, fresh
from .conftest import Customer, register


@covers(
    "service billing_accounts.list",
    "service billing_accounts.update",
    "service billing_accounts.get_seat_summary",
    "service billing_accounts.update_billing_details",
)
def test_account_seats_and_billing_details(service: ServiceClient) -> None:
    customer = register(service, "acct")
    aid = customer.billing_account_id
    listed = list(service.billing_accounts.list(billing_account_id=[aid]).auto_paging_iter())
    assert [(a.billing_account_id, a.billing_principal_id) for a in listed] == [(aid, customer.principal_id)]
    assert service.billing_accounts.update(billing_account_id=aid, seat_limit=5).data.seat_limit == 5
    seats = service.billing_accounts.get_seat_summary(billing_account_id=aid).data
    assert (seats.seat_limit, seats.active_user_count) == (5, 1)
    details = service.billing_accounts.update_billing_details(
        billing_account_id=aid, legal_name="E2E Ltd", billing_email="billing@example.com"
    ).data
    assert (details.billing_account_id, details.legal_name) == (aid, "E2E Ltd")


@covers("service billing_accounts.update_billing_details")
def test_billing_details_without_changes_are_refused(service: ServiceClient, customer: Customer) -> None:
    with pytest.raises(InvalidRequestError):
        service.billing_accounts.update_billing_details(billing_account_id=customer.billing_account_id)


@covers(
    "service billing_accounts.create_user",
    "service billing_accounts.list_users",
    "service billing_users.get",
    "service billing_users.update",
    "service billing_users.get_summary",
    "service billing_users.get_wallet",
    "service billing_users.disable",
    "service billing_users.restore",
)
def test_user_lifecycle(service: ServiceClient) -> None:
    customer = register(service, "users")
    user_id = fresh("e2e-member")
    user = service.billing_accounts.create_user(
        billing_account_id=customer.billing_account_id, user_id=user_id, display_name="Member"
    ).data
    uid = user.billing_user_id
    assert (user.user_id, user.billing_account_id) == (user_id, customer.billing_account_id)
    members = service.billing_accounts.list_users(billing_account_id=customer.billing_account_id)
    assert {u.user_id for u in members.auto_paging_iter()} == {customer.user_id, user_id}
    assert service.billing_users.get(billing_user_id=uid).data.user_id == user_id
    renamed = service.billing_users.update(billing_user_id=uid, email="member@example.com").data
    assert renamed.email == "member@example.com"
    assert service.billing_users.get(billing_user_id=uid).data.email == "member@example.com"
    summary = service.billing_users.get_summary(billing_user_id=uid).data
    assert summary.user.billing_user_id == uid
    wallet = service.billing_users.get_wallet(billing_user_id=uid).data
    assert (wallet.billing_user_id, wallet.billing_account_id) == (uid, customer.billing_account_id)
    assert service.billing_users.disable(billing_user_id=uid).data.status == "disabled"
    assert service.billing_users.get(billing_user_id=uid).data.status == "disabled"
    assert service.billing_users.restore(billing_user_id=uid).data.status == "active"


@covers("service billing_accounts.create_user")
def test_adding_an_existing_user_returns_that_user(service: ServiceClient, customer: Customer) -> None:
    again = service.billing_accounts.create_user(
        billing_account_id=customer.billing_account_id, user_id=customer.user_id
    )
    assert again.data.billing_user_id == customer.billing_user_id


@covers("service billing_accounts.create_user")
def test_user_of_an_unknown_account_is_refused(service: ServiceClient) -> None:
    with pytest.raises(NotFoundError):
        service.billing_accounts.create_user(billing_account_id="00000000-0000-4000-8000-000000000000", user_id="x")
