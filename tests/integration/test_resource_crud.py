"""Each spec-driven resource family behaves like a store: create -> get -> list (two pages) -> update -> delete."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional

import pytest

import vluna_client
from support.operation_calls import SPEC, Row, call_with, operation_of, rows, spec_of
from support.operation_walk import WHO, Walk
from vluna_client.testing import Emulator

# Families the server lists newest first.
NEWEST_FIRST = {"/budgets/{budget_id}"}
HAND_MODELLED = {
    "/mgt/v1/gate/authorize",
    "/mgt/v1/gate/commits",
    "/mgt/v1/gate/ingest",
    "/mgt/v1/catalog/products",
    "/api/v1/catalog/products",
}


def _rows_by_kind(family: str) -> Dict[str, Row]:
    found: Dict[str, Row] = {}
    for row in rows():
        spec = spec_of(row)
        if spec["family"] != family or spec["not_served"] or row[6] in HAND_MODELLED:
            continue
        kind = spec["kind"]
        if kind == "list" and spec["parent_params"] != _collection_parents(family):
            continue  # e.g. /gate/policy-bundles/{id}/policies: another view of the family
        current = found.get(kind)
        if current is None or (row[0] == "service" and current[0] != "service"):
            found[kind] = row
    return found


def _collection_parents(family: str) -> List[str]:
    return next(op["parent_params"] for op in SPEC.values() if op["family"] == family and op["kind"] == "create")


FAMILIES = sorted(
    {
        spec["family"]
        for spec in SPEC.values()
        if spec["kind"] == "create"
        and spec["family"] is not None
        and not spec["not_served"]
        and spec["path"] not in HAND_MODELLED
    }
)


@pytest.fixture
def walk(emu: Emulator) -> Iterator[Walk]:
    walker = Walk(emu)
    try:
        yield walker
    finally:
        walker.close()


def _update_field(row: Row) -> Optional[str]:
    body = operation_of(row).body_schema or {}
    for name, schema in body.get("properties", {}).items():
        if (
            schema.get("type") in (["string"], ["string", "null"])
            and not schema.get("pattern")
            and "enum" not in schema
        ) and name in ("name", "description", "display_name", "note"):
            return name
    return None


@pytest.mark.parametrize("family", FAMILIES)
def test_resource_family_lifecycle(walk: Walk, family: str) -> None:
    ops = _rows_by_kind(family)
    assert "create" in ops, sorted(ops)
    assert "list" in ops, sorted(ops)
    create = ops["create"]
    id_field = spec_of(create)["id_field"]
    created: List[Any] = []
    walk.prepare(create)
    for _ in range(3):
        data = walk.call(create).data
        created.append(getattr(data, id_field) if id_field else data)
    if id_field:
        assert len(set(created)) == 3

    if "get" in ops:
        walk.ids[family] = created[0]
        assert getattr(walk.call(ops["get"]).data, id_field) == created[0]

    listing = ops["list"]
    if operation_of(listing).pagination is not None:
        page = call_with(
            method_for(walk, listing), listing, walk.examples, path_values=walk.path_values(listing), bindings=WHO,
            extra={"limit": 2, **walk.additions(listing)},
        )  # fmt: skip
        assert isinstance(page, vluna_client.Page)
        assert len(page.data) == 2
        assert page.next_cursor
        listed = [*page.data]
        next_page = page.next_page()
        assert next_page is not None
        while next_page is not None:
            assert len(next_page.data) <= 2
            listed += next_page.data
            next_page = next_page.next_page()
    else:
        data = walk.call(listing).data
        listed = list(data.items if hasattr(data, "items") else data)
    if id_field:
        # Some families start with resources of their own (billing users mirror the gate's users).
        ids = [getattr(item, id_field) for item in listed]
        expected = created[::-1] if family in NEWEST_FIRST else created
        assert [i for i in ids if i in created] == expected
    else:
        assert len(listed) == 3

    if "update" in ops:
        walk.ids[family] = created[1]
        field = _update_field(ops["update"])
        additions = {field: "renamed"} if field else {}
        update = ops["update"]
        method = getattr(getattr(walk.service if update[0] == "service" else walk.bearer, update[1]), update[2])
        updated = call_with(
            method, update, walk.examples, path_values=walk.path_values(update), bindings=WHO, extra=additions
        )
        assert getattr(updated.data, id_field) == created[1]
        if field:
            assert getattr(updated.data, field) == "renamed"
        if field and "get" in ops:
            assert getattr(walk.call(ops["get"]).data, field) == "renamed"

    if "delete" in ops:
        walk.ids[family] = created[2]
        deleted = walk.call(ops["delete"]).data
        if getattr(deleted, "archived", False):
            # The server archives catalog entries: they stay readable.
            assert getattr(walk.call(ops["get"]).data, "status", None) == "archived"
            return
        if "get" in ops:
            with pytest.raises(vluna_client.NotFoundError) as caught:
                walk.call(ops["get"])
            assert caught.value.code == "RESOURCE.NOT_FOUND"
        remaining = walk.call(listing).data
        remaining = remaining.items if hasattr(remaining, "items") else remaining
        assert created[2] not in [getattr(item, id_field) for item in remaining]


def method_for(walk: Walk, row: Row) -> Any:
    client = walk.service if row[0] == "service" else walk.bearer
    return getattr(getattr(client, row[1]), row[2])
