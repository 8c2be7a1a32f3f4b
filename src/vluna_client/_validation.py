"""Local validation of request values against the spec, before any network I/O.

Each generated operation carries its schemas (a JSON Schema subset): the body's is one of the named constants
of ``_generated/schemas.py``, and each query parameter's is written beside the operation in its endpoint module.
This module checks a call's arguments against them and normalises what the wire wants: attrs models become
dicts, Python ints become integer strings where the spec says so, ``None`` means "leave the field out".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Optional

import attrs

from ._errors import InputValidationError, ValidationError
from ._serde import unstructure

# The server reads JSON numbers, and the integer strings of gate quantities (`format: int64` in the specs), as
# JavaScript doubles (`Number()`): beyond this they silently lose precision.
MAX_SAFE_INTEGER = 2**53 - 1
_SAFE_DIGITS = len(str(MAX_SAFE_INTEGER))  # 16
# Money integer strings without that format (`IntString`: wallet deltas, amounts) are parsed as BigInt and stored
# in 64-bit columns.
MAX_INT64 = 2**63 - 1
_INT64_DIGITS = len(str(MAX_INT64))  # 19
_INTEGER_PATTERNS = frozenset({"^-?[0-9]+$", "^[0-9]+$"})

#: The deepest nesting of objects and arrays accepted in a request value, and in an answer.
MAX_NESTING = 64

_JSON_SCALARS = (str, int, float, bool)
# The exact types of most request values; none of them can be an attrs class.
_BUILTIN_TYPES = frozenset({str, int, float, bool, dict, list, tuple, type(None)})

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (Mapping,),
    "array": (list, tuple),
}
# (JSON type, exact Python type) pairs that match without further checks; a bool is never an integer or number.
_EXACT_TYPES = frozenset(
    {
        ("string", str),
        ("integer", int),
        ("number", int),
        ("number", float),
        ("boolean", bool),
        ("object", dict),
        ("array", list),
        ("array", tuple),
    }
)


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
    if (name, type(value)) in _EXACT_TYPES:
        return True  # the usual case, one set lookup; subclasses and bools take the checks below
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _JSON_TYPES.get(name, (object,)))


def _shown(value: Any) -> str:
    """A value for an error message, short whatever its size."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "a huge integer"
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + f"... ({len(text)} characters)"


def _int_string(value: Any, schema: Mapping[str, Any], path: str) -> str:
    """Integer strings accept a Python int too; either way the wire gets the base-10 digits."""
    if isinstance(value, bool):
        raise _fail(path, f"expected an integer or integer string, got {value!r}")
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise _fail(path, f"{_shown(value)} exceeds {MAX_SAFE_INTEGER}, beyond which the server loses precision")
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise _fail(path, f"expected an integer or integer string, got {type(value).__name__}")
    pattern = schema.get("pattern", r"^-?[0-9]+$")
    if not _regex(pattern).search(text):
        raise _fail(path, f"{_shown(value)} is not a valid integer string (must match {pattern})")
    # The length first: int() of thousands of digits is refused by Python itself (and slow).
    if len(text.lstrip("-").lstrip("0")) > _SAFE_DIGITS or abs(int(text)) > MAX_SAFE_INTEGER:
        raise _fail(path, f"{_shown(text)} exceeds {MAX_SAFE_INTEGER}, beyond which the server loses precision")
    return text


def _int64_string(value: str, path: str) -> None:
    """Money integer strings (BigInt on the server, 64-bit in its database) stay within int64."""
    if len(value.lstrip("-").lstrip("0")) > _INT64_DIGITS or abs(int(value)) > MAX_INT64:
        raise _fail(path, f"{_shown(value)} is outside the 64-bit integer range the server stores")


