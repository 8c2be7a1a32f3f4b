"""Independent reading of ``openapi/*.yaml`` for the API tests.

Nothing here imports the code generator: the tests derive what every operation must send and answer straight
from the specs (following ``openapi/README.md``) and compare it with what the generated client really does. Only
the names of the HTTP methods and binding headers are the client's (``vluna_client._operation``, ``_headers``).
"""

from __future__ import annotations

import base64
import csv
import keyword
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, quote, urlsplit

import yaml

from support import svcauth
from vluna_client import _headers, _operation

ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = ROOT / "openapi"
# The route inventory of the server (method, path, auth facts), kept beside the API tests so they run anywhere.
INVENTORY = ROOT / "tests" / "api" / "inventory.tsv"

ORIGIN = "https://vluna.test"
BASE_SERVICE = ORIGIN + "/mgt/v1"
BASE_BEARER = ORIGIN + "/api/v1"
REALM = "realm_test"
KEY_ID = "pk-TestKey00000001"
SECRET = bytes(range(1, 33))
SECRET_B64 = base64.b64encode(SECRET).decode("ascii")
TOKEN = "eyJhbGciOiJIUzI1NiJ9.e30.platform-token"

# The path item keys of the operations, and the header parameters that are bindings (header -> keyword): the names
# are the client's own, so a spec header the client does not fill shows up as an unknown header here.
HTTP_METHODS = tuple(method.lower() for method in _operation.HTTP_METHODS)
BINDING_HEADERS = {header: keyword for keyword, header in _headers.ALL_BINDING_HEADERS.items()}
HEADER_OF_BINDING = dict(_headers.ALL_BINDING_HEADERS)

# Sample values a test sends for the bindings an operation declares.
BINDING_VALUES = {
    "principal_id": "org_42",
    "user_id": "user_7",
    "billing_account_id": "ba_9",
    "billing_user_id": "bu_3",
}

SAMPLE_DATETIME = "2025-01-02T03:04:05Z"
SAMPLE_UUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
SAMPLE_URI = "https://example.test/return"
# Tried in order against a string `pattern`; the first that matches is used.
PATTERN_CANDIDATES = (
    "llm.chat",
    "sample_1",
    "42",
    "-42",
    "1.5",
    "abc",
    "A",
    "a-1",
    "USD",
    "usd",
    "a",
    "1",
    SAMPLE_UUID,
    SAMPLE_DATETIME,
    "2025-01-02",
)


# --------------------------------------------------------------------------------------------------- loading


def clients_for(path: str) -> list:
    """Which client serves a path: /mgt/v1 the service client, /api/v1 the bearer client, the rest both."""
    if path.startswith("/mgt/v1/"):
        return ["service"]
    if path.startswith("/api/v1/"):
        return ["bearer"]
    return ["service", "bearer"]


@cache
def specs() -> Specs:
    """The specs, read once per test session."""
    return Specs()


@cache
def operations() -> Tuple[SpecOperation, ...]:
    """Every (client, area, method) of the specs, sorted."""
    return tuple(load_operations(specs()))


class Specs:
    """The YAML documents and relative ``$ref`` resolution across them."""

    def __init__(self, spec_dir: Path = SPEC_DIR) -> None:
        self.dir = spec_dir
        self.docs: Dict[str, Dict[str, Any]] = {}
        for path in sorted(spec_dir.glob("*.yaml")):
            with open(path, encoding="utf-8") as fh:
                self.docs[path.name] = yaml.safe_load(fh)

    def ref(self, pointer: str, current: str) -> Tuple[Any, str, str]:
        """Follow one ``$ref``: the node, the file it lives in and the last pointer segment (the schema name)."""
        target, _, frag = pointer.partition("#")
        file = target or current
        node: Any = self.docs[file]
        parts = [p for p in frag.split("/") if p]
        for part in parts:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node, file, parts[-1] if parts else ""

    def deref(self, node: Any, current: str) -> Tuple[Any, str]:
        while isinstance(node, dict) and "$ref" in node:
            node, current, _ = self.ref(node["$ref"], current)
        return node, current


