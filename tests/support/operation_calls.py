"""Build real client calls for any generated operation (shared by tests/integration and tests/e2e).

Arguments come from the operation's request schema in the shipped spec data (enums included, which the client's own
validation schemas leave open); values are made here, not by the emulator's answer builder.
"""

from __future__ import annotations

import importlib
import inspect
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from vluna_client._generated.operations import OPERATIONS
from vluna_client.testing._spec_data import load

Row = Tuple[str, str, str, str, str, str, str]
NOW = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
SPEC = {(op["method"], op["path"]): op for op in load()["operations"]}
SCHEMAS: Mapping[str, Any] = load()["schemas"]


def operation_of(row: Row) -> Any:
    return getattr(importlib.import_module(row[3]), row[4])


def spec_of(row: Row) -> Any:
    return SPEC[(row[5], row[6])]


def _resolve(schema: Any) -> Dict[str, Any]:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = SCHEMAS[schema["$ref"]]
    return schema if isinstance(schema, dict) else {}


class Examples:
    """Valid request values (required fields only); ``known`` supplies real ids by field name."""

    def __init__(self, known: Mapping[str, Any]) -> None:
        self.known = known
        self.counter = 0

    def value(self, schema: Any, name: str) -> Any:
        schema = _resolve(schema)
        if name in self.known:
            return self.known[name]
        for key in ("oneOf", "anyOf"):
            if schema.get(key):
                members = [m for m in schema[key] if _resolve(m).get("type") != "null"]
                return self.value(members[0], name)
        if schema.get("allOf"):
            merged: Dict[str, Any] = {}
            for part in schema["allOf"]:
                part_value = self.value(part, name)
                if isinstance(part_value, dict):
                    merged.update(part_value)
            return merged
        if "enum" in schema:
            return next(v for v in schema["enum"] if v is not None)
        if "const" in schema:
            return schema["const"]
        declared = schema.get("type", "object" if "properties" in schema else "string")
        types = [declared] if isinstance(declared, str) else [t for t in declared if t != "null"]
        kind = types[0] if types else "string"
        if kind == "object":
            props = schema.get("properties", {})
            return {field: self.value(props.get(field, {}), field) for field in schema.get("required", [])}
        if kind == "array":
            return [self.value(schema.get("items", {}), name) for _ in range(int(schema.get("minItems", 0)))]
        if kind == "integer":
            return max(1, int(schema.get("minimum", 1)))
        if kind == "number":
            return float(max(1, schema.get("minimum", 1)))
        if kind == "boolean":
            return True
        return self._string(schema, name)

    def _string(self, schema: Mapping[str, Any], name: str) -> str:
        self.counter += 1
        fmt, pattern = schema.get("format"), schema.get("pattern")
        if fmt == "uuid":
            return str(uuid.uuid4())
        if fmt == "date-time" or name.endswith("_at"):
            return NOW
        if fmt == "email":
            return "someone@example.com"
        if fmt in ("uri", "url") or name.endswith("_url"):
            return "https://example.com/back"
        if pattern:
            for candidate in (f"c{self.counter}x", "1", "usd", "USD"):
                if re.search(pattern, candidate):
                    return candidate
            raise AssertionError(f"no example for pattern {pattern!r} of {name}")
        return "USD" if "currency" in name else f"{name}-{self.counter}"


def call_with(
    method: Callable[..., Any],
    row: Row,
    examples: Examples,
    *,
    path_values: Mapping[str, Any],
    bindings: Mapping[str, Any],
    extra: Optional[Mapping[str, Any]] = None,
) -> Any:
    """Call ``method`` with the path values given, examples for required inputs, and the bindings."""
    op, spec = operation_of(row), spec_of(row)
    params = inspect.signature(method).parameters

    def keyword(wire: str) -> str:
        return wire if wire in params else wire + "_"

    kwargs: Dict[str, Any] = {keyword(wire): path_values[wire] for wire in op.path_params}
    body = _resolve(spec["body"]) if spec["body"] else {}
    properties = body.get("properties", {})
    for field in body.get("required", []):
        kwargs[keyword(field)] = examples.value(properties.get(field, {}), field)
    if "body" in params and spec["body"] is not None and not properties:
        kwargs["body"] = {}
    for name, value in bindings.items():
        if name in params:
            kwargs[name] = value
    for name, param in params.items():
        if param.default is inspect.Parameter.empty and param.kind == param.KEYWORD_ONLY and name not in kwargs:
            kwargs[name] = examples.value(spec["query"].get(name, {}), name)
    kwargs.update(extra or {})
    return method(**kwargs)


def rows() -> Tuple[Row, ...]:
    return OPERATIONS
