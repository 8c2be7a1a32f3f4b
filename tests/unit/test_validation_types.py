"""validate's type matching: the exact-type shortcut agrees with the JSON Schema rules it shortcuts."""

from __future__ import annotations

import enum
from collections import OrderedDict
from types import MappingProxyType
from typing import Any

import attrs
import pytest

from vluna_client import InputValidationError
from vluna_client._validation import validate


class Level(enum.IntEnum):
    LOW = 1


class Text(str):
    pass


@attrs.frozen
class Point:
    x: int


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (True, "integer"),
        (False, "number"),
        (1, "string"),
        ("1", "integer"),
        ([], "object"),
        ({}, "array"),
        (1.5, "integer"),
        (None, "string"),
    ],
)
def test_a_value_of_another_json_type_is_refused(value: Any, kind: str) -> None:
    with pytest.raises(InputValidationError):
        validate(value, {"type": [kind]}, "field")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (Level.LOW, "integer"),
        (Text("a"), "string"),
        (OrderedDict(a=1), "object"),
        (MappingProxyType({"a": 1}), "object"),
        ((1, 2), "array"),
        (3, "number"),
        (True, "boolean"),
    ],
)
def test_subclasses_and_other_mappings_still_match(value: Any, kind: str) -> None:
    expected = list(value) if isinstance(value, tuple) else value  # an array travels as a list
    assert validate(value, {"type": [kind]}, "field") == expected


def test_nullable_and_multi_type_schemas() -> None:
    assert validate(None, {"type": ["string", "null"]}, "f") is None
    assert validate(2, {"type": ["string", "integer"]}, "f") == 2
    with pytest.raises(InputValidationError, match="expected string or integer"):
        validate(2.5, {"type": ["string", "integer"]}, "f")


def test_an_attrs_model_becomes_its_dict_and_keys_are_checked() -> None:
    assert validate(Point(1), {"type": ["object"], "properties": {"x": {"type": ["integer"]}}}, "") == {"x": 1}
    with pytest.raises(InputValidationError, match="lone surrogate"):
        validate({"caf\udce9": 1}, {"type": ["object"]}, "labels")
    assert validate({"café": 1}, {"type": ["object"]}, "labels") == {"café": 1}