def snake(name: str) -> str:
    """The Python keyword for a wire name: snake_case; Python keywords (``from``) and the builtins a keyword
    would shadow (``type``, ``id``, ``filter``, ``format``, ``input``) get a trailing ``_``."""
    out = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    out = re.sub(r"[^0-9a-zA-Z_]", "_", out).lower().strip("_")
    if keyword.iskeyword(out) or out in ("type", "id", "filter", "format", "input"):
        out += "_"
    return out


def model_module(spec_file: str) -> str:
    """``billing-mgt.yaml`` -> ``billing_mgt``: the models module generated for a spec file."""
    return re.sub(r"[^0-9a-zA-Z_]", "_", spec_file.rsplit(".", 1)[0])


def _types(schema: Dict[str, Any]) -> List[str]:
    t = schema.get("type")
    if t is None:
        return []
    return [t] if isinstance(t, str) else list(t)


# ----------------------------------------------------------------------------------------- operations


@dataclass
class Param:
    wire: str
    location: str  # path | query
    required: bool
    schema: Dict[str, Any]
    file: str


@dataclass
class SpecOperation:
    """One (client, area, method) as the spec describes it."""

    client: str  # service | bearer
    area: str
    method_name: str
    http_method: str
    path: str  # full path as written in the spec
    file: str
    operation_id: str
    op: Dict[str, Any]
    path_params: List[Param] = field(default_factory=list)
    query_params: List[Param] = field(default_factory=list)
    bindings: Dict[str, bool] = field(default_factory=dict)  # binding keyword -> required
    idempotency: bool = False
    body_schema: Optional[Dict[str, Any]] = None  # resolved object schema of the request body
    body_file: str = ""
    body_required: bool = False
    renames: Dict[str, str] = field(default_factory=dict)
    success_status: int = 200
    data_schema: Optional[Dict[str, Any]] = None  # the envelope's `data` node (unresolved)
    data_file: str = ""
    pagination: Optional[str] = None
    not_served: bool = False
    retry: str = "read"
    bearer_override: bool = False
    requires_one_of: Tuple[str, ...] = ()

    @property
    def key(self) -> Tuple[str, str, str]:
        return (self.client, self.area, self.method_name)

    @property
    def id(self) -> str:
        return f"{self.client}.{self.area}.{self.method_name}"

    @property
    def surface_prefix(self) -> str:
        for prefix in ("/mgt/v1/", "/api/v1/"):
            if self.path.startswith(prefix):
                return prefix[:-1]
        return ""

    @property
    def whole_body(self) -> bool:
        return self.body_schema is not None and not self.body_schema.get("properties")


def _data_node(specs: Specs, response: Dict[str, Any], file: str) -> Tuple[Optional[Dict[str, Any]], str]:
    """The ``data`` property of an envelope response, written as ``allOf: [Envelope, {properties: {data}}]``."""
    response, file = specs.deref(response, file)
    content = (response.get("content") or {}).get("application/json")
    if not content:
        return None, file
    schema, sfile = specs.deref(content["schema"], file)
    for part in schema.get("allOf", [schema]):
        part, pfile = specs.deref(part, sfile)
        props = part.get("properties") or {}
        if "data" in props and "ok" not in props:
            return props["data"], pfile
    return None, sfile


def load_operations(specs: Specs) -> List[SpecOperation]:
    ops: List[SpecOperation] = []
    for file, doc in specs.docs.items():
        for path, item in (doc.get("paths") or {}).items():
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                op = item[method]
                for client in clients_for(path):
                    ops.append(_spec_operation(specs, file, path, method, op, item, client))
    ops.sort(key=lambda o: o.key)
    return ops


