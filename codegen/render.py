"""Text from the model: the Jinja environment of the endpoint templates and the Python the templates cannot say.

:func:`environment` is the entry point: the templates in ``codegen/templates/endpoints`` get the filters below.
Python literals (operation constants, validation schemas) are written by one line-filling rule, :func:`fill`: as
many entries to a line as fit in the width, an entry that cannot fit on a shared line on lines of its own. The
generated modules keep these literals between ``# fmt: off`` and ``# fmt: on``, so a long description or schema
reads as a short paragraph instead of one entry a line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import jinja2

from .ir import CLIENT_CLASSES, ApiSpec, AreaSpec, OperationSpec, ParamSpec, SchemaConstant
from .validation import SchemaRef

__all__ = [
    "SCHEMAS_MODULE",
    "WIDTH",
    "Ordered",
    "Piece",
    "call",
    "environment",
    "fill",
    "literal",
    "operation_args",
    "operation_literal",
    "send_call",
]

WIDTH = 120
SCHEMAS_MODULE = "schemas"  # the generated module of schema constants, as endpoint modules name it
TEMPLATES = Path(__file__).resolve().parent / "templates"


def environment() -> jinja2.Environment:
    """The Jinja environment of the endpoint templates, with this module's filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES / "endpoints")),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - renders Python source and Markdown, not HTML
    )
    env.filters.update(
        client_class=CLIENT_CLASSES.__getitem__,
        operation_literal=operation_literal,
        parameters=parameters,
        return_type=return_type,
        send_call=send_call,
        binding_note=binding_note,
        param_doc=param_doc,
        notes=notes,
        schema_statement=schema_statement,
        uses_schemas=uses_schemas,
    )
    return env


# ------------------------------------------------------------------------------------------------ the filling rule


@dataclass(frozen=True)
class Piece:
    """One entry of a literal: ``text`` as it reads on a shared line, or ``alone`` for lines of its own."""

    text: str
    alone: Optional[str] = None


def fill(pieces: Sequence[Piece], indent: str, width: int = WIDTH) -> list[str]:
    """The lines holding ``pieces`` in order, each line ``indent`` plus as many pieces as fit in ``width``."""
    lines: list[str] = []
    line = ""
    for piece in pieces:
        if piece.alone is not None:
            lines += [indent + line] if line else []
            lines.append(indent + piece.alone)
            line = ""
        elif line and len(indent) + len(line) + 1 + len(piece.text) > width:
            lines.append(indent + line)
            line = piece.text
        else:
            line = f"{line} {piece.text}" if line else piece.text
    if line:
        lines.append(indent + line)
    return lines


def call(head: str, args: Sequence[str], indent: str = "    ", width: int = WIDTH) -> str:
    """``head(arg, ...)`` on one line when it fits, else with its arguments filled below the head."""
    one = f"{head}({', '.join(args)})"
    if len(one) <= width:
        return one
    # An argument already spread over lines (a long schema) keeps lines of its own.
    pieces = [Piece(f"{arg},", f"{arg}," if "\n" in arg else None) for arg in args]
    return f"{head}(\n" + "\n".join(fill(pieces, indent, width)) + "\n)"


class Ordered(dict[str, Any]):
    """A dict written in insertion order (query parameters travel in the method's order), not sorted."""


def literal(value: Any, prefix: str = "", indent: str = "", width: int = WIDTH, lead: int = 0) -> str:
    """A deterministic Python literal (dict keys sorted unless :class:`Ordered`); schema constants get ``prefix``.

    What fits in ``width`` (after ``lead`` characters already on the line) stays on one line; a longer dict or list
    puts its entries on the following lines, filled.
    """
    flat = _flat(value, prefix)
    if max(lead, len(indent)) + len(flat) <= width or not isinstance(value, (dict, list)) or not value:
        return flat
    inner = indent + "    "
    if isinstance(value, dict):
        entries = [(f"{json.dumps(k)}: ", v) for k, v in _items(value)]
        opening, closing = "{", "}"
    else:
        entries = [("", v) for v in value]
        opening, closing = "[", "]"
    pieces = []
    for key, item in entries:
        text = f"{key}{_flat(item, prefix)},"
        # Too long even alone: this entry spreads over lines of its own.
        alone = key + literal(item, prefix, inner, width) + "," if len(inner) + len(text) > width else None
        pieces.append(Piece(text, alone))
    return opening + "\n" + "\n".join(fill(pieces, inner, width)) + "\n" + indent + closing


