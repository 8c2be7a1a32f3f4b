"""Write the emulator's compact copy of ``openapi/*.yaml``: ``src/vluna_client/testing/_spec_data/operations.json``.

The emulator answers every operation the specs describe, but it ships inside the wheel where no ``openapi/`` folder
exists and it may use the standard library only (no YAML parser). So this module reduces the specs to what the
emulator needs, as deterministic JSON (:class:`EmulatorData`): per operation its route, guards (authentication
class, bindings, idempotency), the request and response schemas, and how it acts on an in-memory resource family
(``kind``, ``family``, key and parent parameters). It reads the specs through the client generator's reader
(:func:`codegen.spec.load_api`), so the success status, bindings, idempotency and retry rule are the ones the client
is generated with. Schemas keep their names; ``$ref`` becomes ``{"$ref": "<SchemaName>"}`` (names are unique
across the spec files). ``nox -s codegen_check`` regenerates it and fails on drift.

Run it as ``python -m codegen.emulator_spec`` (``nox -s codegen`` does).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Optional

# The file's shape is declared once, beside the emulator that reads it (and checks it on load against the same types).
from vluna_client._config import SURFACE_PREFIX
from vluna_client.testing._spec_data.spec_types import (
    Auth,
    Bindings,
    EmulatorData,
    EmulatorOperation,
    EmulatorRoute,
    Kind,
)

from .ir import HTTP_METHODS, ApiSpec, OperationSpec, SourceSpec
from .resolver import ROOT
from .spec import load_api

__all__ = ["EmulatorData", "EmulatorOperation", "EmulatorRoute", "build", "main", "render"]

OUT = ROOT / "src" / "vluna_client" / "testing" / "_spec_data" / "operations.json"

DROP_KEYS = {"description", "summary", "example", "examples", "title", "externalDocs", "deprecated"}
PREFIXES = tuple(SURFACE_PREFIX.values())  # the clients' path prefixes, from the runtime's table
# A status change an action verb makes on its resource (only when the action answers the resource itself).
VERB_STATUS = {"close": "closed", "disable": "disabled", "restore": "active", "revoke": "revoked"}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="fail when --out differs from what the specs give")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.out.exists() or args.out.read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{args.out} is out of date; run `python -m codegen.emulator_spec`\n")
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return 0


def render() -> str:
    """The JSON text, byte-stable (sorted keys, no spaces), one trailing newline."""
    return json.dumps(build(), sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"


def build(api: Optional[ApiSpec] = None) -> EmulatorData:
    """The emulator's data: operations (sorted by path and method) and the named schemas."""
    builder = Builder(api or load_api())
    operations = sorted(builder.classify(), key=lambda op: (op["path"], op["method"]))
    return {"operations": operations, "schemas": dict(sorted(builder.schemas.items()))}


def _compact(node: Any) -> Any:
    """Drop documentation keys and rewrite schema references to bare names."""
    if isinstance(node, dict):
        if "$ref" in node:
            return {"$ref": _ref_name(node["$ref"])}
        out = {}
        for key, value in node.items():
            if key in DROP_KEYS or key.startswith("x-"):
                continue
            if key == "properties" and isinstance(value, dict):
                # Property names are data, not documentation: a property may well be called `description`.
                out[key] = {name: _compact(schema) for name, schema in value.items()}
            else:
                out[key] = _compact(value)
        return out
    if isinstance(node, list):
        return [_compact(item) for item in node]
    return node


def _ref_name(pointer: str) -> str:
    return str(pointer).rsplit("/", 1)[-1]


def _route(op: OperationSpec, source: SourceSpec) -> EmulatorRoute:
    """The emulator's view of one operation of the reader's model."""
    return {
        "operation_id": op.operation_id,
        "area": op.area,
        "method_name": op.method_name,
        "method": op.http_method,
        "path": op.path,
        "auth": _auth(op, source),
        "bindings": _bindings(op),
        "idempotent": op.write,
        "not_served": op.not_served,
        "replay_hangs": op.retry == "answered",
        "pagination": op.pagination,
        "status": op.success_status,
        "path_params": {name: _compact(schema) for name, schema in source.path_params.items()},
        "query": {name: _compact(schema) for name, schema in source.query_params.items()},
        "body": _compact(source.body) if source.body is not None else None,
        "body_required": source.body_required,
        "data": _compact(source.data),
    }