def _spec_operation(
    specs: Specs, file: str, path: str, method: str, op: Dict[str, Any], item: Dict[str, Any], client: str
) -> SpecOperation:
    so = SpecOperation(
        client=client,
        area=op["x-vluna-area"],
        method_name=op["x-vluna-method"],
        http_method=method.upper(),
        path=path,
        file=file,
        operation_id=op.get("operationId", ""),
        op=op,
        renames=dict(op.get("x-vluna-rename") or {}),
        pagination=op.get("x-vluna-pagination"),
        not_served=bool(op.get("x-vluna-not-served")),
        retry=op.get("x-vluna-retry", "read"),
        bearer_override=op.get("x-vluna-auth") == "bearer-override",
        requires_one_of=tuple(op.get("x-vluna-requires-one-of") or ()),
    )
    for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
        if isinstance(raw, dict) and str(raw.get("$ref", "")).endswith("/parameters/IdempotencyKey"):
            so.idempotency = True
        p, pfile = specs.deref(raw, file)
        if p["in"] == "header":
            if p["name"] == "Idempotency-Key":
                so.idempotency = True
            elif p["name"] in BINDING_HEADERS:
                so.bindings[BINDING_HEADERS[p["name"]]] = bool(p.get("required"))
            continue
        param = Param(p["name"], p["in"], bool(p.get("required")) or p["in"] == "path", p.get("schema", {}), pfile)
        (so.path_params if p["in"] == "path" else so.query_params).append(param)
    body = op.get("requestBody")
    if body:
        body, bfile = specs.deref(body, file)
        so.body_required = bool(body.get("required"))
        schema, sfile = specs.deref(body["content"]["application/json"]["schema"], bfile)
        so.body_schema, so.body_file = schema, sfile
    codes = [str(c) for c in op["responses"] if str(c).isdigit() and 200 <= int(c) < 300]
    # The spec's first 2xx (document order), unless x-vluna-success-status says what the server really answers.
    so.success_status = int(op.get("x-vluna-success-status", codes[0]))
    so.data_schema, so.data_file = _data_node(specs, op["responses"][codes[0]], file)
    return so


# -------------------------------------------------------------------------------------------- samples