def _items(value: dict[str, Any]) -> list[tuple[str, Any]]:
    return list(value.items()) if isinstance(value, Ordered) else sorted(value.items())


def _flat(value: Any, prefix: str) -> str:
    if isinstance(value, SchemaRef):
        return prefix + value.name
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_flat(v, prefix)}" for k, v in _items(value)) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flat(v, prefix) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid Python literal too, in double quotes
    return repr(value)


# --------------------------------------------------------------------------------------------------- operations


def operation_literal(op: OperationSpec) -> str:
    """The generated ``_OP_X: Operation[...] = Operation(...)`` statement."""
    return call(f"{op.constant}: Operation[{_value_type(op)}] = Operation", operation_args(op))


def operation_args(op: OperationSpec) -> list[str]:
    """The arguments of the generated ``Operation(...)``: only those that differ from its defaults."""
    args = [json.dumps(op.qualified), json.dumps(op.operation_id), json.dumps(op.rel_path)]
    renames = "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in op.renames.items()) + "}"
    optional: list[tuple[str, str, str]] = [
        ("method", json.dumps(op.http_method), '"GET"'),
        ("surface", json.dumps(op.surface), '"service"'),
        ("write", str(op.write), "False"),
        ("bindings", _tuple([b.name for b in op.bindings]), "()"),
        ("required_bindings", _tuple([b.name for b in op.bindings if b.required]), "()"),
        ("requires_one_of", _tuple(op.requires_one_of), "()"),
        ("path_params", _tuple([p.wire for p in op.params if p.location == "path"]), "()"),
        ("query_schema", _schema_arg("query_schema", Ordered(op.query_schemas)), "{}"),
        ("body_schema", _schema_arg("body_schema", op.body_schema), "None"),
        ("whole_body", str(op.whole_body), "False"),
        ("renames", renames, "{}"),
        ("result_type", _value_type(op), "Any"),
        ("pagination", json.dumps(op.pagination), "null"),
        ("item_id", _tuple(op.item_id), "()"),
        ("not_served", str(op.not_served), "False"),
        ("success_status", str(op.success_status), "200"),
        ("retry", json.dumps(op.retry), '"read"'),
    ]
    return args + [f"{name}={value}" for name, value, default in optional if value != default]


def _value_type(op: OperationSpec) -> str:
    """What ``Operation[...]`` holds: the result type, or the item type of a page."""
    return (op.item_type if op.pagination else op.result_type) or "Any"


def _tuple(names: list[str]) -> str:
    if len(names) == 1:
        return f"({json.dumps(names[0])},)"
    return "(" + ", ".join(json.dumps(n) for n in names) + ")"


def _schema_arg(name: str, value: Any) -> str:
    """A validation schema as an argument of a generated ``Operation(...)``."""
    if value is None:
        return "None"
    return literal(value, prefix=f"{SCHEMAS_MODULE}.", indent="    ", lead=4 + len(name) + 1)


def uses_schemas(area: AreaSpec) -> bool:
    """Whether an operation's literal names a constant of the schemas module."""
    return any(f"{SCHEMAS_MODULE}." in arg for op in area.operations for arg in operation_args(op))


def parameters(op: OperationSpec) -> str:
    """The parameters of the generated method: its keywords, then bindings, key, token and timeout."""
    out = ["self", "*"]
    out += [f"{p.name}: {p.type_hint}" for p in op.params if p.required]
    out += [f"{p.name}: Optional[{p.type_hint}] = None" for p in op.params if not p.required]
    out += [f"{b.name}: Optional[{'bool' if b.name == 'realm_admin' else 'str'}] = None" for b in op.bindings]
    out += ["idempotency_key: Optional[str] = None"] if op.write else []
    out += ["bearer_token: Optional[str] = None"] if op.bearer_override else []
    return ", ".join([*out, "timeout: TimeoutTypes = None"])


