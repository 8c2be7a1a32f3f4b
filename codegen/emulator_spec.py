"""Write the emulator's compact copy of ``openapi/*.yaml``: ``src/vluna_client/testing/_spec_data/operations.json``.

The emulator answers every operation the specs describe, but it ships inside the wheel where no ``openapi/`` folder
exists and it may use the standard library only (no YAML parser). So this script reduces the specs to what the
emulator needs, as deterministic JSON: per operation its route, guards (authentication class, bindings,
idempotency), the request and response schemas, and how it acts on an in-memory resource family (``kind``,
``family``, key and parent parameters). Schemas keep their names; ``$ref`` becomes ``{"$ref": "<SchemaName>"}``
(names are unique across the spec files). ``nox -s codegen_check`` regenerates it and fails on drift.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Optional

from .resolver import ROOT, SPEC_DIR, Resolver

OUT = ROOT / "src" / "vluna_client" / "testing" / "_spec_data" / "operations.json"

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
DROP_KEYS = {"description", "summary", "example", "examples", "title", "externalDocs", "deprecated"}
PREFIXES = ("/mgt/v1", "/api/v1")
# A status change an action verb makes on its resource (only when the action answers the resource itself).
VERB_STATUS = {"close": "closed", "disable": "disabled", "restore": "active", "revoke": "revoked"}


def _load(resolver: Resolver) -> dict[str, dict[str, Any]]:
    return {path.name: resolver.doc(path.name) for path in sorted(SPEC_DIR.glob("*.yaml"))}


def _ref_name(pointer: str) -> str:
    return pointer.rsplit("/", 1)[-1]


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


def _strip(path: str) -> str:
    for prefix in PREFIXES:
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    return path


def _params_of(path: str) -> list[str]:
    return re.findall(r"{([^}]+)}", path)


def _is_item(path: str) -> bool:
    return path.rstrip("/").rsplit("/", 1)[-1].startswith("{")


def _data_schema(op: dict[str, Any]) -> Optional[dict[str, Any]]:
    for code, response in op.get("responses", {}).items():
        if not str(code).startswith("2"):
            continue
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return None
        for part in schema.get("allOf", []):
            data = part.get("properties", {}).get("data")
            if data is not None:
                return dict(data)
    return None


def _success_status(op: dict[str, Any]) -> int:
    if "x-vluna-success-status" in op:
        return int(op["x-vluna-success-status"])
    return int(next(code for code in op.get("responses", {}) if str(code).startswith("2")))


def _auth(op: dict[str, Any], doc: dict[str, Any]) -> str:
    if op.get("x-vluna-auth") == "bearer-override":
        return "bootstrap"
    schemes = {name for requirement in op.get("security", doc.get("security", [])) for name in requirement}
    if not schemes:
        return "none"
    if schemes == {"serviceKey"}:
        return "service"
    if schemes == {"bearer"}:
        return "bearer"
    return "either"


class Builder:
    """Collects operations, then classifies each against the resource families the paths describe."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        docs = _load(resolver)
        self.schemas: dict[str, Any] = {}
        self.ops: list[dict[str, Any]] = []
        for name, doc in docs.items():
            for schema_name, schema in (doc.get("components", {}).get("schemas") or {}).items():
                if schema_name in self.schemas:
                    raise SystemExit(f"schema name {schema_name} is defined twice")
                self.schemas[schema_name] = _compact(schema)
            for path, item in (doc.get("paths") or {}).items():
                for method in HTTP_METHODS:
                    if method in item:
                        self.ops.append(self._operation(name, doc, path, method.upper(), item[method], item))

    def _operation(
        self, file: str, doc: dict[str, Any], path: str, method: str, op: dict[str, Any], item: dict[str, Any]
    ) -> dict[str, Any]:
        raw = [*item.get("parameters", []), *op.get("parameters", [])]
        params = [self.resolver.deref(p, file)[0] for p in raw]
        headers = {p["name"].lower(): p for p in params if p["in"] == "header"}
        if "x-principal-id" in headers and headers["x-principal-id"].get("required") and "x-user-id" in headers:
            bindings = "runtime"
        elif op.get("x-vluna-requires-one-of"):
            bindings = "account"
        elif "x-principal-id" in headers or "x-billing-account-id" in headers:
            bindings = "optional"
        else:
            bindings = "none"
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        return {
            "operation_id": op["operationId"],
            "area": op["x-vluna-area"],
            "method_name": op["x-vluna-method"],
            "method": method,
            "path": path,
            "auth": _auth(op, doc),
            "bindings": bindings,
            "idempotent": "idempotency-key" in headers,
            "not_served": bool(op.get("x-vluna-not-served")),
            "replay_hangs": op.get("x-vluna-retry") == "answered",
            "pagination": op.get("x-vluna-pagination"),
            "status": _success_status(op),
            "path_params": {p["name"]: _compact(p.get("schema", {})) for p in params if p["in"] == "path"},
            "query": {p["name"]: _compact(p.get("schema", {})) for p in params if p["in"] == "query"},
            "body": _compact(body) if body is not None else None,
            "body_required": bool(op.get("requestBody", {}).get("required")),
            "data": _compact(_data_schema(op)),
        }

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

    def list_item(self, op: dict[str, Any]) -> Any:
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

    def classify(self) -> None:
        """Give every operation a ``kind`` and, when it acts on one, its resource ``family``.

        A family is a path template ending in a parameter (``/budgets/{budget_id}``, surface prefix removed): its
        resources are keyed by the values of that template's parameters, so ``/mgt/v1`` and ``/api/v1`` share them.
        A list or create on a collection with no such template (``/contracts/{contract_id}/terms``) uses the
        collection template itself as its family, keyed by its parent parameters and a generated key.
        """
        families: set[str] = set()
        for op in self.ops:
            parts = _strip(op["path"]).split("/")
            for index, part in enumerate(parts):
                if part.startswith("{"):
                    families.add("/".join(parts[: index + 1]))
        lists = {_strip(op["path"]): op for op in self.ops if op["method"] == "GET" and self.list_item(op)}

        def family_of_collection(stripped: str, schema: Any) -> str:
            for candidate in sorted(families):
                parent = candidate.rpartition("/")[0]
                if parent == stripped:
                    return candidate
            props = self.properties(schema)
            first = props[0] if props else None
            matches = [f for f in sorted(families) if first is not None and _params_of(f)[-1] == first]
            matches = [f for f in matches if first not in _params_of(stripped)]
            if matches:
                return max(matches, key=lambda f: len(_common_prefix(f, stripped)))
            return stripped

        for op in self.ops:
            path, method = op["path"], op["method"]
            stripped = _strip(path)
            parent_path, _, last = stripped.rpartition("/")
            op["family"] = None
            op["verb_status"] = None
            if _is_item(path):
                op["family"] = stripped
                op["kind"] = {"GET": "get", "DELETE": "delete"}.get(method, "update")
            elif method == "GET" and self.list_item(op) is not None:
                op["kind"] = "list"
                op["family"] = family_of_collection(stripped, self.list_item(op))
            elif method == "POST" and (stripped in lists or any(f.rpartition("/")[0] == stripped for f in families)):
                body_items = self.deref(self.deref(op["body"] or {}).get("properties", {}).get("items"))
                if self.list_item(op) is not None and stripped in lists and isinstance(body_items, dict):
                    op["kind"] = "create_many"  # a bulk upsert answering the whole list
                    op["family"] = family_of_collection(stripped, self.list_item(lists[stripped]))
                elif self.list_item(op) is not None or self.deref(op["data"]) is None:
                    op["kind"] = "call"
                else:
                    op["kind"] = "create"
                    schema = self.list_item(lists[stripped]) if stripped in lists else op["data"]
                    op["family"] = family_of_collection(stripped, schema)
            elif parent_path in families:
                op["family"] = parent_path
                op["kind"] = "read" if method == "GET" else "action"
                op["verb_status"] = VERB_STATUS.get(last) if method == "POST" else None
            else:
                op["kind"] = "call"
            family = op["family"]
            op["collection"] = bool(family) and not _is_item(family)
            op["key_params"] = _params_of(family) if family else []
            op["id_field"] = op["key_params"][-1] if family and not op["collection"] else None
            op["id_schema"] = self._id_schema(family) if op["id_field"] else None
            collection_params = _params_of(parent_path if _is_item(path) else stripped)
            op["parent_params"] = [p for p in collection_params if p != op["id_field"]]
            op["natural_key"] = self._natural_key(op)

    def _id_schema(self, family: str) -> Any:
        param = _params_of(family)[-1]
        for op in self.ops:
            if param in op["path_params"] and _strip(op["path"]).startswith(family):
                return op["path_params"][param]
        return {"type": "string"}

    def _natural_key(self, op: dict[str, Any]) -> Optional[str]:
        """The body field that names a created resource (``<name>_code`` / ``<name>_key``): upserts match on it."""
        if op["kind"] != "create" or op["body"] is None or not op["id_field"]:
            return None
        stem = op["id_field"][: -len("_id")] if op["id_field"].endswith("_id") else op["id_field"]
        resource = self.properties(op["data"])
        for name in self.properties(op["body"]):
            base = name.rsplit("_", 1)[0]
            if name.endswith(("_code", "_key")) and name in resource and stem.endswith(base):
                return name
        return None


def _common_prefix(left: str, right: str) -> str:
    out = []
    for a, b in zip(left.split("/"), right.split("/")):
        if a != b:
            break
        out.append(a)
    return "/".join(out)


def build() -> dict[str, Any]:
    """The emulator's data: operations (sorted by path and method) and the named schemas."""
    builder = Builder(Resolver())
    builder.classify()
    operations = sorted(builder.ops, key=lambda op: (op["path"], op["method"]))
    return {"operations": operations, "schemas": dict(sorted(builder.schemas.items()))}


def render() -> str:
    """The JSON text, byte-stable (sorted keys, no spaces), one trailing newline."""
    return json.dumps(build(), sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"


def main(argv: list[str] | None = None) -> int:
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


if __name__ == "__main__":
    raise SystemExit(main())