class SampleBuilder:
    """Schema-valid sample values.

    ``request`` returns ``(argument, wire)``: what a caller passes (Python ints for int64 strings) and the JSON the
    server must receive. ``response`` returns the JSON a server would answer (every property filled in).
    """

    def __init__(self, specs: Specs) -> None:
        self.specs = specs

    # -- shared -------------------------------------------------------------------------------------------

    def flatten(self, node: Dict[str, Any], file: str, depth: int = 0) -> Tuple[Dict[str, Any], str]:
        """Resolve ``$ref`` and merge ``allOf`` parts into one object schema."""
        node, file = self.specs.deref(node, file)
        if "allOf" not in node or depth > 10:
            return node, file
        merged: Dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        props: Dict[str, Any] = {}
        required: List[str] = list(node.get("required", []))
        files: Dict[str, str] = {}
        for part in node["allOf"]:
            part, pfile = self.flatten(part, file, depth + 1)
            for k, v in (part.get("properties") or {}).items():
                props[k] = v
                files[k] = pfile
            required += [r for r in part.get("required", []) if r not in required]
            for k, v in part.items():
                if k not in ("properties", "required", "description"):
                    merged.setdefault(k, v)
        for k, v in (node.get("properties") or {}).items():
            props[k] = v
            files[k] = file
        # Properties coming from other files keep working refs: inline them as resolved nodes.
        merged["properties"] = {k: self._anchor(v, files[k]) for k, v in props.items()}
        merged["required"] = required
        merged.setdefault("type", "object")
        return merged, file

    def _anchor(self, node: Any, file: str) -> Any:
        """Make relative refs of a node absolute to its file, so it can be read from another file."""
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k == "$ref" and isinstance(v, str) and v.startswith("#"):
                    out[k] = file + v
                else:
                    out[k] = self._anchor(v, file)
            return out
        if isinstance(node, list):
            return [self._anchor(v, file) for v in node]
        return node

    def _choose(self, node: Dict[str, Any], file: str) -> Optional[Tuple[Dict[str, Any], str, Optional[str]]]:
        """For ``oneOf``/``anyOf``: the first non-null option, and the discriminator value that names it."""
        options = node.get("oneOf") or node.get("anyOf")
        if not options:
            return None
        disc = node.get("discriminator") or {}
        for option in options:
            resolved, _ = self.specs.deref(option, file)
            if _types(resolved) == ["null"]:
                continue
            tag = None
            if disc.get("mapping") and "$ref" in option:
                for value, target in disc["mapping"].items():
                    if target.split("#")[-1] == option["$ref"].split("#")[-1]:
                        tag = value
            return option, file, tag
        return None

    @staticmethod
    def _string(schema: Dict[str, Any], name: str) -> str:
        fmt = schema.get("format")
        pattern = schema.get("pattern")
        if pattern:
            for candidate in PATTERN_CANDIDATES:
                if re.search(pattern, candidate):
                    return candidate
            raise AssertionError(f"no sample string matches {pattern!r} ({name})")
        if fmt == "date-time":
            return SAMPLE_DATETIME
        if fmt == "date":
            return "2025-01-02"
        if fmt == "uuid":
            return SAMPLE_UUID
        if fmt in ("uri", "url"):
            return SAMPLE_URI
        if fmt == "email":
            return "someone@example.test"
        value = f"{name or 'value'}-1"
        if "maxLength" in schema:
            value = value[: schema["maxLength"]]
        while len(value) < schema.get("minLength", 0):
            value += "x"
        return value

    @staticmethod
    def _integer(schema: Dict[str, Any]) -> int:
        value = 5
        if "minimum" in schema:
            value = max(value, schema["minimum"])
        if "maximum" in schema:
            value = min(value, schema["maximum"])
        return value

    @staticmethod
    def _number(schema: Dict[str, Any]) -> float:
        value = 1.5
        if "minimum" in schema:
            value = max(value, float(schema["minimum"]))
        if "maximum" in schema:
            value = min(value, float(schema["maximum"]))
        return value

    # -- requests -----------------------------------------------------------------------------------------

    def request(self, node: Any, file: str, name: str = "", depth: int = 0) -> Tuple[Any, Any]:
        node, file = self.flatten(node, file)
        if not isinstance(node, dict):
            return "value-1", "value-1"
        if "const" in node:
            return node["const"], node["const"]
        chosen = self._choose(node, file)
        if chosen is not None:
            option, ofile, tag = chosen
            arg: Any
            wire: Any
            arg, wire = self.request(option, ofile, name, depth=depth + 1)
            disc = (node.get("discriminator") or {}).get("propertyName")
            if tag is not None and disc and isinstance(arg, dict):
                arg[disc] = tag
                wire[disc] = tag
            return arg, wire
        enum = [v for v in node.get("enum", []) if v is not None]
        if enum:
            return enum[0], enum[0]
        types = [t for t in _types(node) if t != "null"]
        if not types:
            types = ["object"] if node.get("properties") else ["string"]
        kind = types[0]
        if kind == "string":
            if node.get("format") == "int64":
                # The client accepts a Python int for int64 strings and sends the digits as a JSON string.
                text = self._string(node, name) if node.get("pattern") else "42"
                return int(text), text
            value = self._string(node, name)
            return value, value
        if kind == "integer":
            whole = self._integer(node)
            return whole, whole
        if kind == "number":
            number = self._number(node)
            return number, number
        if kind == "boolean":
            return True, True
        if kind == "array":
            count = max(1, node.get("minItems", 1))
            pairs = [self.request(node.get("items", {}), file, name, depth=depth + 1) for _ in range(count)]
            return [a for a, _ in pairs], [w for _, w in pairs]
        # object
        props = node.get("properties") or {}
        required = node.get("required", [])
        arg = {}
        wire = {}
        # Required properties; an object that requires none still gets its first one, so it is not empty.
        chosen_props = [p for p in props if p in required] or list(props)[:1]
        for prop in chosen_props:
            arg[prop], wire[prop] = self.request(props[prop], file, prop, depth=depth + 1)
        if not props:
            extra = node.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                arg["k1"], wire["k1"] = self.request(extra, file, "k1", depth=depth + 1)
            else:
                arg["note"], wire["note"] = "free-form", "free-form"
        return arg, wire

    def query_value(self, param: Param) -> Tuple[Any, List[str]]:
        """A query argument and the values it must put on the wire, in order (two items for arrays)."""
        schema, file = self.specs.deref(param.schema, param.file)
        types = [t for t in _types(schema) if t != "null"]
        if types and types[0] == "array":
            items, ifile = self.specs.deref(schema.get("items", {}), file)
            enum = [v for v in items.get("enum", []) if v is not None]
            if enum:
                values: List[Any] = (enum * 2)[:2]
                return values, [_query_text(v) for v in values]
            arg, _ = self.request(items, ifile, param.wire)
            if isinstance(arg, str):
                # Two distinct values, both valid for the item schema when it has a pattern.
                second = arg + "2" if not items.get("pattern") else arg
                values = [arg, second]
            else:
                values = [arg, arg]
            return values, [_query_text(v) for v in values]
        arg, wire = self.request(schema, file, param.wire)
        return arg, [_query_text(wire)]

    # -- responses ----------------------------------------------------------------------------------------

    def response(self, node: Any, file: str, name: str = "", depth: int = 0, stack: Tuple[str, ...] = ()) -> Any:
        """``None`` means "leave the property out": recursive schemas (a product's prices, each price's product)
        stop at the first repetition."""
        if isinstance(node, dict) and "$ref" in node:
            target, _, frag = node["$ref"].partition("#")
            key = f"{target or file}#{frag}"
            if key in stack:
                return None
            stack = (*stack, key)
        node, file = self.flatten(node, file)
        if not isinstance(node, dict) or depth > 12:
            return None
        if "const" in node:
            return node["const"]
        chosen = self._choose(node, file)
        if chosen is not None:
            option, ofile, tag = chosen
            value = self.response(option, ofile, name, depth + 1, stack)
            disc = (node.get("discriminator") or {}).get("propertyName")
            if tag is not None and disc and isinstance(value, dict):
                value[disc] = tag
            return value
        enum = [v for v in node.get("enum", []) if v is not None]
        if enum:
            return enum[0]
        types = [t for t in _types(node) if t != "null"]
        if not types:
            if node.get("properties"):
                types = ["object"]
            elif node == {} or set(node) <= {"description", "title"}:
                return "any-value"
            else:
                types = ["string"]
        kind = types[0]
        if kind == "string":
            return self._string(node, name) if node.get("format") != "int64" or node.get("pattern") else "42"
        if kind == "integer":
            return self._integer(node)
        if kind == "number":
            return self._number(node)
        if kind == "boolean":
            return True
        if kind == "array":
            item = self.response(node.get("items", {}), file, name, depth + 1, stack)
            return [] if item is None else [item]
        props = node.get("properties") or {}
        out: Dict[str, Any] = {}
        for prop, pschema in props.items():
            value = self.response(pschema, file, prop, depth + 1, stack)
            if value is not None:
                out[prop] = value
        if not props:
            extra = node.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                value = self.response(extra, file, "k1", depth + 1, stack)
                if value is not None:
                    out["k1"] = value
            else:
                out["note"] = "free-form"
        return out


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ------------------------------------------------------------------------------------------ call plans


