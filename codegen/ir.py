"""The typed model of the API that :mod:`codegen.spec` reads and every output is rendered from.

:class:`ApiSpec` holds the client areas (:class:`AreaSpec`, each a list of :class:`OperationSpec` with its
:class:`ParamSpec` keywords) and the validation schema constants. Nothing here renders text: the names end in
``Spec`` so they never read like the runtime's ``vluna_client._operation.Operation``, which the generated code
builds from them. Type expressions (``type_hint``, ``result_type``) are the one exception: the reader writes them
as Python text, since which model module a type lives in is decided while reading the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Optional, get_args

from vluna_client import _config, _operation

__all__ = [
    "CLIENT_CLASSES",
    "RETRY_RULES",
    "ApiSpec",
    "AreaKey",
    "AreaSpec",
    "BindingSpec",
    "Client",
    "KeySpec",
    "Location",
    "MixinSpec",
    "OperationSpec",
    "Pagination",
    "ParamSpec",
    "Retry",
    "SchemaConstant",
    "SourceSpec",
    "Surface",
]

# The clients a path is served by: the runtime's own list, the one its URL prefixes are keyed by.
Client = _config.Surface
# Where a keyword travels: a path or query parameter, a top-level body property, or the whole (free-form) body.
Location = Literal["path", "query", "body", "whole_body"]
# The states the generated Operation takes are the runtime's own types: a spec can only ask for what the core does.
# Where a path is served: under the service client's /mgt/v1, the bearer client's /api/v1, or at the root (both).
Surface = _operation.Surface
Pagination = _operation.Pagination
Retry = _operation.RetryRule
RETRY_RULES: tuple[Retry, ...] = get_args(_operation.RetryRule)
# The operations of a path item (its lower-case keys), in this order.
HTTP_METHODS = tuple(method.lower() for method in _operation.HTTP_METHODS)
CLIENT_CLASSES: dict[str, str] = {"service": "ServiceClient", "bearer": "BearerClient"}
AreaKey = tuple[Client, str]  # (client, area name): an area of one client


class KeySpec(NamedTuple):
    """A property of an object argument."""

    name: str
    required: bool


@dataclass
class ParamSpec:
    """One keyword argument of a generated method."""

    wire: str  # the name on the wire ("" for the whole body)
    name: str  # the Python keyword
    location: Location
    required: bool
    type_hint: str
    description: str  # the first sentence of the spec's, or ""
    schema: Any = None  # validation schema of a path or query parameter
    # The keys an object argument takes (of each item, when item_keys: a list of objects), for its docstring.
    keys: tuple[KeySpec, ...] = ()
    item_keys: bool = False


class MixinSpec(NamedTuple):
    """A hand-written base class of a generated area class (``codegen.config.AREA_MIXINS``)."""

    module: str  # absolute, e.g. ``vluna_client._bulk``
    name: str


class BindingSpec(NamedTuple):
    """A context binding the operation accepts (a header the core fills from ``client.bind`` or the keyword)."""

    name: str
    required: bool


@dataclass(frozen=True)
class SchemaConstant:
    """A named component schema, written once as a constant of ``_generated/schemas.py``."""

    constant: str
    value: Any


@dataclass(frozen=True)
class SourceSpec:
    """An operation's schemas as the spec writes them (``$ref`` kept), for outputs that copy schemas.

    The emulator's data keeps the schemas by name instead of the client's validation literals.
    """

    file: str
    position: int  # of the path among its document's paths, so a consumer can keep the document's order
    security: frozenset[str]  # the security schemes that may authenticate it (the document's when it names none)
    path_params: dict[str, Any]  # name -> schema
    query_params: dict[str, Any]  # name -> schema, the ones that share a binding's name included
    body: Optional[dict[str, Any]]  # the JSON request body's schema
    body_required: bool
    data: Optional[dict[str, Any]]  # the ``data`` schema of the success response; None when it has none


@dataclass
class OperationSpec:
    """One HTTP operation as a generated method of one client sees it."""

    operation_id: str
    client: Client
    area: str
    method_name: str
    http_method: str  # upper case
    path: str  # the full path of the spec
    rel_path: str  # the path below the client's base URL
    surface: Surface
    summary: str
    description: str
    params: list[ParamSpec]
    bindings: list[BindingSpec]
    write: bool  # sends an Idempotency-Key
    body_schema: Any
    result_type: str
    item_type: Optional[str]
    pagination: Optional[Pagination]
    not_served: bool
    requires_one_of: list[str]
    bearer_override: bool
    success_status: int
    query_schemas: list[tuple[str, Any]] = field(default_factory=list)  # (wire name, validation schema), in order
    whole_body: bool = False
    renames: dict[str, str] = field(default_factory=dict)  # keyword -> wire name where they differ
    # Body properties that share a binding's keyword (billing_account_id): the binding's argument fills them too.
    merged_body: list[str] = field(default_factory=list)
    retry: Retry = "read"
    known_issue: str = ""
    item_id: list[str] = field(default_factory=list)
    model_modules: set[str] = field(default_factory=set)
    constant: str = ""  # the name of its module-level Operation constant
    source: Optional[SourceSpec] = None

    @property
    def qualified(self) -> str:
        """``area.method``, as errors and logs name the operation."""
        return f"{self.area}.{self.method_name}"


@dataclass
class AreaSpec:
    """The operations of one client under one ``client.<area>`` attribute."""

    client: Client
    name: str
    operations: list[OperationSpec] = field(default_factory=list)
    model_modules: set[str] = field(default_factory=set)
    # Hand-written base classes from codegen.config.AREA_MIXINS, first in the MRO.
    mixins: tuple[MixinSpec, ...] = ()

    @property
    def module(self) -> str:
        """The endpoint module's name (``service_gate``)."""
        return f"{self.client}_{self.name}"

    @property
    def class_name(self) -> str:
        """The endpoint class's name (``ServiceGateApi``)."""
        prefix = CLIENT_CLASSES[self.client].replace("Client", "")
        return prefix + "".join(p.capitalize() for p in self.name.split("_")) + "Api"


@dataclass
class ApiSpec:
    """Everything the outputs are rendered from."""

    areas: list[AreaSpec]
    schemas: list[SchemaConstant] = field(default_factory=list)  # every constant after the ones it uses
    # One operation per path and method of the specs (an operation both clients serve is in the areas twice).
    routes: list[OperationSpec] = field(default_factory=list)
    # (file, name, schema) of every entry of components/schemas, in file order.
    components: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    # (file, name) of the component schemas that get no model: each is only ever a whole request body, whose
    # properties the method takes as keywords (validation uses the schemas module), so no code would use it.
    unmodelled: frozenset[tuple[str, str]] = frozenset()

    def by_client(self, client: str) -> list[AreaSpec]:
        """The areas of one client, in name order."""
        return [a for a in self.areas if a.client == client]

    @property
    def operations(self) -> list[OperationSpec]:
        """Every operation of every client and area."""
        return [op for a in self.areas for op in a.operations]
