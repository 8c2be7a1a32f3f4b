"""Generated methods name their arguments explicitly, and the mapping they write is the operation's own table.

Each generated method returns ``self._send(_OP_X, CallArgs(...))`` with every part spelled out (wire name ->
keyword). These tests hold that text to the runtime's parameter table (``Operation.params``, derived from the
operation's renames, path parameters and query and body schemas), for every generated operation of both clients:
a keyword sent under the wrong wire name, to the wrong part, or missing from a part fails here.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest

from vluna_client._area import AreaApi
from vluna_client._call import CallArgs
from vluna_client._generated.operations import OPERATIONS
from vluna_client._operation import Operation

ENDPOINTS = Path(importlib.import_module("vluna_client._generated.endpoints").__file__ or "").parent
# The keywords every method may take beyond its parameter table, and where they go.
EXTRAS = ("idempotency_key", "bearer_token", "timeout")


class _Recorder:
    """An area host that keeps what the method handed it instead of sending anything."""

    def __init__(self) -> None:
        self.calls: list[tuple[Operation[Any], CallArgs]] = []

    def _execute(self, op: Operation[Any], args: CallArgs) -> Any:
        self.calls.append((op, args))
        return None


def _required(method: Any) -> dict[str, Any]:
    """A value for each keyword ``method`` cannot go without (a mapping for a whole body)."""
    return {
        name: {"free": "form"} if name == "body" else f"<{name}>"
        for name, parameter in inspect.signature(method).parameters.items()
        if parameter.default is inspect.Parameter.empty
    }


def _area_class(module: Any) -> type[AreaApi]:
    (found,) = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, AreaApi) and value.__module__ == module.__name__
    ]
    return found


def _expected(op: Operation[Any], given: dict[str, Any]) -> CallArgs:
    """The call ``op``'s table says these keyword values make (merged names feed their part and the binding)."""
    keyword = {wire: python for python, wire in op.renames.items()}

    def part(wires: Any) -> dict[str, Any]:
        return {wire: given[keyword.get(wire, wire)] for wire in wires}

    body = None
    if op.whole_body:
        body = given["body"]
    elif op.body_schema is not None:
        body = part(op.body_schema.get("properties", {}))
    return CallArgs(
        path=part(op.path_params),
        query=part(op.query_schema),
        body=body,
        bindings={name: given[name] for name in op.bindings},
        idempotency_key=given.get("idempotency_key"),
        timeout=given.get("timeout"),
        bearer_token=given.get("bearer_token"),
    )


def _parts(args: CallArgs) -> tuple[Any, ...]:
    """A call's parts with their key order (the validator meets body properties in this order)."""

    def ordered(mapping: Any) -> Any:
        return None if mapping is None else list(mapping.items())

    return (
        ordered(args.path),
        ordered(args.query),
        ordered(args.body),
        ordered(args.bindings),
        args.idempotency_key,
        args.timeout,
        args.bearer_token,
    )


@pytest.mark.parametrize("row", OPERATIONS, ids=[f"{r[0]}.{r[1]}.{r[2]}" for r in OPERATIONS])
def test_every_method_sends_each_keyword_under_its_wire_name_in_its_part(row: Any) -> None:
    method_name, module_name, constant = row[2:5]
    module = importlib.import_module(module_name)
    op: Operation[Any] = getattr(module, constant)
    host = _Recorder()
    method = getattr(_area_class(module)(host), method_name)
    keywords = [name for name in inspect.signature(method).parameters]
    # A distinct value per keyword (timeout a number, as the core reads it), so a swapped pair shows.
    given: dict[str, Any] = {name: f"<{name}>" for name in keywords}
    given["timeout"] = 7.5
    if op.whole_body:
        given["body"] = {"free": "form"}
    method(**given)
    ((sent_op, args),) = host.calls
    assert sent_op is op
    assert _parts(args) == _parts(_expected(op, given))
    # Every keyword of the signature reaches the call: none is dropped on the way.
    table = {p.python for p in op.params}
    assert set(keywords) <= table | set(EXTRAS)


@pytest.mark.parametrize("row", OPERATIONS, ids=[f"{r[0]}.{r[1]}.{r[2]}" for r in OPERATIONS])
def test_an_omitted_optional_argument_is_sent_as_none_for_the_core_to_leave_out(row: Any) -> None:
    module = importlib.import_module(row[3])
    op: Operation[Any] = getattr(module, row[4])
    host = _Recorder()
    method = getattr(_area_class(module)(host), row[2])
    required = _required(method)
    method(**required)
    ((_, args),) = host.calls
    given = {p.python: None for p in op.params} | dict.fromkeys(EXTRAS) | required
    assert _parts(args) == _parts(_expected(op, given))


def test_no_generated_method_reads_its_locals() -> None:
    """The wire mapping is written out, never looked up by local-variable name (``locals()``, ``vars()``)."""
    found = []
    for path in sorted(ENDPOINTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("locals", "vars"):
                found.append(f"{path.name}:{node.lineno}")
    assert not found
    assert len(list(ENDPOINTS.glob("*.py"))) > 30  # the endpoint modules were found at all


def test_a_renamed_keyword_travels_under_its_wire_name() -> None:
    """``from_`` (``from`` is a Python keyword) goes out as the ``from`` query parameter."""
    renamed = [row for row in OPERATIONS if getattr(importlib.import_module(row[3]), row[4]).renames]
    assert renamed  # the specs do rename some keywords
    for row in renamed:
        module = importlib.import_module(row[3])
        op: Operation[Any] = getattr(module, row[4])
        host = _Recorder()
        method = getattr(_area_class(module)(host), row[2])
        method(**_required(method), **{python: f"<{python}>" for python in op.renames})
        ((_, args),) = host.calls
        for python, wire in op.renames.items():
            sent = {**args.path, **args.query, **(args.body or {})}
            assert sent[wire] == f"<{python}>"
            assert python not in sent
