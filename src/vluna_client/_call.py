"""One call's arguments as one immutable value, so a retry or the next page is a copy, not a re-plumbing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import attrs

from ._redact import redacted
from ._timeout import TimeoutTypes

_EMPTY: Mapping[str, Any] = {}


@attrs.frozen
class CallArgs:
    """What a generated method hands to the client for one operation.

    Attributes:
        path: Path parameters by wire name.
        query: Query parameters by wire name (``None`` values are left out).
        body: JSON body properties by wire name, or ``None`` for a body-less request.
        bindings: Context values (``principal_id``, ``user_id``, ...) given to this call; ``None`` falls back to the
            values of ``client.bind(...)``.
        idempotency_key: The caller's key for a write, or ``None`` for a fresh one.
        timeout: The per-call timeout, or ``None`` for the client's.
        bearer_token: A per-call bearer token replacing the client's own credentials (routes that take one).
    """

    path: Mapping[str, Any] = _EMPTY
    query: Mapping[str, Any] = _EMPTY
    body: Optional[Mapping[str, Any]] = None
    bindings: Mapping[str, Any] = _EMPTY
    idempotency_key: Optional[str] = None
    timeout: TimeoutTypes = None
    bearer_token: Optional[str] = attrs.field(default=None, repr=redacted)

    def next_page(self, cursor: str) -> CallArgs:
        """The same call for the page after ``cursor`` (reads carry no key, so nothing else changes)."""
        return attrs.evolve(self, query={**self.query, "cursor": cursor})