@dataclass
class CallPlan:
    """Arguments for one call and everything the request must then carry."""

    kwargs: Dict[str, Any]
    path: str  # expected full path, encoded
    path_values: Dict[str, str]
    query: List[Tuple[str, str]]
    headers: Dict[str, str]  # binding headers expected
    absent_headers: List[str]
    body: Any  # expected JSON body, or None for body-less operations


def plan_call(specs: Specs, samples: SampleBuilder, so: SpecOperation, *, with_cursor: bool = True) -> CallPlan:
    kwargs: Dict[str, Any] = {}
    path = so.path
    path_values: Dict[str, str] = {}
    for p in so.path_params:
        # A space and a slash: both must be percent-encoded inside the path segment.
        value = f"{p.wire} 1/x"
        kwargs[snake(p.wire)] = value
        path_values[p.wire] = value
        path = path.replace("{" + p.wire + "}", quote(value, safe=""))

    headers: Dict[str, str] = {}
    absent: List[str] = ["X-Billing-User-Id"]  # never passed here, so never sent
    for binding in ("principal_id", "user_id", "billing_account_id"):
        if binding in so.bindings:
            kwargs[binding] = BINDING_VALUES[binding]
            headers[HEADER_OF_BINDING[binding]] = BINDING_VALUES[binding]
        else:
            absent.append(HEADER_OF_BINDING[binding])
    if "realm_admin" in so.bindings:
        kwargs["realm_admin"] = True
        headers["X-Realm-Admin"] = "true"
    else:
        absent.append("X-Realm-Admin")

    query: List[Tuple[str, str]] = []
    for p in so.query_params:
        if p.wire == "cursor" and not with_cursor:
            continue
        name = snake(p.wire)
        if name in so.bindings and name != "realm_admin":
            # Shares the binding's keyword: one value travels as the header and as the query filter.
            query.append((p.wire, str(kwargs[name])))
            continue
        arg, wire_values = samples.query_value(p)
        kwargs[name] = arg
        query += [(p.wire, v) for v in wire_values]

    body: Any = None
    if so.body_schema is not None:
        if so.whole_body:
            arg, wire = samples.request(so.body_schema, so.body_file, "body")
            kwargs["body"] = arg
            body = wire
        else:
            # Every top-level property (required and optional) becomes a keyword argument; nested objects get
            # their required properties, built recursively.
            flat, ffile = samples.flatten(so.body_schema, so.body_file)
            body = {}
            for prop, pschema in (flat.get("properties") or {}).items():
                if prop in so.bindings and prop not in so.renames:
                    # Same meaning as the binding header: the binding keyword feeds the body property too.
                    if prop in kwargs:
                        body[prop] = kwargs[prop]
                    continue
                arg, wire = samples.request(pschema, ffile, prop)
                kwargs[so.renames.get(prop, snake(prop))] = arg
                body[prop] = wire
    if so.bearer_override:
        kwargs["bearer_token"] = "dat-session-token"
    return CallPlan(kwargs, path, path_values, query, headers, absent, body)


