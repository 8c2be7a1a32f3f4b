"""Request-value normalisation the way the server does it: identifiers, integer strings, labels, lease tokens.

The server parses with JavaScript semantics (``Number()``, ``String()``, trimming), so these helpers do too, and
raise the same 422 messages.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime
from typing import Any, Dict, Iterable, Optional, Tuple

from ._errors import UnexpectedError, invalid_input
from ._jsutil import JsonValue, js_number, js_string, js_trim, js_truthy

_IDENTIFIER_ALLOWED = re.compile(r"^[a-z0-9._/@:-]+$")
_IDENTIFIER_EDGE = re.compile(r"^[a-z0-9]$")
_UUID_TEXT = re.compile(r"^\{?[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}\}?$")


def as_object(body: JsonValue) -> Dict[str, Any]:
    # The server reads fields with optional chaining: a non-object body behaves like an empty one.
    return body if isinstance(body, dict) else {}


def normalize_identifier(value: JsonValue, kind: str) -> str:
    """Validate and lower-case a feature/meter code like the server (raises ``ValueError`` with its message)."""
    if not isinstance(value, str):
        raise ValueError(f"{kind} must be a string")
    trimmed = js_trim(value)
    if not trimmed:
        raise ValueError(f"{kind} is required")
    canonical = trimmed.lower()
    if len(canonical) > 128:
        raise ValueError(f"{kind} must be 1..128 chars")
    if not _IDENTIFIER_ALLOWED.match(canonical):
        raise ValueError(f"{kind} must match [a-z0-9._/@:-]+")
    if not _IDENTIFIER_EDGE.match(canonical[0]) or not _IDENTIFIER_EDGE.match(canonical[-1]):
        raise ValueError(f"{kind} must start and end with [a-z0-9]")
    return canonical


def feature_code_of(value: JsonValue) -> str:
    try:
        return normalize_identifier(value, "feature_code")
    except ValueError as exc:
        raise invalid_input(str(exc)) from exc


def parse_optional_non_negative_int(value: JsonValue, field_name: str) -> Optional[int]:
    """Parse ``*_minor`` inputs like the server: numbers or numeric strings, floored, >= 0; ``None`` if absent."""
    if value is None:
        return None
    parsed = js_number(value)
    if parsed is None:
        raise invalid_input(f"{field_name} must be a number or numeric string")
    floored = math.floor(parsed)
    if floored < 0:
        raise invalid_input(f"{field_name} must be greater than or equal to 0")
    return int(floored)


def parse_positive_int(value: JsonValue, field_name: str) -> int:
    """Parse a required quantity that must be > 0."""
    parsed = parse_optional_non_negative_int(value, field_name)
    if parsed is None or parsed <= 0:
        raise invalid_input(f"{field_name} must be greater than 0")
    return parsed


def normalize_labels(value: JsonValue) -> Optional[Dict[str, str]]:
    """Trim label keys/values, drop empties; ``None`` when nothing is left (the server's ``normalizeLabels``)."""
    if not js_truthy(value):
        return None
    if isinstance(value, dict):
        entries: Iterable[Tuple[str, JsonValue]] = value.items()
    elif isinstance(value, list):
        entries = ((str(index), item) for index, item in enumerate(value))
    elif isinstance(value, str):
        entries = ((str(index), char) for index, char in enumerate(value))
    else:
        entries = ()
    labels: Dict[str, str] = {}
    for key, item in entries:
        if not js_trim(key):
            continue
        text = js_trim(item) if isinstance(item, str) else ("" if item is None else js_string(item))
        if text:
            labels[js_trim(key)] = text
    return labels or None


def parse_lease_token(token: str) -> str:
    """Extract the lease id from ``lease.<id>.<suffix>`` (422 on a malformed token)."""
    if not token.startswith("lease."):
        raise invalid_input("invalid lease token format")
    payload = token[len("lease.") :]
    last_dot = payload.rfind(".")
    if last_dot <= 0 or last_dot >= len(payload) - 1:
        raise invalid_input("invalid lease token format")
    lease_id = js_trim(payload[:last_dot])
    if not lease_id:
        raise invalid_input("lease token missing lease id")
    return lease_id


def trimmed_lease_token(body: Dict[str, Any]) -> str:
    # `(body.lease_token || '').trim()`: a truthy non-string has no trim() and the server answers 500.
    raw = body.get("lease_token")
    if not js_truthy(raw):
        return ""
    if not isinstance(raw, str):
        raise UnexpectedError('(body?.lease_token || "").trim is not a function')
    return js_trim(raw)


def uuid_key(lease_id: str) -> str:
    # Lease ids are Postgres uuid columns: other text makes the query itself fail (a 500 on the server).
    if not _UUID_TEXT.match(lease_id):
        raise UnexpectedError(f'invalid input syntax for type uuid: "{lease_id}"')
    return str(uuid.UUID(lease_id.strip("{}")))


def usd_text(xusd: int) -> str:
    """Format micro-USD as a decimal USD string (up to 12 fraction digits, trailing zeros dropped)."""
    sign = "-" if xusd < 0 else ""
    whole, remainder = divmod(abs(xusd), 1_000_000)
    if remainder == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(remainder).rjust(6, '0').rstrip('0')}"


def currency_amounts(xusd: int) -> Dict[str, str]:
    return {"xusd": str(xusd), "usd": usd_text(xusd)}


def base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


def month_window(now: datetime) -> Tuple[datetime, datetime]:
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end