def send_call(op: OperationSpec) -> str:
    """What the generated method returns: its operation and a ``CallArgs`` naming every argument explicitly.

    Each part maps wire names to the method's keywords, so the wire mapping is fixed here, not looked up at run
    time. An argument left unset is passed as ``None`` and the core leaves it out (a binding falls back to
    ``client.bind``), so every keyword the part takes is always listed. A keyword shared by a binding and a query
    filter or body property (``billing_account_id``) is the binding's argument, feeding both.
    """
    keyword = {p.wire: p.name for p in op.params if p.location in ("query", "body")}
    parts: list[tuple[str, list[str]]] = [
        ("path", [p.name for p in op.params if p.location == "path"]),
        ("query", [wire for wire, _ in op.query_schemas]),
    ]
    if op.body_schema is not None and not op.whole_body:
        # Sorted by wire name, as the schemas module lists a body's properties: the validator meets them (and
        # reports the first problem) in this order.
        body = [p.wire for p in op.params if p.location == "body"] + op.merged_body
        parts.append(("body", sorted(body)))
    args = [
        f"{part}={{" + ", ".join(f"{json.dumps(wire)}: {keyword.get(wire, wire)}" for wire in wires) + "}"
        for part, wires in parts
        if wires or part == "body"
    ]
    if op.bindings:
        # A binding's keyword is its name, even where a body property of that name is renamed (billing_account_ids).
        args.append("bindings={" + ", ".join(f"{json.dumps(b.name)}: {b.name}" for b in op.bindings) + "}")
    args += ["body=body"] if op.whole_body else []
    args += ["idempotency_key=idempotency_key"] if op.write else []
    args += ["bearer_token=bearer_token"] if op.bearer_override else []
    args.append("timeout=timeout")
    method = "_send_page" if op.pagination else "_send"
    return f"self.{method}({op.constant}, CallArgs({', '.join(args)}))"


def return_type(op: OperationSpec) -> str:
    """The generated method's return annotation."""
    return f"Page[{op.item_type}]" if op.pagination else f"Result[{op.result_type}]"


def binding_note(op: OperationSpec) -> str:
    """The docstring sentence on the bindings an operation needs or accepts (without its full stop)."""
    required = [b.name for b in op.bindings if b.required]
    if required:
        text = "Needs " + " and ".join(required) + " (here or bound with ``client.bind``)"
    else:
        text = "Optional bindings: " + ", ".join(b.name for b in op.bindings)
    return text + ("; at least one of " + ", ".join(op.requires_one_of) if op.requires_one_of else "")


def param_doc(param: ParamSpec) -> str:
    """A keyword's line of the docstring's ``Args``: its description, and the keys an object argument takes.

    A docstring that only says "the meters value" leaves the caller guessing what a meter looks like.
    """
    if param.location == "whole_body":
        return param.description or "The JSON body."
    keys = ", ".join(f"``{key.name}``" + (" (required)" if key.required else "") for key in param.keys)
    note = f"{'Each item takes' if param.item_keys else 'Keys'} {keys}." if keys else ""
    text = " ".join(part for part in (param.description, note) if part)
    return text or f"The {param.wire} {param.location} value."


def notes(op: OperationSpec) -> str:
    """The notes column of the API reference."""
    retry = {"answered": "retried only if answered", "unsent": "retried only if unsent"}.get(op.retry, "")
    found = [
        "write" if op.write else "",
        "pages" if op.pagination else "",
        "runtime bindings" if any(b.required for b in op.bindings) else "",
        retry,
        "not served" if op.not_served else "",
        "known server issue" if op.known_issue else "",
    ]
    return ", ".join(n for n in found if n)


def schema_statement(schema: SchemaConstant) -> str:
    """One constant of the generated schemas module."""
    head = f"{schema.constant}: dict[str, Any] = "
    return head + literal(schema.value, lead=len(head))


def schema_statements(api: ApiSpec) -> list[str]:
    """Every statement of the generated schemas module, in order."""
    return [schema_statement(s) for s in api.schemas]
