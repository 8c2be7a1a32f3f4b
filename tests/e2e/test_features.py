"""Feature families, features and meters: create, read back, change, list, delete; refusals the server checks."""

from __future__ import annotations

import pytest

from vluna_client import InvalidRequestError, NotFoundError, ServiceClient

from ._support import covers, slug


@covers(
    "service feature_families.upsert",
    "service feature_families.get",
    "service feature_families.list",
    "service feature_families.update",
    "service feature_families.delete",
)
def test_feature_family_lifecycle(service: ServiceClient) -> None:
    code = slug("fam")
    family = service.feature_families.upsert(feature_family_code=code, name="E2E family").data
    assert family.feature_family_code == code
    fid = family.feature_family_id
    assert service.feature_families.get(feature_family_id=fid).data.name == "E2E family"
    listed = [f.feature_family_id for f in service.feature_families.list(q=code).auto_paging_iter()]
    assert fid in listed
    assert service.feature_families.update(feature_family_id=fid, name="Renamed").data.name == "Renamed"
    assert service.feature_families.get(feature_family_id=fid).data.name == "Renamed"
    deleted = service.feature_families.delete(feature_family_id=fid).data
    assert deleted.deleted or deleted.soft_deleted


@covers(
    "service features.upsert",
    "service features.get",
    "service features.list",
    "service features.list_needs_config",
    "service features.update",
    "service features.delete",
)
def test_feature_lifecycle_with_its_meter(service: ServiceClient) -> None:
    family = service.feature_families.upsert(feature_family_code=slug("fam"), name="E2E family").data
    code, meter_code = slug("feat"), slug("meter")
    feature = service.features.upsert(
        feature_code=code,
        feature_family_code=family.feature_family_code,
        name="E2E feature",
        unit="tokens",
        meters=[{"meter_code": meter_code, "unit": "tokens", "semantic_kind": "outcome"}],
    ).data
    assert feature.feature_code == code
    fid = feature.feature_id
    assert service.features.get(feature_id=fid).data.feature_code == code
    assert fid in [f.feature_id for f in service.features.list(q=code).auto_paging_iter()]
    # Without a price the new feature needs configuration.
    needs = {f.feature_id for f in service.features.list_needs_config().auto_paging_iter()}
    assert fid in needs
    assert service.features.update(feature_id=fid, name="Renamed").data.name == "Renamed"
    assert service.features.get(feature_id=fid).data.name == "Renamed"
    deleted = service.features.delete(feature_id=fid).data
    assert deleted.deleted or deleted.soft_deleted


@covers("service features.upsert", "service meters.list")
def test_feature_upsert_links_its_family_and_meters(service: ServiceClient) -> None:
    family = service.feature_families.upsert(feature_family_code=slug("fam"), name="E2E family").data
    code, meter_code = slug("feat"), slug("meter")
    feature = service.features.upsert(
        feature_code=code,
        feature_family_code=family.feature_family_code,
        name="E2E feature",
        meters=[{"meter_code": meter_code, "unit": "tokens", "semantic_kind": "activity"}],
    ).data
    assert feature.feature_family_id == family.feature_family_id
    assert meter_code in [m.meter_code for m in service.meters.list(feature_code=code).auto_paging_iter()]


@covers("service features.upsert")
def test_feature_in_an_unknown_family_is_refused(service: ServiceClient) -> None:
    with pytest.raises((NotFoundError, InvalidRequestError)):
        service.features.upsert(feature_code=slug("feat"), feature_family_code=slug("nofam"), name="x")


@covers("service meters.upsert", "service meters.get", "service meters.update", "service meters.list")
def test_meter_lifecycle(service: ServiceClient) -> None:
    code = slug("meter")
    meter = service.meters.upsert(meter_code=code, unit="calls", scale=0, semantic_kind="activity").data
    assert (meter.meter_code, meter.unit) == (code, "calls")
    assert service.meters.get(meter_id=meter.meter_id).data.meter_code == code
    assert meter.meter_id in [m.meter_id for m in service.meters.list(q=code).auto_paging_iter()]
    assert service.meters.update(meter_id=meter.meter_id, unit="requests").data.unit == "requests"
    assert service.meters.get(meter_id=meter.meter_id).data.unit == "requests"


@covers("service meters.upsert")
def test_meter_with_an_unknown_feature_is_refused(service: ServiceClient) -> None:
    with pytest.raises((NotFoundError, InvalidRequestError)):
        service.meters.upsert(meter_code=slug("meter"), feature_code=slug("nofeat"), unit="calls")
