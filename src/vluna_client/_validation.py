"""Local validation of request values against the spec, before any network I/O.

The generator inlines each operation's body and query schemas (a JSON Schema subset) into the endpoint modules;
this module checks a call's arguments against them and normalises what the wire wants: attrs models become
dicts, Python ints become integer strings where the spec says so, ``None`` means "leave the field out".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Optional

import attrs

from ._errors import InputValidationError, ValidationError
from ._serde import unstructure

# The server parses integer strings as JavaScript doubles: above this they silently lose precision.
MAX_SAFE_INTEGER = 2**53 - 1

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (Mapping,),
    "array": (list, tuple),
}


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    # JSON Schema's `$` means end of input; Python's also matches before a final newline, so "12\n" would pass.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _where(path: str) -> str:
    return path or "value"


def _fail(path: str, reason: str) -> InputValidationError:
    return InputValidationError(f"{_where(path)}: {reason}", field=path or None)


def _is_type(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _JSON_TYPES.get(name, (object,)))


def _int_string(value: Any, schema: Mapping[str, Any], path: str) -> str:
    """Integer strings accept a Python int too; either way the wire gets the base-10 digits."""
    if isinstance(value, bool):
        raise _fail(path, f"expected an integer or integer string, got {value!r}")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise _fail(path, f"expected an integer or integer string, got {type(value).__name__}")
    pattern = schema.get("pattern", r"^-?[0-9]+$")
    if not _regex(pattern).search(text):
        raise _fail(path, f"{value!r} is not a valid integer string (must match {pattern})")
    if abs(int(text)) > MAX_SAFE_INTEGER:
        raise _fail(path, f"{value!r} exceeds {MAX_SAFE_INTEGER}, beyond which the server loses precision")
    return text


def validate(value: Any, schema: Mapping[str, Any], path: str = "") -> Any:
    """Check ``value`` against ``schema`` and return its wire form; raise ValidationError on the first problem."""
    if attrs.has(type(value)):
        value = unstructure(value)
    types = [t for t in schema.get("type", []) if t != "null"]
    if value is None:
        if "null" in schema.get("type", []) or not types:
            return None
        raise _fail(path, "must not be None")
    if "string" in types and schema.get("format") == "int64":
        return _int_string(value, schema, path)
    if types and not any(_is_type(value, t) for t in types):
        expected = " or ".join(types)
        raise _fail(path, f"expected {expected}, got {type(value).__name__}")
    if "oneOf" in schema or "anyOf" in schema:
        return _one_of(value, schema, path)
    if isinstance(value, str):
        return _string(value, schema, path)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise _fail(path, f"must be >= {schema['minimum']}, got {value}")
        if "maximum" in schema and value > schema["maximum"]:
            raise _fail(path, f"must be <= {schema['maximum']}, got {value}")
        return value
    if isinstance(value, Mapping):
        return _object(value, schema, path)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return _array(value, schema, path)
    return value


def _string(value: str, schema: Mapping[str, Any], path: str) -> str:
    if "minLength" in schema and len(value) < schema["minLength"]:
        raise _fail(path, "must not be empty" if schema["minLength"] == 1 else f"shorter than {schema['minLength']}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise _fail(path, f"longer than {schema['maxLength']} characters")
    if "pattern" in schema and not _regex(schema["pattern"]).search(value):
        raise _fail(path, f"{value!r} does not match {schema['pattern']}")
    return value


def _object(value: Mapping[str, Any], schema: Mapping[str, Any], path: str) -> dict[str, Any]:
    props: Mapping[str, Any] = schema.get("properties", {})
    extra: Optional[Mapping[str, Any]] = schema.get("additionalProperties")
    names: Optional[Mapping[str, Any]] = schema.get("propertyNames")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise _fail(path, f"object keys must be strings, got {key!r}")
        if names is not None and "pattern" in names and not _regex(names["pattern"]).search(key):
            raise _fail(path, f"key {key!r} does not match {names['pattern']}")
        if item is None:
            continue  # None means "absent"; the server never wants an explicit null from us.
        sub = f"{path}.{key}" if path else key
        if key in props:
            out[key] = validate(item, props[key], sub)
        elif extra is not None:
            out[key] = validate(item, extra, sub)
        else:
            out[key] = item
    for name in schema.get("required", []):
        if name not in out:
            raise _fail(f"{path}.{name}" if path else name, "is required")
    return out


def _array(value: Sequence[Any], schema: Mapping[str, Any], path: str) -> list[Any]:
    if "minItems" in schema and len(value) < schema["minItems"]:
        raise _fail(path, f"needs at least {schema['minItems']} item(s)")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise _fail(path, f"takes at most {schema['maxItems']} items")
    items: Mapping[str, Any] = schema.get("items", {})
    return [validate(item, items, f"{path}[{i}]") for i, item in enumerate(value)]


def _one_of(value: Any, schema: Mapping[str, Any], path: str) -> Any:
    errors = []
    for option in schema.get("oneOf", schema.get("anyOf", [])):
        try:
            return validate(value, option, path)
        except ValidationError as exc:
            errors.append(exc.message)
    raise _fail(path, "matches none of the allowed shapes: " + "; ".join(errors))
