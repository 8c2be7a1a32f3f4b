"""The shipped spec data is checked against its declared shape (``_spec_data.spec_types``) when it loads."""

from __future__ import annotations

import copy
import json
from typing import Any, Callable, Dict

import pytest

from vluna_client.testing._spec_data import load
from vluna_client.testing._spec_data.spec_types import EmulatorOperation, SpecDataError, checked


def _fresh() -> Dict[str, Any]:
    data: Dict[str, Any] = json.loads(json.dumps(load()))
    return data


def test_the_shipped_data_has_the_declared_shape() -> None:
    data = _fresh()
    assert checked(data) is data
    assert len(load()["operations"]) > 100
    kinds = {op["kind"] for op in load()["operations"]}
    assert {"list", "create", "get", "call"} <= kinds


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda op: op.pop("kind"), "missing fields ['kind']"),
        (lambda op: op.__setitem__("extra", 1), "unexpected fields ['extra']"),
        (lambda op: op.__setitem__("auth", "basic"), ".auth: 'basic' is not"),
        (lambda op: op.__setitem__("pagination", "pages"), ".pagination: 'pages' is not"),
        (lambda op: op.__setitem__("status", True), ".status: True is not"),
        (lambda op: op.__setitem__("key_params", ["a", 2]), ".key_params[1]: 2 is not"),
        (lambda op: op.__setitem__("family", 7), ".family: 7 is not"),
        (lambda op: op.__setitem__("body", []), ".body: [] is not"),
        (lambda op: op["query"].__setitem__("limit", "int"), ".query.limit: expected an object"),
    ],
)
def test_a_stale_or_edited_operation_is_refused_naming_the_field(
    change: Callable[[Dict[str, Any]], object], named: str
) -> None:
    data = _fresh()
    change(data["operations"][3])
    with pytest.raises(SpecDataError) as caught:
        checked(data)
    assert str(caught.value).startswith("operations.json.operations[3]")
    assert named in str(caught.value)


def test_schemas_must_be_objects_and_the_top_level_exact() -> None:
    data = _fresh()
    data["schemas"]["Broken"] = "not a schema"
    with pytest.raises(SpecDataError, match=r"schemas\.Broken: expected an object"):
        checked(data)
    with pytest.raises(SpecDataError, match="missing fields"):
        checked({"operations": []})
    with pytest.raises(SpecDataError, match="expected an object"):
        checked([])


def test_the_check_does_not_change_what_it_reads() -> None:
    data = _fresh()
    before = copy.deepcopy(data)
    checked(data)
    assert data == before


def test_an_operation_reads_with_its_declared_types() -> None:
    ops: Dict[str, EmulatorOperation] = {op["operation_id"]: op for op in load()["operations"]}
    listing = next(op for op in ops.values() if op["kind"] == "list" and op["family"])
    assert listing["method"] == "GET"
    assert isinstance(listing["key_params"], list)
    assert listing["pagination"] in (None, "items", "meta")


def test_the_generator_writes_with_the_same_declarations() -> None:
    pytest.importorskip("yaml")  # the generator reads the YAML specs
    from support import codegen_tools
    from vluna_client.testing._spec_data import spec_types

    emulator_spec = codegen_tools.load("emulator_spec")
    assert emulator_spec.EmulatorData is spec_types.EmulatorData
    assert emulator_spec.EmulatorOperation is spec_types.EmulatorOperation
    assert emulator_spec.EmulatorRoute is spec_types.EmulatorRoute