def check_text(value: str, path: str) -> None:
    """Text must be encodable as UTF-8: a lone surrogate would fail deep in the encoder instead of here."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _fail(path, "contains a lone surrogate (not valid Unicode text)") from None


def _number(value: Any, path: str) -> None:
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise _fail(path, f"{_shown(value)} exceeds {MAX_SAFE_INTEGER}, beyond which the server loses precision")
    elif not math.isfinite(value):
        raise _fail(path, f"{value!r} is not a finite number")


def _free(value: Any, path: str, depth: int) -> Any:
    """A value with no schema (``metadata``, ``traits``...): any JSON, within the nesting and number limits."""
    if depth > MAX_NESTING:
        raise _fail(path, f"nested deeper than {MAX_NESTING} levels")
    if isinstance(value, str):
        check_text(value, path)
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        _number(value, path)
        return value
    if attrs.has(type(value)):
        value = unstructure(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _fail(path, f"object keys must be strings, got {type(key).__name__}")
            check_text(key, path)
            out[key] = _free(item, f"{path}.{key}" if path else key, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_free(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise _fail(path, f"{type(value).__name__} is not a JSON value")


def validate(value: Any, schema: Mapping[str, Any], path: str = "", depth: int = 0) -> Any:
    """Check ``value`` against ``schema`` and return its wire form; raise ValidationError on the first problem.

    Beyond the schema, every value must be representable on the wire without loss: text is valid Unicode,
    integers stay within what the server parses exactly, floats are finite, and nothing is nested deeper than
    :data:`MAX_NESTING` levels.
    """
    if depth > MAX_NESTING:
        raise _fail(path, f"nested deeper than {MAX_NESTING} levels")
    if not schema:
        return _free(value, path, depth)
    cls = type(value)
    if cls not in _BUILTIN_TYPES and attrs.has(cls):  # a builtin is never an attrs class: skip the lookup
        value = unstructure(value)
    declared = schema.get("type", ())
    nullable = "null" in declared
    types = [t for t in declared if t != "null"] if nullable else declared
    if value is None:
        if nullable or not types:
            return None
        raise _fail(path, "must not be None")
    if "string" in types and schema.get("format") == "int64":
        return _int_string(value, schema, path)
    # The first type alone decides almost every value, without a generator for the rest.
    if types and not (_is_type(value, types[0]) or any(_is_type(value, t) for t in types[1:])):
        expected = " or ".join(types)
        raise _fail(path, f"expected {expected}, got {type(value).__name__}")
    if "oneOf" in schema or "anyOf" in schema:
        return _one_of(value, schema, path, depth)
    if isinstance(value, str):
        return _string(value, schema, path)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _number(value, path)
        if "minimum" in schema and value < schema["minimum"]:
            raise _fail(path, f"must be >= {schema['minimum']}, got {value}")
        if "maximum" in schema and value > schema["maximum"]:
            raise _fail(path, f"must be <= {schema['maximum']}, got {value}")
        return value
    if isinstance(value, Mapping):
        return _object(value, schema, path, depth)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return _array(value, schema, path, depth)
    return _free(value, path, depth)


def _string(value: str, schema: Mapping[str, Any], path: str) -> str:
    check_text(value, path)
    if "minLength" in schema and len(value) < schema["minLength"]:
        raise _fail(path, "must not be empty" if schema["minLength"] == 1 else f"shorter than {schema['minLength']}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise _fail(path, f"longer than {schema['maxLength']} characters")
    pattern = schema.get("pattern")
    if pattern is not None:
        if not _regex(pattern).search(value):
            raise _fail(path, f"{_shown(value)} does not match {pattern}")
        if pattern in _INTEGER_PATTERNS:
            _int64_string(value, path)
    return value


def _object(value: Mapping[str, Any], schema: Mapping[str, Any], path: str, depth: int) -> dict[str, Any]:
    props: Mapping[str, Any] = schema.get("properties", {})
    extra: Optional[Mapping[str, Any]] = schema.get("additionalProperties")
    names: Optional[Mapping[str, Any]] = schema.get("propertyNames")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise _fail(path, f"object keys must be strings, got {type(key).__name__}")
        if not key.isascii():  # (check_text's own first test, without the call for the usual ASCII key)
            check_text(key, path)
        if names is not None and "pattern" in names and not _regex(names["pattern"]).search(key):
            raise _fail(path, f"key {_shown(key)} does not match {names['pattern']}")
        if item is None:
            continue  # None means "absent"; the server never wants an explicit null from us.
        sub = f"{path}.{key}" if path else key
        if key in props:
            out[key] = validate(item, props[key], sub, depth + 1)
        elif extra is not None:
            out[key] = validate(item, extra, sub, depth + 1)
        else:
            out[key] = _free(item, sub, depth + 1)
    for name in schema.get("required", []):
        if name not in out:
            raise _fail(f"{path}.{name}" if path else name, "is required")
    return out


def _array(value: Sequence[Any], schema: Mapping[str, Any], path: str, depth: int) -> list[Any]:
    if "minItems" in schema and len(value) < schema["minItems"]:
        raise _fail(path, f"needs at least {schema['minItems']} item(s)")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise _fail(path, f"takes at most {schema['maxItems']} items")
    items: Mapping[str, Any] = schema.get("items", {})
    return [validate(item, items, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]


def _one_of(value: Any, schema: Mapping[str, Any], path: str, depth: int) -> Any:
    errors = []
    for option in schema.get("oneOf", schema.get("anyOf", [])):
        try:
            return validate(value, option, path, depth)
        except ValidationError as exc:
            errors.append(exc.message)
    raise _fail(path, "matches none of the allowed shapes: " + "; ".join(errors))