# --------------------------------------------------------------------------------------------- inventory


@dataclass
class InventoryRow:
    surface: str
    method: str
    path: str
    operation_id: str
    tag: str
    in_contract: str
    in_server: str
    idempotency_key: str
    replay_hangs: bool


def load_inventory(path: Path = INVENTORY) -> List[InventoryRow]:
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [
            InventoryRow(
                surface=r["surface"],
                method=r["method"].upper(),
                path=r["path"],
                operation_id=r["operationId"],
                tag=r["tag"],
                in_contract=r["in_contract"],
                in_server=r["in_server"],
                idempotency_key=r["idempotency_key"],
                replay_hangs=r["replay_hangs"] == "yes",
            )
            for r in reader
        ]


def client_rows(rows: List[InventoryRow]) -> List[InventoryRow]:
    """Rows the client must cover: in the contract or served, minus webhooks, demo and the unmounted MCP routes."""
    out = []
    for r in rows:
        if not (r.in_contract == "yes" or r.in_server == "yes"):
            continue
        if r.tag in ("webhooks", "demo"):
            continue
        if r.surface == "other" and r.path.startswith("/mcp"):
            continue
        out.append(r)
    return out


# ------------------------------------------------------------------------------------ wire-protocol checks


def verify_svc_auth(request: Any, secret: bytes = SECRET, key_id: str = KEY_ID) -> None:
    """Recompute the SVC-AUTH signature of a sent request with the test-side oracle (wire-protocol.md §3.2)."""
    svcauth.verify_request(request, secret=secret, key_id=key_id)


def query_pairs(url: str) -> List[Tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def grouped(pairs: List[Tuple[str, str]]) -> Dict[str, List[str]]:
    """Query pairs by key, keeping the order of repeated keys."""
    out: Dict[str, List[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


# ---------------------------------------------------------------------------------------- result types


def is_class_schema(schema: Dict[str, Any]) -> bool:
    """Whether a named schema is generated as a class (an object with properties, an allOf, or an enum)."""
    if "enum" in schema:
        return True
    return (schema.get("type") == "object" and bool(schema.get("properties"))) or "allOf" in schema


def result_shape(sp: Specs, node: Optional[Dict[str, Any]], file: str) -> Tuple[str, Optional[Tuple[str, str]]]:
    """How ``data`` (or one page item) is typed: ``("model", (module, class))``, ``("list", (module, class))``
    for an array of models, or ``("plain", None)``."""
    if node is None:
        return "plain", None
    if "$ref" in node:
        target, tfile, name = sp.ref(node["$ref"], file)
        if is_class_schema(target):
            return "model", (model_module(tfile), name)
        return result_shape(sp, target, tfile)
    if _types(node) == ["array"] and isinstance(node.get("items"), dict):
        kind, target = result_shape(sp, node["items"], file)
        if kind == "model":
            return "list", target
    return "plain", None


def page_item_node(sp: Specs, so: SpecOperation) -> Tuple[Dict[str, Any], str]:
    """The schema of one item of a paginated operation."""
    data, dfile = sp.deref(so.data_schema, so.data_file)
    if so.pagination == "items":
        data, dfile = sp.deref(data["properties"]["items"], dfile)
    return data["items"], dfile
