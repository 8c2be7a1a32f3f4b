"""JSON-schema helpers over the shipped spec data: validate a request value, build a plausible answer.

Only the subset the specs use is understood: ``type`` (a name or a list), ``enum``, ``const``, ``pattern``,
``minLength``, ``minimum``, ``required``, ``properties``, ``additionalProperties``, ``items``, ``allOf``, ``oneOf``,
``anyOf`` (with or without ``discriminator``) and ``$ref`` to a named schema.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional

from ._jsutil import iso_ms

__all__ = ["Schemas"]

_INT_STRING = re.compile(r"^-?[0-9]+$")
# Boolean answers that report what an operation did: an answer saying it did not happen would be implausible.
_OUTCOME_FLAGS = frozenset(
    {"deleted", "archived", "revoked", "saved", "valid", "ok", "accepted", "cancelled", "closed", "success"}
)
# Flags whose default on a new resource is true on the server (a new feature, meter or plan is active).
_TRUE_BY_DEFAULT = frozenset({"active"})


def _types(schema: Mapping[str, Any]) -> List[str]:
    declared = schema.get("type")
    if declared is None:
        return []
    return [declared] if isinstance(declared, str) else list(declared)


def _type_ok(value: Any, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    return True


class Schemas:
    """Named schemas and the two operations the emulator needs on them."""

    def __init__(self, named: Mapping[str, Any], clock: Any) -> None:
        self.named = named
        self.now = clock

    def resolve(self, schema: Any) -> Dict[str, Any]:
        """Follow ``$ref`` to a concrete schema (``{}`` for anything unusable)."""
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            schema = self.named.get(schema["$ref"], {})
            seen += 1
        return schema if isinstance(schema, dict) else {}

    def properties(self, schema: Any) -> Dict[str, Any]:
        """Every property of an object schema, ``allOf`` members merged."""
        schema = self.resolve(schema)
        out: Dict[str, Any] = {}
        for part in schema.get("allOf", []):
            out.update(self.properties(part))
        out.update(schema.get("properties", {}))
        return out

    def required(self, schema: Any) -> List[str]:
        """Required property names, ``allOf`` members merged."""
        schema = self.resolve(schema)
        out = list(schema.get("required", []))
        for part in schema.get("allOf", []):
            out += [name for name in self.required(part) if name not in out]
        return out

    # ----------------------------------------------------------------- validation

    def error(self, value: Any, schema: Any, where: str, depth: int = 0) -> Optional[str]:
        """The first way ``value`` breaks ``schema`` as a message naming the field, or ``None`` when it fits."""
        schema = self.resolve(schema)
        if depth > 16 or not schema:
            return None
        for part in schema.get("allOf", []):
            problem = self.error(value, part, where, depth + 1)
            if problem:
                return problem
        for key in ("oneOf", "anyOf"):
            members = schema.get(key)
            if members and all(self.error(value, member, where, depth + 1) for member in members):
                return self.error(value, members[0], where, depth + 1)
        types = _types(schema)
        if types and not any(_type_ok(value, name) for name in types):
            wanted = " or ".join(t for t in types if t != "null") or "null"
            return f"{where} must be {'an' if wanted[0] in 'aeiou' else 'a'} {wanted}"
        if value is None:
            return None
        if "const" in schema and value != schema["const"]:
            return f"{where} must be {schema['const']!r}"
        if "enum" in schema and value not in schema["enum"]:
            return f"{where} must be one of {', '.join(str(v) for v in schema['enum'] if v is not None)}"
        if isinstance(value, str):
            if len(value) < int(schema.get("minLength", 0)):
                return f"{where} must not be empty" if schema.get("minLength") == 1 else f"{where} is too short"
            if "maxLength" in schema and len(value) > int(schema["maxLength"]):
                return f"{where} is too long"
            pattern = schema.get("pattern")
            if pattern and not re.search(pattern, value):
                return f"{where} has an invalid format"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                return f"{where} must be at least {schema['minimum']}"
            if "maximum" in schema and value > schema["maximum"]:
                return f"{where} must be at most {schema['maximum']}"
        if isinstance(value, dict):
            for name in self.required(schema):
                if value.get(name) is None and name not in value:
                    return f"{(where + '.') if where else ''}{name} is required"
            properties = self.properties(schema)
            for name, item in value.items():
                if name in properties:
                    problem = self.error(item, properties[name], f"{(where + '.') if where else ''}{name}", depth + 1)
                    if problem:
                        return problem
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                problem = self.error(item, schema["items"], f"{where}[{index}]", depth + 1)
                if problem:
                    return problem
        return None

    # ----------------------------------------------------------------- answers

    def build(self, schema: Any, values: Optional[Mapping[str, Any]] = None, name: str = "", depth: int = 0) -> Any:
        """A value that fits ``schema``: ``values`` echoed where they fit, required fields filled plausibly."""
        schema = self.resolve(schema)
        if depth > 12:
            return None
        for key in ("oneOf", "anyOf"):
            members = schema.get(key)
            if members:
                chosen = self._choose(members, values)
                built = self.build(chosen, values, name, depth + 1)
                discriminator = schema.get("discriminator", {})
                if isinstance(built, dict) and discriminator.get("propertyName"):
                    field = discriminator["propertyName"]
                    for tag, target in discriminator.get("mapping", {}).items():
                        if target.rsplit("/", 1)[-1] == chosen.get("$ref"):
                            built[field] = tag
                return built
        types = [t for t in _types(schema) if t != "null"]
        if schema.get("allOf") or schema.get("properties") or types == ["object"]:
            return self._object(schema, values or {}, depth)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            options = [v for v in schema["enum"] if v is not None]
            return options[0] if options else None
        if not types:
            return {} if values is None else dict(values)
        if "null" in _types(schema) and not name.endswith("_id"):
            return None
        kind = types[0]
        if kind == "array":
            return []
        if kind == "boolean":
            return name in _OUTCOME_FLAGS or name in _TRUE_BY_DEFAULT
        if kind in ("integer", "number"):
            low = schema.get("minimum", 0)
            return int(low) if kind == "integer" else float(low)
        return self._string(schema, name)

    def _choose(self, members: List[Any], values: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
        concrete = [m for m in members if _types(self.resolve(m)) != ["null"]] or members
        if values:
            for member in concrete:
                if all(name in values for name in self.required(member)):
                    return member if isinstance(member, dict) else {}
        first = concrete[0]
        return first if isinstance(first, dict) else {}

    def _object(self, schema: Dict[str, Any], values: Mapping[str, Any], depth: int) -> Dict[str, Any]:
        properties = self.properties(schema)
        required = self.required(schema)
        out: Dict[str, Any] = {}
        for name, prop in properties.items():
            if name in values and values[name] is not None:
                value = values[name]
                if isinstance(value, dict) and self.resolve(prop).get("properties"):
                    out[name] = self.build(prop, value, name, depth + 1)
                elif self.error(value, prop, name) is None:
                    out[name] = value
                    continue
            if name in out:
                continue
            if name in required or name in ("created_at", "updated_at"):
                out[name] = self.build(prop, values.get(name) if isinstance(values.get(name), dict) else None,
                                       name, depth + 1)  # fmt: skip
            elif name in values and values[name] is None and "null" in _types(self.resolve(prop)):
                out[name] = None
        extra = schema.get("additionalProperties")
        if (not properties and extra is not False) or extra is True or isinstance(extra, dict):
            # Free-form keys are echoed; the emulator's own bookkeeping keys (a leading "_") never are.
            out.update((k, v) for k, v in values.items() if k not in properties and not k.startswith("_"))
        return out

    def _string(self, schema: Mapping[str, Any], name: str) -> str:
        fmt = schema.get("format")
        pattern = schema.get("pattern")
        if fmt == "uuid" or (name.endswith("_id") and not pattern):
            return str(uuid.uuid4())
        if fmt == "date-time" or name.endswith("_at"):
            return iso_ms(self.now())
        if fmt == "date":
            now: datetime = self.now()
            return now.date().isoformat()
        if fmt in ("uri", "url") or name.endswith("_url"):
            return f"https://emulator.vluna.invalid/{name or 'link'}"
        if fmt == "email" or name == "email":
            return "user@example.invalid"
        if pattern:
            if pattern in (_INT_STRING.pattern, "^[0-9]+$"):
                return "0"
            for candidate in ("0", "emulated", "a", "USD", "usd", str(uuid.uuid4())):
                if re.search(pattern, candidate):
                    return candidate
            return "0"
        if "currency" in name:
            return "USD"
        return f"emulated-{name}" if name else "emulated"
