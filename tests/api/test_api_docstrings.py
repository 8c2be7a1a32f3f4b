"""Docstrings of object and list-of-object arguments say which keys they take."""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

from vluna_client._generated.operations import OPERATIONS


def _object_arguments():
    for client, area, method, module, const, _verb, _path in OPERATIONS:
        op = getattr(importlib.import_module(module), const)
        if op.body_schema is None or op.whole_body:
            continue
        api = getattr(
            importlib.import_module(module),
            "".join(p.capitalize() for p in module.rsplit(".", 1)[1].split("_")) + "Api",
        )
        for wire, schema in (op.body_schema.get("properties") or {}).items():
            node = schema
            if "array" in (node.get("type") or []) and isinstance(node.get("items"), dict):
                node = node["items"]
            if node.get("properties"):
                python = {w: p for p, w in op.renames.items()}.get(wire, wire)
                yield pytest.param(getattr(api, method), python, node, id=f"{client}.{area}.{method}.{wire}")


CASES = list(_object_arguments())


def test_there_are_object_arguments_to_check():
    assert len(CASES) > 20


@pytest.mark.parametrize(("method", "argument", "schema"), CASES)
def test_object_argument_lists_its_keys(method, argument, schema):
    # cleandoc: Python 3.13 strips the indentation of docstrings itself, older versions keep it
    doc = inspect.cleandoc(method.__doc__ or "")
    found = re.search(rf"^ {{4}}{argument}: (.*?)(?=^ {{4}}\w+: |\Z)", doc, re.M | re.S)
    assert found, f"{argument} is not described"
    entry = found.group(1)
    text = " ".join(entry.split())
    for key in schema["properties"]:
        marker = f"``{key}`` (required)" if key in schema.get("required", []) else f"``{key}``"
        assert marker in text, f"{argument}: {marker} missing from {text[:200]!r}"
