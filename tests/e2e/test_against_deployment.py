"""The integration scenario against a real deployment: the one the VLUNA_* variables name.

Skipped when they are unset. `nox -s e2e -- --emulator` points them at a local emulator first.
"""

from __future__ import annotations

import os
import uuid

import pytest

from vluna_client import BearerClient, LeaseError, ServiceClient

REQUIRED = (
    "VLUNA_SERVICE_BASE_URL",
    "VLUNA_BEARER_BASE_URL",
    "VLUNA_REALM_ID",
    "VLUNA_SERVICE_KEY_ID",
    "VLUNA_SERVICE_KEY_SECRET",
)
missing = [name for name in REQUIRED if not os.environ.get(name)]
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(missing), reason=f"set {', '.join(missing)} to run against a deployment"),
]
FEATURE = os.environ.get("VLUNA_DEMO_FEATURE", "llm.chat")


@pytest.fixture
def client():
    with ServiceClient.from_env() as c:
        yield c.bind(principal_id=f"e2e-org-{uuid.uuid4().hex[:8]}", user_id="e2e-user")


def test_health(client):
    assert client.health().data.status == "healthy"


def test_gate_loop_commit_once(client):
    with client.lease(feature_code=FEATURE, estimated_quantity_minor=10) as lease:
        result = lease.commit(quantity_minor=10)
        with pytest.raises(LeaseError):
            lease.commit(quantity_minor=10)
    assert int(result.data.amount_xusd) >= 0
    assert result.data.lines


def test_replayed_authorize_returns_the_same_lease(client):
    key = f"e2e-{uuid.uuid4()}"
    first = client.gate.authorize(feature_code=FEATURE, idempotency_key=key).data
    again = client.gate.authorize(feature_code=FEATURE, idempotency_key=key).data
    assert again.lease_token == first.lease_token
    assert client.gate.cancel(lease_token=first.lease_token).data.cancelled is True
    assert client.gate.cancel(lease_token=first.lease_token).data.cancelled is False


def test_cancel_on_failure(client):
    with pytest.raises(RuntimeError), client.lease(feature_code=FEATURE) as lease:
        raise RuntimeError("work failed")
    assert lease.state == "cancelled"


def test_token_then_bearer_balance(client):
    token = client.token.issue(principal_id="e2e-org", user_id="e2e-user").data
    with BearerClient.from_env(access_token=token.access_token) as user:
        assert user.wallet.get_balance().data.billing_user_id == token.billing_user_id