def _auth(op: OperationSpec, source: SourceSpec) -> Auth:
    """Which credentials the emulator accepts for the operation."""
    if op.bearer_override:
        return "bootstrap"
    if not source.security:
        return "none"
    if source.security == {"serviceKey"}:
        return "service"
    if source.security == {"bearer"}:
        return "bearer"
    return "either"


def _bindings(op: OperationSpec) -> Bindings:
    """How the emulator checks the operation's identity headers, from the bindings the client sends."""
    names = {b.name: b.required for b in op.bindings}
    if names.get("principal_id") and "user_id" in names:
        return "runtime"
    if op.requires_one_of:
        return "account"
    if "principal_id" in names or "billing_account_id" in names:
        return "optional"
    return "none"


def _strip(path: str) -> str:
    for prefix in PREFIXES:
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    return path


def _params_of(path: str) -> list[str]:
    return re.findall(r"{([^}]+)}", path)


def _is_item(path: str) -> bool:
    return path.rstrip("/").rsplit("/", 1)[-1].startswith("{")


def _common_prefix(left: str, right: str) -> str:
    out = []
    for a, b in zip(left.split("/"), right.split("/")):
        if a != b:
            break
        out.append(a)
    return "/".join(out)


class Builder:
    """Collects operations, then classifies each against the resource families the paths describe."""

    def __init__(self, api: ApiSpec) -> None:
        self.schemas: dict[str, Any] = {}
        for _, schema_name, schema in api.components:
            if schema_name in self.schemas:
                raise SystemExit(f"schema name {schema_name} is defined twice")
            self.schemas[schema_name] = _compact(schema)
        routes = [(op, op.source) for op in api.routes if op.source is not None]
        # In the documents' order (files by name, paths as written, methods in HTTP_METHODS order): where two
        # routes could serve as a family's list or id schema, the first one written is taken.
        routes.sort(key=lambda r: (r[1].file, r[1].position, HTTP_METHODS.index(r[0].http_method.lower())))
        self.ops: list[EmulatorRoute] = [_route(op, source) for op, source in routes]

    # ----------------------------------------------------------------- schema helpers

    def deref(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            node = self.schemas[node["$ref"]]
        return node

    def properties(self, node: Any) -> list[str]:
        node = self.deref(node)
        if not isinstance(node, dict):
            return []
        names = list(node.get("properties", {}))
        for part in node.get("allOf", []):
            names += [n for n in self.properties(part) if n not in names]
        return names

    def list_item(self, op: EmulatorRoute) -> Any:
        """The item schema of a list answer (``data`` an array, or ``{items: [...]}``), else ``None``."""
        data = self.deref(op["data"])
        if not isinstance(data, dict):
            return None
        if data.get("type") == "array":
            return data.get("items")
        items = data.get("properties", {}).get("items")
        if isinstance(items, dict) and self.deref(items).get("type") == "array":
            return self.deref(items).get("items")
        return None

    # ----------------------------------------------------------------- families

    def classify(self) -> list[EmulatorOperation]:
        """Every operation with its ``kind`` and, when it acts on one, its resource ``family``.

        A family is a path template ending in a parameter (``/budgets/{budget_id}``, surface prefix removed): its
        resources are keyed by the values of that template's parameters, so ``/mgt/v1`` and ``/api/v1`` share them.
        A list or create on a collection with no such template (``/contracts/{contract_id}/terms``) uses the
        collection template itself as its family, keyed by its parent parameters and a generated key.
        """
        self.families: set[str] = set()
        for op in self.ops:
            parts = _strip(op["path"]).split("/")
            for index, part in enumerate(parts):
                if part.startswith("{"):
                    self.families.add("/".join(parts[: index + 1]))
        self.lists = {_strip(op["path"]): op for op in self.ops if op["method"] == "GET" and self.list_item(op)}
        return [self._classified(op) for op in self.ops]

    def _family_of_collection(self, stripped: str, schema: Any) -> str:
        for candidate in sorted(self.families):
            parent = candidate.rpartition("/")[0]
            if parent == stripped:
                return candidate
        props = self.properties(schema)
        first = props[0] if props else None
        matches = [f for f in sorted(self.families) if first is not None and _params_of(f)[-1] == first]
        matches = [f for f in matches if first not in _params_of(stripped)]
        if matches:
            return max(matches, key=lambda f: len(_common_prefix(f, stripped)))
        return stripped

    def _kind(self, op: EmulatorRoute) -> tuple[Kind, Optional[str], Optional[str]]:
        """The operation's kind, family and the status its verb sets."""
        path, method = op["path"], op["method"]
        stripped = _strip(path)
        parent_path, _, last = stripped.rpartition("/")
        if _is_item(path):
            item_kind: Kind = "get" if method == "GET" else "delete" if method == "DELETE" else "update"
            return item_kind, stripped, None
        if method == "GET" and self.list_item(op) is not None:
            return "list", self._family_of_collection(stripped, self.list_item(op)), None
        if method == "POST" and (
            stripped in self.lists or any(f.rpartition("/")[0] == stripped for f in self.families)
        ):
            body_items = self.deref(self.deref(op["body"] or {}).get("properties", {}).get("items"))
            if self.list_item(op) is not None and stripped in self.lists and isinstance(body_items, dict):
                # A bulk upsert answering the whole list.
                family = self._family_of_collection(stripped, self.list_item(self.lists[stripped]))
                return "create_many", family, None
            if self.list_item(op) is not None or self.deref(op["data"]) is None:
                return "call", None, None
            schema = self.list_item(self.lists[stripped]) if stripped in self.lists else op["data"]
            return "create", self._family_of_collection(stripped, schema), None
        if parent_path in self.families:
            verb_status = VERB_STATUS.get(last) if method == "POST" else None
            return ("read" if method == "GET" else "action"), parent_path, verb_status
        return "call", None, None

    def _classified(self, op: EmulatorRoute) -> EmulatorOperation:
        kind, family, verb_status = self._kind(op)
        collection = bool(family) and not _is_item(family or "")
        key_params = _params_of(family) if family else []
        id_field = key_params[-1] if family and not collection else None
        stripped = _strip(op["path"])
        collection_params = _params_of(stripped.rpartition("/")[0] if _is_item(op["path"]) else stripped)
        return {
            **op,
            "kind": kind,
            "family": family,
            "verb_status": verb_status,
            "collection": collection,
            "key_params": key_params,
            "id_field": id_field,
            "id_schema": self._id_schema(family) if family and id_field else None,
            "parent_params": [p for p in collection_params if p != id_field],
            "natural_key": self._natural_key(op, kind, id_field),
        }

    def _id_schema(self, family: str) -> Any:
        param = _params_of(family)[-1]
        for op in self.ops:
            if param in op["path_params"] and _strip(op["path"]).startswith(family):
                return op["path_params"][param]
        return {"type": "string"}

    def _natural_key(self, op: EmulatorRoute, kind: Kind, id_field: Optional[str]) -> Optional[str]:
        """The body field that names a created resource (``<name>_code`` / ``<name>_key``): upserts match on it."""
        if kind != "create" or op["body"] is None or not id_field:
            return None
        stem = id_field[: -len("_id")] if id_field.endswith("_id") else id_field
        resource = self.properties(op["data"])
        for name in self.properties(op["body"]):
            base = name.rsplit("_", 1)[0]
            if name.endswith(("_code", "_key")) and name in resource and stem.endswith(base):
                return name
        return None


if __name__ == "__main__":
    raise SystemExit(main())
