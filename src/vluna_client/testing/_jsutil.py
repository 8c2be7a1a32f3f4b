"""Small helpers that reproduce the JavaScript semantics the real server relies on.

The Vluna server is a Node.js application. Several of its observable behaviours come straight from JavaScript
built-ins (``JSON.stringify``, ``Number()``, ``String.prototype.trim``, ``Date#toISOString``), so the emulator
mirrors those here instead of using the nearest Python idiom, which would differ on edge cases.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any, List, Optional, Union

__all__ = [
    "JsonValue",
    "iso_ms",
    "js_json",
    "js_number",
    "js_string",
    "js_trim",
    "js_truthy",
    "parse_js_date",
    "sha256_hex",
    "string_list",
]

JsonValue = Any
"""A decoded JSON value (``dict``/``list``/``str``/``int``/``float``/``bool``/``None``)."""

# ECMAScript WhiteSpace + LineTerminator code points: what String.prototype.trim removes.
_JS_WHITESPACE = (
    " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)

_DECIMAL_LITERAL = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_INTEGER_LITERAL = re.compile(r"^[+-]?\d+$")
_RADIX_LITERAL = re.compile(r"^0([xXoObB])([0-9a-fA-F]+)$")


def js_trim(value: str) -> str:
    """Trim like ``String.prototype.trim`` (Unicode spaces and line terminators, incl. BOM)."""
    return value.strip(_JS_WHITESPACE)


def js_truthy(value: JsonValue) -> bool:
    """Return JavaScript truthiness for a decoded JSON value (``[]`` and ``{}`` are truthy in JS)."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def _js_number_text(value: Union[int, float]) -> str:
    """Format a number the way ``String(number)`` does for the common cases."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    # Python writes 1e-07 where JavaScript writes 1e-7.
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", text)


def js_string(value: JsonValue) -> str:
    """Convert like JavaScript ``String(value)`` for decoded JSON values."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return _js_number_text(value)
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    return "[object Object]"


def js_number(value: JsonValue) -> Optional[Union[int, float]]:
    """Parse a quantity the way the server's ``parseMinor`` does (numbers or numeric strings).

    Returns ``None`` when JavaScript would produce ``NaN``/``Infinity`` or the type is not accepted. Integer strings
    are parsed exactly (the real server loses precision above 2**53; the emulator does not).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = js_trim(value)
    if text == "":
        return 0  # Number("") is 0 in JavaScript.
    radix = _RADIX_LITERAL.match(text)
    if radix:
        base = {"x": 16, "o": 8, "b": 2}[radix.group(1).lower()]
        try:
            return int(radix.group(2), base)
        except ValueError:
            return None
    if _INTEGER_LITERAL.match(text):
        return int(text)
    if _DECIMAL_LITERAL.match(text):
        parsed = float(text)
        return parsed if math.isfinite(parsed) else None
    return None


def _jsify(value: JsonValue) -> JsonValue:
    """Rewrite floats so ``json.dumps`` prints them like ``JSON.stringify`` (``1.0`` becomes ``1``)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None  # JSON.stringify(NaN) is "null".
        if value.is_integer() and abs(value) < 1e21:
            return int(value)
        return value
    if isinstance(value, dict):
        return {key: _jsify(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsify(item) for item in value]
    return value


def js_json(value: JsonValue) -> str:
    """Serialise like ``JSON.stringify``: compact, key order preserved, non-ASCII kept as UTF-8."""
    return json.dumps(_jsify(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of the UTF-8 text (the server's ``hashRequest`` and fingerprints)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def iso_ms(moment: datetime) -> str:
    """Format like ``Date#toISOString``: UTC, millisecond precision, ``Z`` suffix."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


_ISO_DATE_TIME = re.compile(
    r"^(?P<y>[+-]\d{6}|\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2}))?)?"
    r"(?:[T ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?"
    r"(?P<tz>Z|z|[+-]\d{2}:?\d{2})?)?$"
)


def parse_js_date(text: str) -> Optional[datetime]:
    """Parse the date-time strings a JavaScript ``new Date(text)`` accepts in practice.

    Covers ISO 8601 (date only, date-time with or without offset; a date-time without an offset is taken as UTC
    here, where JavaScript would use the server's local zone) and RFC 2822 forms. Returns ``None`` for anything else,
    which the server reports as an invalid date-time.
    """
    match = _ISO_DATE_TIME.match(text)
    if match:
        try:
            year = int(match.group("y"))
            month = int(match.group("mo") or 1)
            day = int(match.group("d") or 1)
            hour = int(match.group("h") or 0)
            minute = int(match.group("mi") or 0)
            second = int(match.group("s") or 0)
            fraction = (match.group("f") or "0")[:6].ljust(6, "0")
            parsed = datetime(year, month, day, hour, minute, second, int(fraction), tzinfo=timezone.utc)
        except ValueError:
            return None
        zone = match.group("tz")
        if zone and zone not in ("Z", "z"):
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            parsed = parsed - sign * offset
        return parsed
    try:
        rfc = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if rfc.tzinfo is None:
        rfc = rfc.replace(tzinfo=timezone.utc)
    return rfc.astimezone(timezone.utc)


def string_list(value: JsonValue) -> List[str]:
    """Parse a query parameter given as repeated keys or comma lists (the server's ``parseStringArray``)."""
    parts: List[str] = []
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    for item in items:
        if isinstance(item, str):
            parts.extend(piece for piece in (js_trim(p) for p in item.split(",")) if piece)
    return parts
