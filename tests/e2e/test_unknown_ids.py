"""Every served operation that names a resource in its path refuses an id nobody created with a typed 404."""

from __future__ import annotations

import uuid
from typing import Any, Dict

import pytest

from support.operation_calls import Examples, Row, call_with, operation_of, spec_of
from vluna_client import BearerClient, NotFoundError, ServiceClient

from ._support import SERVED, op_name
from .conftest import Customer, OutcomeFeature
from .test_policies import rating_dsl

# Operations that answer an unknown id without a 404, and what they do instead (both targets agree).
NOT_A_404 = {
    "service dat.revoke_bootstrap_token": "revoking is idempotent: revoked=false",
    "service plans.list_entitlements": "an unknown plan lists no entitlements",
    "service policy_bundles.list_policies": "an unknown bundle lists no policies",
}
BY_ID = [name for name in sorted(SERVED) if operation_of(SERVED[name]).path_params and name not in NOT_A_404]


def _unknown(examples: Examples, name: str, schema: Dict[str, Any]) -> Any:
    # Ids are UUIDs unless the spec gives them a shape of their own (slugs, version labels).
    if schema.get("pattern") or "integer" in str(schema.get("type")):
        return examples.value(schema, name)
    return str(uuid.uuid4())


def _call(client: Any, row: Row, customer: Customer, outcome_feature: OutcomeFeature) -> Any:
    examples = Examples({})
    values = {name: _unknown(examples, name, schema) for name, schema in spec_of(row)["path_params"].items()}
    method = getattr(getattr(client, row[1]), row[2])
    # A valid document for the version routes, so only the unknown policy is wrong.
    extra = {"dsl_json": rating_dsl(outcome_feature)} if row[2] == "create_version" else {}
    bindings: Dict[str, Any] = dict(customer.who)
    if "billing_account_id" not in values:
        bindings["billing_account_id"] = customer.billing_account_id
    return call_with(method, row, examples, path_values=values, bindings=bindings, extra=extra)


@pytest.mark.parametrize("name", BY_ID, ids=str)
def test_unknown_id_is_not_found(
    service: ServiceClient,
    bearer: BearerClient,
    customer: Customer,
    outcome_feature: OutcomeFeature,
    name: str,
    request: pytest.FixtureRequest,
) -> None:
    request.applymarker(pytest.mark.covers(name))
    row = SERVED[name]
    with pytest.raises(NotFoundError) as caught:
        _call(service if row[0] == "service" else bearer, row, customer, outcome_feature)
    assert caught.value.status == 404
    assert caught.value.may_have_applied is False


@pytest.mark.offline
def test_the_exceptions_are_served_operations() -> None:
    assert set(NOT_A_404) <= set(SERVED)
    assert all(op_name(SERVED[name]) == name for name in NOT_A_404)
