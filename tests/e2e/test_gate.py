"""The usage gate: authorize, commit, cancel, batch commits, ingest and the limit views; tokens and health."""

from __future__ import annotations

import uuid

import pytest

from vluna_client import (
    APIError,
    BearerClient,
    ConflictError,
    InvalidRequestError,
    LeaseError,
    NotFoundError,
    ServiceClient,
)
from vluna_client._generated.models.gate import AuthorizeResponse, BatchCommitResponse, FeatureLimit, MeterLimit

from ._support import Ledger, covers
from .conftest import FEATURE, Customer, bearer_client


@covers("service system.health", "bearer system.health")
def test_health_on_both_surfaces(service: ServiceClient, bearer: BearerClient) -> None:
    assert service.health().data.status == "healthy"
    assert bearer.health().data.status == "healthy"


@covers("service gate.authorize", "service gate.commit")
def test_lease_commits_once(gate: object) -> None:
    with gate.lease(feature_code=FEATURE, estimated_quantity_minor=10) as lease:  # type: ignore[attr-defined]
        result = lease.commit(quantity_minor=10)
        with pytest.raises(LeaseError):
            lease.commit(quantity_minor=10)
    assert int(result.data.amount_xusd) >= 0
    assert result.data.lines


@covers("service gate.authorize", "service gate.cancel")
def test_replayed_authorize_returns_the_same_lease(service: ServiceClient, customer: Customer) -> None:
    key = str(uuid.uuid4())
    first = service.gate.authorize(feature_code=FEATURE, idempotency_key=key, **customer.who).data
    again = service.gate.authorize(feature_code=FEATURE, idempotency_key=key, **customer.who).data
    assert isinstance(first, AuthorizeResponse)
    assert again.lease_token == first.lease_token
    assert service.gate.cancel(lease_token=first.lease_token, **customer.who).data.cancelled is True
    assert service.gate.cancel(lease_token=first.lease_token, **customer.who).data.cancelled is False


@covers("service gate.authorize")
def test_authorize_key_reused_with_another_body_conflicts(service: ServiceClient, customer: Customer) -> None:
    key = str(uuid.uuid4())
    service.gate.authorize(feature_code=FEATURE, estimated_quantity_minor=1, idempotency_key=key, **customer.who)
    with pytest.raises(ConflictError):
        service.gate.authorize(feature_code=FEATURE, estimated_quantity_minor=2, idempotency_key=key, **customer.who)


def test_cancel_on_failure(gate: object) -> None:
    with pytest.raises(RuntimeError), gate.lease(feature_code=FEATURE) as lease:  # type: ignore[attr-defined]
        raise RuntimeError("work failed")
    assert lease.state == "cancelled"


@covers("service gate.commit", "service gate.cancel")
def test_unknown_lease_token_is_refused(service: ServiceClient, customer: Customer) -> None:
    bogus = f"lease-{uuid.uuid4().hex}"
    with pytest.raises((NotFoundError, InvalidRequestError, ConflictError)) as caught:
        service.gate.commit(lease_token=bogus, feature_code=FEATURE, quantity_minor=1, **customer.who)
    assert caught.value.may_have_applied is False
    with pytest.raises(APIError) as cancelled:
        service.gate.cancel(lease_token=bogus, **customer.who)
    assert cancelled.value.status in (400, 404, 409, 422)


@covers("service gate.commit_batch")
def test_batch_commit_charges_each_item(service: ServiceClient, customer: Customer) -> None:
    leases = [service.gate.authorize(feature_code=FEATURE, **customer.who).data for _ in range(2)]
    items = [
        {"lease_token": lease.lease_token, "feature_code": FEATURE, "quantity_minor": "3", "idempotency_key": str(n)}
        for n, lease in enumerate(leases)
    ]
    result = service.gate.commit_batch(items=items, **customer.who).data
    assert isinstance(result, BatchCommitResponse)
    assert (result.committed_count, result.failed_count) == (2, 0)
    assert [item.status for item in result.items] == ["committed", "committed"]


@covers("service gate.authorize", "service gate.commit_batch", "service gate.cancel")
@pytest.mark.known_server_issue("a batch commit charges its items but leaves their leases active")
def test_batch_commit_closes_its_leases(service: ServiceClient, customer: Customer) -> None:
    lease = service.gate.authorize(feature_code=FEATURE, **customer.who).data
    item = {"lease_token": lease.lease_token, "feature_code": FEATURE, "quantity_minor": "1", "idempotency_key": "a"}
    service.gate.commit_batch(items=[item], **customer.who)
    assert service.gate.cancel(lease_token=lease.lease_token, **customer.who).data.cancelled is False


@covers("service gate.commit_batch")
def test_batch_commit_reports_a_bad_item_without_failing_the_others(service: ServiceClient, customer: Customer) -> None:
    lease = service.gate.authorize(feature_code=FEATURE, **customer.who).data
    items = [
        {"lease_token": lease.lease_token, "feature_code": FEATURE, "quantity_minor": "1", "idempotency_key": "ok"},
        {"lease_token": f"nope-{uuid.uuid4().hex}", "feature_code": FEATURE, "quantity_minor": "1",
         "idempotency_key": "bad"},
    ]  # fmt: skip
    result = service.gate.commit_batch(items=items, **customer.who).data
    assert result.committed_count == 1
    assert result.failed_count == 1
    assert result.items[1].status != "committed"


@covers("service gate.ingest")
def test_ingest_charges_without_a_lease(service: ServiceClient, customer: Customer) -> None:
    result = service.gate.ingest(feature_code=FEATURE, quantity_minor=5, **customer.who).data
    assert int(result.amount_xusd) >= 0


@covers("service gate.ingest")
def test_ingest_key_reused_with_another_body_conflicts(service: ServiceClient, customer: Customer) -> None:
    key = str(uuid.uuid4())
    service.gate.ingest(feature_code=FEATURE, quantity_minor=1, idempotency_key=key, **customer.who)
    with pytest.raises(ConflictError):
        service.gate.ingest(feature_code=FEATURE, quantity_minor=2, idempotency_key=key, **customer.who)


@covers("service gate.limits", "service gate.meters")
def test_limit_views_decode(service: ServiceClient, customer: Customer) -> None:
    limits = service.gate.limits(feature_code=[FEATURE], **customer.who).data
    meters = service.gate.meters(feature_code=[FEATURE], **customer.who).data
    assert all(isinstance(item, FeatureLimit) for item in limits)
    assert all(isinstance(item, MeterLimit) for item in meters)


@covers("service token.issue", "bearer wallet.get_balance")
def test_token_then_bearer_balance(service: ServiceClient, customer: Customer, ledger: Ledger) -> None:
    token = service.token.issue(**customer.who).data
    assert token.billing_user_id == customer.billing_user_id
    with bearer_client(token.access_token, ledger) as user:
        assert user.wallet.get_balance().data.billing_user_id == token.billing_user_id


@covers("service token.issue")
def test_token_key_reused_with_another_body_conflicts(service: ServiceClient, customer: Customer) -> None:
    key = str(uuid.uuid4())
    service.token.issue(idempotency_key=key, **customer.who)
    with pytest.raises(ConflictError):
        service.token.issue(principal_id=customer.principal_id, user_id=f"{customer.user_id}-x", idempotency_key=key)
