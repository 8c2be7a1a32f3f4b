"""Gate policy bundles and policies, and event rating policies with their versions."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict

import pytest

from vluna_client import ConflictError, InvalidRequestError, NotFoundError, ServiceClient

from ._support import covers, slug
from .conftest import OutcomeFeature

NOW = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@covers(
    "service policy_bundles.upsert",
    "service policy_bundles.get",
    "service policy_bundles.list",
    "service policy_bundles.update",
    "service policy_bundles.list_policies",
    "service policy_bundles.delete",
    "service gate_policies.create",
    "service gate_policies.get",
    "service gate_policies.list",
    "service gate_policies.update",
    "service gate_policies.delete",
)
def test_bundle_with_a_quota_policy(service: ServiceClient, outcome_feature: OutcomeFeature) -> None:
    key = slug("bundle")
    bundle = service.policy_bundles.upsert(bundle_key=key, name="E2E bundle").data
    bid = bundle.bundle_id
    assert bundle.bundle_key == key
    assert service.policy_bundles.get(bundle_id=bid).data.name == "E2E bundle"
    assert bid in [b.bundle_id for b in service.policy_bundles.list().auto_paging_iter()]
    assert service.policy_bundles.update(bundle_id=bid, name="Renamed").data.name == "Renamed"
    assert service.policy_bundles.get(bundle_id=bid).data.name == "Renamed"

    policy = service.gate_policies.create(
        bundle_id=bid,
        name="E2E quota",
        feature_code=outcome_feature.feature_code,
        kind="quota",
        subject_scope="user",
        unit="items",
        window_sec=3600,
        limit_minor="100",
    ).data
    pid = policy.policy_id
    assert (policy.bundle_id, policy.kind) == (bid, "quota")
    assert service.gate_policies.get(policy_id=pid).data.name == "E2E quota"
    assert [p.policy_id for p in service.gate_policies.list(bundle_id=bid).auto_paging_iter()] == [pid]
    assert [p.policy_id for p in service.policy_bundles.list_policies(bundle_id=bid).auto_paging_iter()] == [pid]
    assert service.gate_policies.update(policy_id=pid, name="Renamed").data.name == "Renamed"
    assert service.gate_policies.get(policy_id=pid).data.name == "Renamed"

    assert service.gate_policies.delete(policy_id=pid).data.deleted is True
    with pytest.raises(NotFoundError):
        service.gate_policies.get(policy_id=pid)
    assert service.policy_bundles.delete(bundle_id=bid).data.deleted is True
    with pytest.raises(NotFoundError):
        service.policy_bundles.get(bundle_id=bid)


@covers("service gate_policies.create")
def test_policy_in_an_unknown_bundle_is_refused(service: ServiceClient, outcome_feature: OutcomeFeature) -> None:
    with pytest.raises((NotFoundError, InvalidRequestError)):
        service.gate_policies.create(
            bundle_key=slug("nobundle"),
            name="E2E quota",
            feature_code=outcome_feature.feature_code,
            kind="quota",
            subject_scope="user",
            unit="items",
            window_sec=3600,
            limit_minor="100",
        )


def rating_dsl(feature: OutcomeFeature, quantity: int = 1) -> Dict[str, Any]:
    """A valid one-intent rating DSL document for ``feature``'s outcome meter."""
    intent = {
        "feature_code": feature.feature_code,
        "meters": [{"meter_code": feature.meter_code, "quantity_minor": quantity}],
    }
    return {"dsl_version": "v1", "engine": "single", "match": {"event_type": "e2e.done"}, "emit": {"intents": [intent]}}


@covers(
    "service rating_policies.upsert",
    "service rating_policies.get",
    "service rating_policies.list",
    "service rating_policies.update",
    "service rating_policies.validate_version",
    "service rating_policies.create_version",
    "service rating_policies.get_version",
    "service rating_policies.list_versions",
    "service rating_policies.update_version",
    "service rating_policies.delete_version",
    "service rating_policies.delete",
)
def test_rating_policy_with_versions(service: ServiceClient, outcome_feature: OutcomeFeature) -> None:
    pid = slug("erp")
    policy = service.rating_policies.upsert(policy_id=pid, name="E2E rating").data
    assert policy.policy_id == pid
    assert service.rating_policies.get(policy_id=pid).data.name == "E2E rating"
    assert pid in [p.policy_id for p in service.rating_policies.list().auto_paging_iter()]
    assert service.rating_policies.update(policy_id=pid, name="Renamed").data.name == "Renamed"
    assert service.rating_policies.get(policy_id=pid).data.name == "Renamed"

    checked = service.rating_policies.validate_version(dsl_json=rating_dsl(outcome_feature)).data
    assert (checked.valid, checked.errors) == (True, [])
    version = service.rating_policies.create_version(
        policy_id=pid, policy_version="v1", effective_at=NOW, dsl_json=rating_dsl(outcome_feature), status="draft"
    ).data
    assert (version.policy_version, version.status) == ("v1", "draft")
    assert service.rating_policies.get_version(policy_id=pid, policy_version="v1").data.dsl_hash == version.dsl_hash
    assert [v.policy_version for v in service.rating_policies.list_versions(policy_id=pid).auto_paging_iter()] == ["v1"]
    changed = service.rating_policies.update_version(
        policy_id=pid, policy_version="v1", dsl_json=rating_dsl(outcome_feature, quantity=2)
    ).data
    assert changed.dsl_json == rating_dsl(outcome_feature, quantity=2)
    assert service.rating_policies.get_version(policy_id=pid, policy_version="v1").data.dsl_json == changed.dsl_json

    assert service.rating_policies.delete_version(policy_id=pid, policy_version="v1").data.deleted is True
    with pytest.raises(NotFoundError):
        service.rating_policies.get_version(policy_id=pid, policy_version="v1")
    service.rating_policies.update(policy_id=pid, status="disabled")
    assert service.rating_policies.delete(policy_id=pid).data.deleted is True
    with pytest.raises(NotFoundError):
        service.rating_policies.get(policy_id=pid)


@covers("service rating_policies.validate_version", "service rating_policies.create_version")
def test_rating_dsl_naming_unknown_meters_is_reported_and_refused(
    service: ServiceClient, outcome_feature: OutcomeFeature
) -> None:
    unknown = OutcomeFeature(outcome_feature.family_code, outcome_feature.feature_code, "", slug("nometer"))
    checked = service.rating_policies.validate_version(dsl_json=rating_dsl(unknown)).data
    assert checked.valid is False
    assert checked.errors
    pid = service.rating_policies.upsert(policy_id=slug("erp"), name="E2E rating").data.policy_id
    with pytest.raises(InvalidRequestError):
        service.rating_policies.create_version(
            policy_id=pid, policy_version="v1", effective_at=NOW, dsl_json=rating_dsl(unknown)
        )


@covers("service rating_policies.create_version")
def test_version_resent_with_another_dsl_conflicts(service: ServiceClient, outcome_feature: OutcomeFeature) -> None:
    pid = service.rating_policies.upsert(policy_id=slug("erp"), name="E2E rating").data.policy_id
    service.rating_policies.create_version(
        policy_id=pid, policy_version="v1", effective_at=NOW, dsl_json=rating_dsl(outcome_feature)
    )
    with pytest.raises(ConflictError):
        service.rating_policies.create_version(
            policy_id=pid, policy_version="v1", effective_at=NOW, dsl_json=rating_dsl(outcome_feature, quantity=3)
        )
