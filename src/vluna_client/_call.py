"""One call's arguments as one immutable value, so a retry or the next page is a copy, not a re-plumbing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from ._frozen import Frozen, set_slot
from ._timeout import TimeoutTypes

_EMPTY: Mapping[str, Any] = {}


class CallArgs(Frozen):
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

    _fields = ("path", "query", "body", "bindings", "idempotency_key", "timeout", "bearer_token")
    __slots__ = _fields
    _hidden = frozenset({"bearer_token"})

    path: Mapping[str, Any]
    query: Mapping[str, Any]
    body: Optional[Mapping[str, Any]]
    bindings: Mapping[str, Any]
    idempotency_key: Optional[str]
    timeout: TimeoutTypes
    bearer_token: Optional[str]

    def __init__(
        self,
        path: Mapping[str, Any] = _EMPTY,
        query: Mapping[str, Any] = _EMPTY,
        body: Optional[Mapping[str, Any]] = None,
        bindings: Mapping[str, Any] = _EMPTY,
        idempotency_key: Optional[str] = None,
        timeout: TimeoutTypes = None,
        bearer_token: Optional[str] = None,
    ) -> None:
        set_slot(self, "path", path)
        set_slot(self, "query", query)
        set_slot(self, "body", body)
        set_slot(self, "bindings", bindings)
        set_slot(self, "idempotency_key", idempotency_key)
        set_slot(self, "timeout", timeout)
        set_slot(self, "bearer_token", bearer_token)

    def next_page(self, cursor: str) -> CallArgs:
        """The same call for the page after ``cursor`` (reads carry no key, so nothing else changes)."""
        return self.replaced(query={**self.query, "cursor": cursor})
