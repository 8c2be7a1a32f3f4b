"""The code generator's reading of specs: JSON-pointer refs, validation schema constants and its refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from support import codegen_tools

_resolver = codegen_tools.load("resolver")
_validation = codegen_tools.load("validation")
_render = codegen_tools.load("render")
Resolver, SpecError = _resolver.Resolver, _resolver.SpecError
MAX_DEPTH, SchemaRef, ValidationSchemas = _validation.MAX_DEPTH, _validation.SchemaRef, _validation.ValidationSchemas
render, schema_statement = _render.literal, _render.schema_statement


def resolver_for(tmp_path: Path, **docs: dict) -> Any:
    for name, doc in docs.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return Resolver(spec_dir=tmp_path)


def test_json_pointer_escapes_are_undone_in_refs(tmp_path):
    doc = {
        "paths": {"/mgt/v1/budgets": {"get": {"x-mark": "found"}}},
        "components": {"schemas": {"a~b": {"type": "string", "minLength": 2}}},
    }
    r = resolver_for(tmp_path, spec=doc)
    assert r.ref("#/paths/~1mgt~1v1~1budgets/get", "spec.yaml").schema == {"x-mark": "found"}
    ref = r.ref("#/components/schemas/a~0b", "spec.yaml")
    assert ref.name == "a~b"
    assert ref.schema["minLength"] == 2
    # "~01" is "~1" unescaped once, never "/".
    r2 = resolver_for(tmp_path, other={"components": {"schemas": {"x~1": {"type": "integer"}}}})
    assert r2.ref("#/components/schemas/x~01", "other.yaml").schema == {"type": "integer"}


def test_a_ref_to_nothing_is_refused(tmp_path):
    r = resolver_for(tmp_path, spec={"components": {"schemas": {}}})
    with pytest.raises(SpecError, match="points at nothing"):
        r.ref("#/components/schemas/Missing", "spec.yaml")


def test_each_component_becomes_one_constant_that_requests_refer_to(tmp_path):
    doc = {
        "components": {
            "schemas": {
                "Amount": {"type": "string", "format": "int64", "pattern": "^[0-9]+$", "description": "dropped"},
                "TopUp": {
                    "type": "object",
                    "required": ["amount"],
                    "properties": {"amount": {"$ref": "#/components/schemas/Amount"}, "note": {"type": "string"}},
                },
            }
        }
    }
    schemas = ValidationSchemas(resolver_for(tmp_path, spec=doc))
    first = schemas.schema({"$ref": "#/components/schemas/TopUp"}, "spec.yaml")
    again = schemas.schema({"$ref": "#/components/schemas/TopUp"}, "spec.yaml")
    inline = schemas.schema({"type": "array", "items": {"$ref": "#/components/schemas/Amount"}}, "spec.yaml")
    assert first == again == SchemaRef("TOP_UP")
    assert inline == {"type": ["array"], "items": SchemaRef("AMOUNT")}
    # Dependencies first; each written once; docs dropped.
    assert [schema_statement(c) for c in schemas.in_order()] == [
        'AMOUNT: dict[str, Any] = {"format": "int64", "pattern": "^[0-9]+$", "type": ["string"]}',
        "TOP_UP: dict[str, Any] = {\n"
        '    "properties": {"amount": AMOUNT, "note": {"type": ["string"]}}, "required": ["amount"], '
        '"type": ["object"],\n'
        "}",
    ]
    top_up = schemas.schema({"$ref": "#/components/schemas/TopUp"}, "spec.yaml")
    assert render(top_up, prefix="schemas.") == "schemas.TOP_UP"


def test_a_schema_nested_deeper_than_the_limit_is_refused_not_truncated(tmp_path):
    node: dict = {"type": "string"}
    for _ in range(MAX_DEPTH + 1):
        node = {"type": "object", "properties": {"inner": node}}
    schemas = ValidationSchemas(resolver_for(tmp_path, spec={}))
    with pytest.raises(SpecError, match=f"deeper than {MAX_DEPTH}"):
        schemas.schema(node, "spec.yaml")
    # At the limit it is rendered in full.
    ok = node["properties"]["inner"]
    value = schemas.schema(ok, "spec.yaml")
    for _ in range(MAX_DEPTH):
        value = value["properties"]["inner"]
    assert value == {"type": ["string"]}


def test_a_request_schema_that_refers_to_itself_is_refused(tmp_path):
    doc = {
        "components": {
            "schemas": {
                "Node": {"type": "object", "properties": {"child": {"$ref": "#/components/schemas/Leaf"}}},
                "Leaf": {"type": "object", "properties": {"parent": {"$ref": "#/components/schemas/Node"}}},
            }
        }
    }
    schemas = ValidationSchemas(resolver_for(tmp_path, spec=doc))
    with pytest.raises(SpecError, match="refers to itself"):
        schemas.schema({"$ref": "#/components/schemas/Node"}, "spec.yaml")


def test_long_literals_are_packed_into_lines_that_fit():
    value = {f"field_{n:02d}": {"type": ["string"], "minLength": 1} for n in range(12)}
    text = render(value, lead=30)
    lines = text.splitlines()
    assert len(lines) > 2
    assert all(len(line) <= 120 for line in lines)
    assert eval(text) == {k: {"minLength": 1, "type": ["string"]} for k in value}  # noqa: S307 - our own literal
