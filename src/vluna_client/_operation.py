"""The description of one API operation that generated endpoint code hands to the core."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Generic, Literal, Optional, TypeVar, get_args

from ._config import Surface as ClientSurface
from ._frozen import Frozen, set_slot
from ._result import Pagination as Pagination

T = TypeVar("T")

_NO_SCHEMAS: Mapping[str, Mapping[str, Any]] = MappingProxyType({})
_NO_RENAMES: Mapping[str, str] = MappingProxyType({})
# Where a keyword argument goes. "merged" is a query parameter or body property that shares a binding's keyword
# (billing_account_id): the one value is sent both as the binding header and in the query or body.
Location = Literal["path", "query", "body", "whole_body", "binding", "merged"]
# Which base URL a path is relative to: a client's (/mgt/v1, /api/v1; _config owns that list), or the server's root
# (/health).
Surface = Literal[ClientSurface, "root"]
# When a failed attempt may be repeated (the spec's x-vluna-retry); see Operation.retry.
RetryRule = Literal["read", "idempotent", "answered", "unsent"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
# The methods an operation may use, in the order the code generator and the API tests read a spec's path item.
HTTP_METHODS: tuple[HttpMethod, ...] = get_args(HttpMethod)


class Param(Frozen):
    """One keyword argument of a generated method and where its value travels.

    Attributes:
        python: The keyword argument's name.
        wire: The name on the wire (a path or query parameter, a body property, a binding's keyword).
        location: One of ``path``, ``query``, ``body``, ``whole_body``, ``binding`` or ``merged``.
    """

    _fields = ("python", "wire", "location")
    __slots__ = _fields

    python: str
    wire: str
    location: Location

    def __init__(self, python: str, wire: str, location: Location) -> None:
        set_slot(self, "python", python)
        set_slot(self, "wire", wire)
        set_slot(self, "location", location)


class Operation(Frozen, Generic[T]):
    """Everything the core needs to send one operation: route, schemas, bindings, result type.

    The generated code passes only what differs from the defaults.

    Attributes:
        name: ``area.method`` as seen from Python, used in errors and logs.
        operation_id: The spec's operationId.
        path: Path relative to the client's base URL (``/gate/authorize``), or absolute for ``surface="root"``.
        method: HTTP method.
        surface: ``service`` (``/mgt/v1``), ``bearer`` (``/api/v1``) or ``root`` (``/health``).
        write: The server deduplicates it by Idempotency-Key; the client sends one and may retry it.
        bindings: The context keywords the method takes (``principal_id``, ``user_id``, ...).
        required_bindings: Context values the call cannot go without (e.g. principal_id and user_id).
        requires_one_of: At least one of these bindings must be present.
        path_params: Wire names of the path parameters, in path order.
        query_schema: Validation schema per query parameter (wire name), in the method's order.
        body_schema: Validation schema of the JSON body, or ``None`` for a body-less request. Its top-level
            properties are the method's body keywords, unless ``whole_body``.
        whole_body: The body is a free-form object the caller passes whole as ``body=``.
        renames: Keyword name -> wire name, where they differ (``from_`` -> ``from``).
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
        params: The parameter table, derived from the fields above: every keyword argument (bar
            ``idempotency_key``, ``timeout`` and ``bearer_token``) with its wire name and location. The generated
            method names the same mapping explicitly in the ``CallArgs`` it sends (a codegen test holds them equal).
        shared_bindings: The ``merged`` names: bindings that are also a query filter or body property, so a
            value bound with ``client.bind(...)`` fills them when the call leaves them unset.
    """

    _fields = (
        "name",
        "operation_id",
        "path",
        "method",
        "surface",
        "write",
        "bindings",
        "required_bindings",
        "requires_one_of",
        "path_params",
        "query_schema",
        "body_schema",
        "whole_body",
        "renames",
        "result_type",
        "pagination",
        "item_id",
        "not_served",
        "success_status",
        "retry",
        "params",
        "shared_bindings",
    )
    __slots__ = _fields

    name: str
    operation_id: str
    path: str
    method: HttpMethod
    surface: Surface
    write: bool
    bindings: tuple[str, ...]
    required_bindings: tuple[str, ...]
    requires_one_of: tuple[str, ...]
    path_params: tuple[str, ...]
    query_schema: Mapping[str, Mapping[str, Any]]
    body_schema: Optional[Mapping[str, Any]]
    whole_body: bool
    renames: Mapping[str, str]
    result_type: Any
    pagination: Optional[Pagination]
    item_id: tuple[str, ...]
    not_served: bool
    success_status: int
    retry: RetryRule
    params: tuple[Param, ...]
    shared_bindings: tuple[str, ...]

    def __init__(
        self,
        name: str,
        operation_id: str,
        path: str,
        method: HttpMethod = "GET",
        surface: Surface = "service",
        write: bool = False,
        bindings: tuple[str, ...] = (),
        required_bindings: tuple[str, ...] = (),
        requires_one_of: tuple[str, ...] = (),
        path_params: tuple[str, ...] = (),
        query_schema: Mapping[str, Mapping[str, Any]] = _NO_SCHEMAS,
        body_schema: Optional[Mapping[str, Any]] = None,
        whole_body: bool = False,
        renames: Mapping[str, str] = _NO_RENAMES,
        result_type: Any = Any,
        pagination: Optional[Pagination] = None,
        item_id: tuple[str, ...] = (),
        not_served: bool = False,
        success_status: int = 200,
        retry: RetryRule = "read",
    ) -> None:
        given: tuple[Any, ...] = (name, operation_id, path, method, surface, write, bindings, required_bindings)
        given += (requires_one_of, path_params, query_schema, body_schema, whole_body, renames, result_type)
        given += (pagination, item_id, not_served, success_status, retry)
        for field, value in zip(self._fields, given):
            set_slot(self, field, value)
        table = _parameter_table(path_params, query_schema, body_schema, whole_body, renames, bindings)
        # The derived fields are set once, here.
        set_slot(self, "params", table)
        set_slot(self, "shared_bindings", tuple(p.wire for p in table if p.location == "merged"))

    @property
    def mutates(self) -> bool:
        """Whether the call may change state on the server, so a lost answer leaves its outcome unknown."""
        return self.retry != "read"


def _parameter_table(
    path_params: tuple[str, ...],
    query_schema: Mapping[str, Any],
    body_schema: Optional[Mapping[str, Any]],
    whole_body: bool,
    renames: Mapping[str, str],
    bindings: tuple[str, ...],
) -> tuple[Param, ...]:
    """Every keyword argument of an operation with its wire name and location (see :attr:`Operation.params`)."""
    keyword = {wire: python for python, wire in renames.items()}

    def pairs(wires: Any) -> tuple[tuple[str, str], ...]:
        return tuple((keyword.get(wire, wire), wire) for wire in wires)

    path, query = pairs(path_params), pairs(query_schema)
    body: tuple[tuple[str, str], ...] = ()
    if body_schema is not None and not whole_body:
        body = pairs(body_schema.get("properties", {}))
    shared = set(bindings)
    table = [Param(p, w, "path") for p, w in path]
    table += [Param(p, w, "merged" if p in shared else "query") for p, w in query]
    table += [Param(p, w, "merged" if p in shared else "body") for p, w in body]
    if whole_body:
        table.append(Param("body", "", "whole_body"))
    table += [Param(b, b, "binding") for b in bindings]
    return tuple(table)


@functools.cache
def operation_named(surface: str, name: str) -> Operation[Any]:
    """The generated write ``name`` (``gate.commit``) of a client surface (``service`` or ``bearer``).

    Raises:
        InputValidationError: there is no such operation, or it is not a write.
    """
    from ._errors import InputValidationError
    from ._generated.operations import OPERATIONS

    for client, area, method, module, constant, _, _ in OPERATIONS:
        if client == surface and f"{area}.{method}" == name:
            op: Operation[Any] = getattr(importlib.import_module(module), constant)
            if not op.write:
                raise InputValidationError(f"{name} is not a write: there is nothing to replay", field="operation")
            return op
    raise InputValidationError(f"the {surface} client has no operation {name!r}", field="operation")
