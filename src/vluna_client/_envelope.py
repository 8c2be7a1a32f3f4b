"""Reading Vluna's response envelope ``{ok, code, message, data, hints, meta}`` into results or errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Optional

from ._errors import APIError, RateLimitError, error_class
from ._result import Hint
from ._retry import parse_retry_after
from ._validation import MAX_NESTING


class Envelope:
    """The decoded parts of one answer (read-only by convention; nothing changes one once decoded).

    A plain slotted class rather than an attrs one: one is built for every answer, and the module loads with the
    client's first import.
    """

    __slots__ = ("code", "data", "hints", "message", "meta", "ok", "raw", "status")

    def __init__(
        self,
        status: int,
        ok: bool,
        code: Optional[str],
        message: str,
        data: Any,
        hints: tuple[Hint, ...],
        meta: Mapping[str, Any],
        raw: Any,
    ) -> None:
        self.status = status
        self.ok = ok
        self.code = code
        self.message = message
        self.data = data
        self.hints = hints
        self.meta = meta
        self.raw = raw

    def __repr__(self) -> str:
        return f"Envelope(status={self.status!r}, ok={self.ok!r}, code={self.code!r}, message={self.message!r})"


def _text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


class UnreadableAnswer(Exception):
    """An answer that cannot be taken in safely (nested deeper than the limit); what it said is unknown."""


def _too_deep(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest deeper than ``limit`` (iterative: no recursion on hostile input)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def decode(status: int, body: bytes) -> Envelope:
    """Decode a body of any shape the server (or a proxy in front of it) may send.

    Raises:
        UnreadableAnswer: the JSON nests deeper than :data:`MAX_NESTING` levels.
    """
    try:
        raw: Any = json.loads(body) if body else None
    except RecursionError:
        raise UnreadableAnswer(f"the answer nests deeper than {MAX_NESTING} levels") from None
    except ValueError:
        raw = _text(body)
    # Counting brackets is cheap; only an answer with enough of them can be too deep, and only then is it walked.
    if (
        isinstance(raw, (dict, list))
        and body.count(b"[") + body.count(b"{") > MAX_NESTING
        and _too_deep(raw, MAX_NESTING + 1)
    ):
        raise UnreadableAnswer(f"the answer nests deeper than {MAX_NESTING} levels")
    if not isinstance(raw, Mapping):
        # Not an envelope (proxy error page, empty body): the status alone decides.
        text = raw if isinstance(raw, str) else ""
        return Envelope(status, 200 <= status < 300, None, text[:500], raw, (), {}, raw)
    hints = tuple(Hint.from_wire(h) for h in raw.get("hints") or () if h is not None)
    raw_meta = raw.get("meta")
    meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
    code = raw.get("code")
    message = raw.get("message")
    if isinstance(message, list):  # NestJS outside production may send a list of messages
        message = "; ".join(str(m) for m in message)
    # Outside production the server sends `{statusCode, message}` without `ok`; trust the status then.
    ok = bool(raw.get("ok", 200 <= status < 300)) and 200 <= status < 300
    return Envelope(
        status=status,
        ok=ok,
        code=str(code) if code is not None else None,
        message=str(message) if message is not None else "",
        data=raw.get("data"),
        hints=hints,
        meta=meta,
        raw=raw,
    )


def to_error(
    env: Envelope,
    *,
    operation: str,
    idempotency_key: Optional[str],
    request_id: Optional[str],
    retry_after: Optional[float] = None,
) -> APIError:
    """The exception for a failed answer, with every envelope field kept."""
    # An `ok:false` body under a 2xx status is still a failure; report it as a server error.
    status = 500 if 200 <= env.status < 300 else env.status
    fields: dict[str, Any] = {
        "status": status,
        "code": env.code,
        "hints": env.hints,
        "meta": env.meta,
        "operation": operation,
        "idempotency_key": idempotency_key,
        "request_id": request_id,
        "body": env.raw,
    }
    cls = error_class(status)
    if issubclass(cls, RateLimitError):
        return cls(env.message or f"HTTP {env.status}", retry_after=retry_after, **fields)
    return cls(env.message or f"HTTP {env.status}", **fields)


def rate_limit_wait(env: Envelope, header: Optional[str]) -> Optional[float]:
    """The wait a 429 asks for: the ``Retry-After`` header, else the ``rate.limit`` hint's ``seconds``."""
    wait = parse_retry_after(header)
    if wait is None:
        hint = next((h for h in env.hints if h.type == "rate.limit"), None)
        seconds = hint.get("seconds") if hint else None
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds >= 0:
            wait = float(seconds)
    return wait
