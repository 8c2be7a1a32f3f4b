"""Validation schemas: the JSON-Schema subset the core checks a call's arguments against before any I/O.

Every named component schema a request uses is written once, as a constant of ``_generated/schemas.py``; a
request's schema refers to those constants instead of inlining them again. Refs are followed across files;
a schema that refers to itself, or nests deeper than ``MAX_DEPTH`` inline levels, is refused.
The values built here are data (dicts, lists and :class:`SchemaRef`); :mod:`codegen.render` writes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .ir import SchemaConstant
from .resolver import Resolver, SpecError, types_of

VALIDATION_KEYS = ("minLength", "maxLength", "pattern", "minimum", "maximum", "minItems", "maxItems", "format")
MAX_DEPTH = 12


@dataclass
class ValidationSchemas:
    """Builds validation schemas and collects the component constants they use."""

    resolver: Resolver
    # (file, schema name) -> (constant, value), in the order they were finished: dependencies first.
    constants: dict[tuple[str, str], tuple[str, Any]] = field(default_factory=dict)
    _open: list[tuple[str, str]] = field(default_factory=list)

    def schema(self, node: dict[str, Any], current: str, depth: int = 0) -> Any:
        """The schema of ``node``: a dict, or a :class:`SchemaRef` for a named component."""
        while "$ref" in node:
            ref = self.resolver.ref(node["$ref"], current)
            if ref.is_component_schema:
                return self._component(ref.file, ref.name, ref.schema)
            node, current = ref.schema, ref.file
        if depth > MAX_DEPTH:
            raise SpecError(f"{current}: a request schema nests deeper than {MAX_DEPTH} levels; name a part of it")
        out: dict[str, Any] = {}
        kinds = types_of(node)
        if kinds:
            out["type"] = kinds
        for key in VALIDATION_KEYS:
            if key in node:
                out[key] = node[key]
        if "enum" in node and "string" not in kinds:
            out["enum"] = node["enum"]
        if node.get("properties"):
            out["properties"] = {k: self.schema(v, current, depth + 1) for k, v in node["properties"].items()}
        if node.get("required"):
            out["required"] = list(node["required"])
        if isinstance(node.get("items"), dict):
            out["items"] = self.schema(node["items"], current, depth + 1)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            out["additionalProperties"] = self.schema(extra, current, depth + 1)
        if isinstance(node.get("propertyNames"), dict):
            out["propertyNames"] = self.schema(node["propertyNames"], current, depth + 1)
        for key in ("oneOf", "anyOf"):
            if key in node:
                out[key] = [self.schema(s, current, depth + 1) for s in node[key]]
        return out

    def _component(self, file: str, name: str, node: dict[str, Any]) -> SchemaRef:
        key = (file, name)
        if key in self.constants:
            return SchemaRef(self.constants[key][0])
        if key in self._open:
            chain = " -> ".join(n for _, n in self._open[self._open.index(key) :])
            raise SpecError(f"{file}: request schema {name} refers to itself ({chain} -> {name})")
        constant = constant_name(name)
        clash = [k for k, (c, _) in self.constants.items() if c == constant]
        if clash:
            raise SpecError(f"{file}: schema {name} and {clash[0][0]} {clash[0][1]} give the same constant {constant}")
        self._open.append(key)
        value = self.schema(node, file)
        self._open.pop()
        self.constants[key] = (constant, value)
        return SchemaRef(constant)

    def in_order(self) -> list[SchemaConstant]:
        """The constants of the schemas module, every constant after the ones it uses."""
        return [SchemaConstant(constant, value) for constant, value in self.constants.values()]


@dataclass(frozen=True)
class SchemaRef:
    """A reference to the constant of a named component schema."""

    name: str


def constant_name(schema_name: str) -> str:
    """``BudgetCreateRequest`` -> ``BUDGET_CREATE_REQUEST``."""
    out = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", schema_name)
    return re.sub(r"[^0-9A-Za-z_]", "_", out).upper()
