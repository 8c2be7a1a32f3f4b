"""The typed shape of the emulator's spec data (``testing/_spec_data/operations.json``), defined once.

``codegen/emulator_spec.py`` writes the file as an :class:`EmulatorData` (it imports these types) and the emulator
reads it back through :func:`checked`, so the generator's output and the engine's reads are checked against the
same declarations. Schemas stay plain JSON-schema mappings (:data:`Schema`): their shape is JSON Schema's, not ours.
It imports the standard library only, no other module of the package.
"""

from __future__ import annotations

import functools
import typing
from typing import Any, Dict, List, Literal, Optional, TypedDict, cast

__all__ = [
    "Auth",
    "Bindings",
    "EmulatorData",
    "EmulatorOperation",
    "EmulatorRoute",
    "Kind",
    "Pagination",
    "Schema",
    "SpecDataError",
    "checked",
]

Schema = Dict[str, Any]
"""A compacted JSON schema: documentation keys dropped, ``$ref`` rewritten to ``{"$ref": "<SchemaName>"}``."""

Auth = Literal["bootstrap", "none", "service", "bearer", "either"]
"""The credentials an operation accepts: ``bootstrap`` (a DAT bootstrap token), none, SVC-AUTH, bearer, either."""
Bindings = Literal["runtime", "account", "optional", "none"]
"""How an operation's identity headers are checked (see :class:`~vluna_client.testing._routes.Route`)."""
Kind = Literal["get", "delete", "update", "list", "create_many", "call", "create", "read", "action"]
"""How an operation acts on its resource family (``call``: on none; it answers from its schema)."""
Pagination = Literal["meta", "items"]
"""Where a list's cursor travels: the envelope's ``meta``, or beside the ``items`` in ``data``."""


class EmulatorRoute(TypedDict):
    """What the emulator's data says about one operation's route, guards and schemas."""

    operation_id: str
    area: str
    method_name: str
    method: str  # upper case
    path: str
    auth: Auth
    bindings: Bindings
    idempotent: bool
    not_served: bool
    replay_hangs: bool
    pagination: Optional[Pagination]
    status: int
    path_params: Dict[str, Schema]
    query: Dict[str, Schema]
    body: Optional[Schema]
    body_required: bool
    data: Optional[Schema]


class EmulatorOperation(EmulatorRoute):
    """One entry of ``operations``: the route and how it acts on its resource family."""

    kind: Kind
    family: Optional[str]
    verb_status: Optional[str]
    collection: bool
    key_params: List[str]
    id_field: Optional[str]
    id_schema: Optional[Schema]
    parent_params: List[str]
    natural_key: Optional[str]


class EmulatorData(TypedDict):
    """The whole of ``operations.json``."""

    operations: List[EmulatorOperation]
    schemas: Dict[str, Schema]  # name -> compacted schema


class SpecDataError(ValueError):
    """The spec data does not have the declared shape (a stale or hand-edited ``operations.json``)."""


def checked(raw: object) -> EmulatorData:
    """``raw`` (parsed JSON) as :class:`EmulatorData`, after checking every field against its declaration.

    Schemas are checked to be objects, not against JSON Schema. Raises :class:`SpecDataError` naming the first
    field that differs (the file is generated: a difference means it is stale or was edited by hand).
    """
    problem = _problem(raw, EmulatorData, "operations.json")
    if problem is not None:
        raise SpecDataError(problem)
    return cast(EmulatorData, raw)


@functools.cache
def _fields(shape: Any) -> Dict[str, Any]:
    # get_type_hints evaluates the postponed annotations and includes the fields a TypedDict inherits.
    return typing.get_type_hints(shape)


def _is_typed_dict(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, dict) and hasattr(hint, "__required_keys__")


def _problem(value: object, hint: Any, where: str) -> Optional[str]:
    """What is wrong with a JSON value given a field's declaration, or ``None`` when it fits."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if _is_typed_dict(hint):
        if not isinstance(value, dict):
            return f"{where}: expected an object"
        fields = _fields(hint)
        extra, missing = sorted(set(value) - set(fields)), sorted(set(fields) - set(value))
        if extra or missing:
            return f"{where}: unexpected fields {extra}, missing fields {missing}"
        problems = (_problem(value[name], field, f"{where}.{name}") for name, field in fields.items())
        return next((p for p in problems if p is not None), None)
    if origin is list:
        if not isinstance(value, list):
            return f"{where}: expected a list"
        problems = (_problem(item, args[0], f"{where}[{index}]") for index, item in enumerate(value))
        return next((p for p in problems if p is not None), None)
    if origin is dict:
        if not isinstance(value, dict):
            return f"{where}: expected an object"
        if args[1] is Any:
            return None  # a schema: JSON Schema's shape, not checked here
        problems = (_problem(item, args[1], f"{where}.{key}") for key, item in value.items())
        return next((p for p in problems if p is not None), None)
    return None if _fits(value, hint) else f"{where}: {value!r} is not {hint}"


def _fits(value: object, hint: Any) -> bool:
    """Whether a JSON scalar (or ``Any`` value) fits a declaration without containers of its own."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return value in args
    if origin is typing.Union:
        return any(_problem(value, arg, "") is None for arg in args)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not a status code
    return isinstance(value, hint)
