"""Turning one call's arguments into a request, with no I/O: validation, URL, headers and body bytes.

Everything here runs before the first attempt, so bad input fails fast and nothing is half-sent; the bytes built
here are the ones every attempt digests, signs and sends.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import quote, urlsplit

from ._errors import InputValidationError
from ._headers import BINDING_HEADERS, REALM_ADMIN_HEADER, header_value
from ._keys import new_idempotency_key
from ._operation import Operation
from ._validation import MAX_SAFE_INTEGER, check_text, validate

#: The largest request body the server reads (its JSON body limit, 1 MiB); a larger one is refused locally.
MAX_BODY_BYTES = 1024 * 1024

if TYPE_CHECKING:
    from ._auth import Auth


@functools.lru_cache(maxsize=64)
def _path_of(base: str) -> str:
    """The path part of a base URL: a client has one or two, so it is split once, not on every call."""
    return urlsplit(base).path


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class PreparedCall:
    """A request ready to send: everything but the per-attempt credentials.

    ``target`` is the path and query exactly as they go on the wire (what SVC-AUTH signs).
    """

    __slots__ = ("auth", "body", "headers", "idempotency_key", "method", "target", "url")

    def __init__(
        self,
        method: str,
        url: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        key: Optional[str],
        auth: Auth,
    ) -> None:
        self.method = method
        self.url = url
        self.target = target
        self.headers = headers
        self.body = body
        self.idempotency_key = key
        self.auth = auth

    def attempt_headers(self) -> dict[str, str]:
        """A fresh copy of the headers with credentials applied (new timestamp and nonce for SVC-AUTH)."""
        headers = dict(self.headers)
        self.auth.apply(self.method, self.target, headers, self.body)
        return headers


def build_call(
    op: Operation[Any],
    *,
    base_url: str,
    root_url: str,
    realm_id: str,
    defaults: Mapping[str, Any],
    path: Mapping[str, Any],
    query: Mapping[str, Any],
    body: Optional[Mapping[str, Any]],
    bindings: Mapping[str, Any],
    idempotency_key: Optional[str],
    base_headers: Mapping[str, str],
    auth: Auth,
) -> PreparedCall:
    """Validate a call's arguments and turn them into URL, headers and body bytes; raise before any I/O.

    ``defaults`` are the bindings of ``client.bind(...)``; a value passed to the call wins. A bound value also
    fills a body property or query filter of the same name (e.g. ``billing_account_id``) left unset by the call.
    ``auth`` is the strategy for this call, already chosen by the caller (see :func:`~vluna_client._auth.call_auth`).
    """
    route = op.path
    for name in op.path_params:
        value = path.get(name)
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            raise InputValidationError(f"{op.name}: path parameter {name} is required", field=name)
        if isinstance(value, int) and abs(value) > MAX_SAFE_INTEGER:
            raise InputValidationError(f"{op.name}: path parameter {name} is out of range", field=name)
        if isinstance(value, str):
            check_text(value, name)
        if str(value) in (".", ".."):
            # A dot segment would be collapsed on the way and hit (and be signed for) another route.
            raise InputValidationError(f"{op.name}: path parameter {name} must not be {value!r}", field=name)
        route = route.replace("{" + name + "}", quote(str(value), safe=""))

    headers: dict[str, str] = {**base_headers, "X-Realm-Id": realm_id}
    resolved: dict[str, Any] = {}
    for name, value in bindings.items():
        value = value if value is not None else defaults.get(name)
        if value is None or value == "":
            continue
        resolved[name] = value
        if name == "realm_admin":
            if not isinstance(value, bool):
                raise InputValidationError("realm_admin must be a bool", field="realm_admin")
            if value:
                headers[REALM_ADMIN_HEADER] = "true"
        else:
            headers[BINDING_HEADERS[name]] = header_value(name, value)
    missing = [name for name in op.required_bindings if name not in resolved]
    if missing:
        raise InputValidationError(
            f"{op.name} needs {' and '.join(op.required_bindings)}: missing {', '.join(missing)} "
            "(pass it to the call or use client.bind(...))",
            field=missing[0],
        )
    if op.requires_one_of and not any(name in resolved for name in op.requires_one_of):
        raise InputValidationError(
            f"{op.name} needs at least one of {', '.join(op.requires_one_of)}", field=op.requires_one_of[0]
        )

    pairs: list[tuple[str, str]] = []
    for name, schema in op.query_schema.items():
        value = query.get(name)
        if value is None and name in op.shared_bindings:
            value = resolved.get(name)  # a filter that is also a binding: a bound value feeds both
        if value is None:
            continue
        value = validate(value, schema, name)
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, _query_text(item)))
    query_string = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)

    payload = b""
    if op.body_schema is not None:
        if body is not None and not isinstance(body, Mapping):
            raise InputValidationError(f"{op.name}: body must be a mapping, got {type(body).__name__}", field="body")
        fields = dict(body or {})
        for name in op.shared_bindings:
            if fields.get(name) is None and name in resolved and name in (op.body_schema.get("properties") or ()):
                fields[name] = resolved[name]  # a body property that is also a binding: a bound value feeds both
        document = validate(fields, op.body_schema, "")
        try:
            # Serialised once; these exact bytes are digested, signed and sent on every attempt.
            payload = json.dumps(
                document, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
            ).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:
            raise InputValidationError(f"{op.name}: the body is not JSON-serialisable ({type(exc).__name__})") from None
        if len(payload) > MAX_BODY_BYTES:
            raise InputValidationError(
                f"{op.name}: the body is {len(payload)} bytes; the server refuses more than {MAX_BODY_BYTES}",
                field="body",
            )
        headers["Content-Type"] = "application/json"

    key = None
    if op.write:
        key = new_idempotency_key(idempotency_key)
        headers["Idempotency-Key"] = key

    base = root_url if op.surface == "root" else base_url
    rest = route + (f"?{query_string}" if query_string else "")
    return PreparedCall(op.method, base + rest, _path_of(base) + rest, headers, payload, key, auth)
