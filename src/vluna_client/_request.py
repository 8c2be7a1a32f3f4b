"""Turning one call's arguments into a request, with no I/O: validation, URL, headers and body bytes.

Everything here runs before the first attempt, so bad input fails fast and nothing is half-sent; the bytes built
here are the ones every attempt digests, signs and sends. :func:`build_call` takes what the client contributes to
every request (its :class:`RequestBase`) and what one call contributes (its :class:`~vluna_client._call.CallArgs`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import quote, urlsplit

from ._call import CallArgs
from ._errors import InputValidationError
from ._frozen import Frozen, set_slot
from ._headers import BINDING_HEADERS, REALM_ADMIN_HEADER, header_value
from ._keys import new_idempotency_key
from ._operation import Operation
from ._validation import MAX_SAFE_INTEGER, check_text, validate

if TYPE_CHECKING:
    from ._auth import Auth  # only the type: the client picks a call's credentials and passes them in

#: The largest request body the server reads (its JSON body limit, 1 MiB); a larger one is refused locally.
MAX_BODY_BYTES = 1024 * 1024

# One encoder for every body (json.dumps with these options would build a new one per call); it keeps no state
# between calls, so threads share it.
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False)


class RequestBase(Frozen):
    """What a client adds to every request it builds; ``client.bind(...)`` evolves a copy with more bindings.

    Attributes:
        base_url: The surface's base URL (``.../mgt/v1`` or ``.../api/v1``), already checked.
        root_url: The server's root, for ``surface="root"`` operations (``/health``).
        realm_id: Sent as ``X-Realm-Id``.
        headers: Sent on every request (``Accept``, ``User-Agent``...), before the call's own.
        auth: The client's credentials; a call's ``bearer_token`` replaces them for that call.
        bindings: Values of ``client.bind(...)`` by keyword; a value passed to a call wins.
    """

    _fields = ("base_url", "root_url", "realm_id", "headers", "auth", "bindings")
    __slots__ = _fields
    _hidden = frozenset({"auth"})

    base_url: str
    root_url: str
    realm_id: str
    headers: Mapping[str, str]
    auth: Auth
    bindings: Mapping[str, Any]

    def __init__(
        self,
        base_url: str,
        root_url: str,
        realm_id: str,
        headers: Mapping[str, str],
        auth: Auth,
        bindings: Optional[Mapping[str, Any]] = None,
    ) -> None:
        set_slot(self, "base_url", base_url)
        set_slot(self, "root_url", root_url)
        set_slot(self, "realm_id", realm_id)
        set_slot(self, "headers", headers)
        set_slot(self, "auth", auth)
        # Plain dicts, never changed once built (a mapping proxy would not pickle, and a client travels to workers).
        set_slot(self, "bindings", {} if bindings is None else bindings)

    def bound(self, values: Mapping[str, Optional[str]]) -> RequestBase:
        """A copy whose bindings are the non-``None`` ``values`` over the current ones, each checked as a header."""
        checked = {name: header_value(name, value) for name, value in values.items() if value is not None}
        return self.replaced(bindings={**self.bindings, **checked})


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


def build_call(op: Operation[Any], base: RequestBase, args: CallArgs, auth: Auth) -> PreparedCall:
    """Validate a call's arguments and turn them into URL, headers and body bytes; raise before any I/O.

    A value of ``base.bindings`` (from ``client.bind(...)``) fills a binding the call leaves unset, and also a body
    property or query filter of the same name (e.g. ``billing_account_id``). ``auth`` is the strategy the caller
    chose for this call (the client's own, or one for the call's ``bearer_token``: see
    :func:`~vluna_client._auth.call_auth`); the prepared call applies it to each attempt.
    """
    route = _route(op, args.path)
    headers: dict[str, str] = {**base.headers, "X-Realm-Id": base.realm_id}
    resolved = _resolve_bindings(op, base.bindings, args.bindings, headers)
    query_string = _query_string(op, args.query, resolved)
    payload = b""
    if op.body_schema is not None:
        payload = _payload(op, op.body_schema, args.body, resolved)
        headers["Content-Type"] = "application/json"
    key = None
    if op.write:
        key = new_idempotency_key(args.idempotency_key)
        headers["Idempotency-Key"] = key
    url = base.root_url if op.surface == "root" else base.base_url
    rest = route + (f"?{query_string}" if query_string else "")
    return PreparedCall(op.method, url + rest, _path_of(url) + rest, headers, payload, key, auth)


def _route(op: Operation[Any], path: Mapping[str, Any]) -> str:
    """The operation's path with each parameter checked and percent-encoded into its segment."""
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
    return route


def _resolve_bindings(
    op: Operation[Any], defaults: Mapping[str, Any], given: Mapping[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    """Each binding's value (the call's, else the bound one) set as its header; the operation's needs checked."""
    resolved: dict[str, Any] = {}
    for name, value in given.items():
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
    return resolved


def _query_string(op: Operation[Any], query: Mapping[str, Any], resolved: Mapping[str, Any]) -> str:
    """The validated query parameters, percent-encoded in the operation's order (a list repeats its name)."""
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
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def _payload(
    op: Operation[Any], schema: Mapping[str, Any], body: Optional[Mapping[str, Any]], resolved: Mapping[str, Any]
) -> bytes:
    """The body validated against ``schema`` as the exact bytes every attempt digests, signs and sends."""
    if body is not None and not isinstance(body, Mapping):
        raise InputValidationError(f"{op.name}: body must be a mapping, got {type(body).__name__}", field="body")
    fields = dict(body or {})
    for name in op.shared_bindings:
        if fields.get(name) is None and name in resolved and name in (schema.get("properties") or ()):
            fields[name] = resolved[name]  # a body property that is also a binding: a bound value feeds both
    document = validate(fields, schema, "")
    try:
        payload = _ENCODER.encode(document).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise InputValidationError(f"{op.name}: the body is not JSON-serialisable ({type(exc).__name__})") from None
    if len(payload) > MAX_BODY_BYTES:
        raise InputValidationError(
            f"{op.name}: the body is {len(payload)} bytes; the server refuses more than {MAX_BODY_BYTES}",
            field="body",
        )
    return payload
