"""The description of one API operation that generated endpoint code hands to the core."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, Optional, TypeVar

import attrs

T = TypeVar("T")


@attrs.frozen
class Operation(Generic[T]):
    """Everything the core needs to send one operation: route, schemas, bindings, result type.

    Attributes:
        name: ``area.method`` as seen from Python, used in errors and logs.
        operation_id: The spec's operationId.
        method: HTTP method.
        path: Path relative to the client's base URL (``/gate/authorize``), or absolute for ``surface="root"``.
        surface: ``service`` (``/mgt/v1``), ``bearer`` (``/api/v1``) or ``root`` (``/health``).
        write: The server deduplicates it by Idempotency-Key; the client sends one and may retry it.
        required_bindings: Context values the call cannot go without (e.g. principal_id and user_id).
        requires_one_of: At least one of these bindings must be present.
        path_params: Wire names of the path parameters, in path order.
        query_schema: Validation schema per query parameter.
        body_schema: Validation schema of the JSON body, or ``None`` for a body-less request.
        result_type: Type the ``data`` is structured into (the item type for paginated operations).
        pagination: ``meta`` or ``items`` for cursor-paginated lists.
        item_id: For a paginated list, the item field(s) that identify an item (``budget_id``), so a page
            iterator can drop an item that a later page repeats.
        not_served: In the contract, but the open-source server has no route for it.
        success_status: The status the server answers on success.
        retry: When a failed attempt may be repeated (the spec's ``x-vluna-retry``):

            - ``read``: no effect on the server; repeat after any failure.
            - ``idempotent``: the server deduplicates it by Idempotency-Key, or it is idempotent by nature (a
              delete, a revoke); repeat after any failure.
            - ``answered``: the server never answers a replayed key it stored (its handler writes its own reply),
              so repeat only after an answered 429/5xx or when the request surely never left.
            - ``unsent``: not deduplicated; repeat only after a 429 or when the request surely never left.
    """

    name: str
    operation_id: str
    method: str
    path: str
    surface: str
    write: bool
    required_bindings: tuple[str, ...]
    requires_one_of: tuple[str, ...]
    path_params: tuple[str, ...]
    query_schema: Mapping[str, Mapping[str, Any]]
    body_schema: Optional[Mapping[str, Any]]
    result_type: Any
    pagination: Optional[str]
    not_served: bool
    success_status: int
    retry: str = "read"
    item_id: tuple[str, ...] = ()

    @property
    def mutates(self) -> bool:
        """Whether the call may change state on the server, so a lost answer leaves its outcome unknown."""
        return self.retry != "read"
