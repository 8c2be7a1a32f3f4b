"""The suite covers exactly the operations the server serves: a new operation fails here until a test covers it."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import pytest

from ._support import NOT_SERVED, SERVED, covered_by

pytestmark = pytest.mark.offline

MODULES = sorted(
    f"{__package__}.{info.name}"
    for info in pkgutil.iter_modules([str(Path(__file__).parent)])
    if info.name.startswith("test_") and info.name != "test_coverage"
)


def _declared() -> dict[str, list[str]]:
    found = covered_by(MODULES)
    # Parametrized tests declare their operations per case, from these tables.
    from .test_money import PROVIDER_AREAS
    from .test_ops_catalog import OPS_VIEWS
    from .test_unknown_ids import BY_ID

    for param in BY_ID:  # operation names
        found.setdefault(param, []).append("test_unknown_ids.test_unknown_id_is_not_found")
    for lister, _getter, _field in OPS_VIEWS:
        found.setdefault(f"service ops.{lister}", []).append("test_ops_catalog.test_ops_views_list_and_read_back")
    for area, _field in PROVIDER_AREAS:
        for surface in ("service", "bearer"):
            found.setdefault(f"{surface} {area}.list", []).append("test_money.test_provider_views_list_and_read_back")
    return found


def test_every_served_operation_is_covered_and_nothing_else() -> None:
    declared = _declared()
    assert sorted(set(SERVED) - set(declared)) == [], "served operations no e2e test covers"
    assert sorted(set(declared) - set(SERVED)) == [], "covered operations that are not served"
    assert len(SERVED) == 138


def test_not_served_operations_are_left_out() -> None:
    assert not set(NOT_SERVED) & set(_declared())
    assert len(NOT_SERVED) == 26
