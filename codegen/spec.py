"""Read ``openapi/*.yaml`` into the small structures the endpoint templates render.

Everything that decides the shape of a generated method lives here: which client an operation belongs to, its
Python name and keyword arguments, the validation schema the core checks before any I/O, the result type and the
pagination style. Anything the generator cannot render faithfully is a hard error, not a guess.
"""

from __future__ import annotations

import keyword
import pprint
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = ROOT / "openapi"

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
# Header parameters the core owns; the generator turns them into binding keywords, never into raw headers.
BINDING_HEADERS = {
    "X-Principal-Id": "principal_id",
    "X-User-Id": "user_id",
    "X-Billing-Account-Id": "billing_account_id",
    "X-Billing-User-Id": "billing_user_id",
    "X-Realm-Admin": "realm_admin",
}
RESERVED_KWARGS = {"idempotency_key", "timeout", "bearer_token", "self"}
SURFACES = {"/mgt/v1/": "service", "/api/v1/": "bearer"}
CLIENT_CLASSES = {"service": "ServiceClient", "bearer": "BearerClient"}


class SpecError(Exception):
    """The spec asks for something the generator will not guess about."""


def _load(name: str, cache: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if name not in cache:
        with open(SPEC_DIR / name, encoding="utf-8") as fh:
            cache[name] = yaml.safe_load(fh)
    return cache[name]


def model_module(spec_file: str) -> str:
    """The Python module datamodel-code-generator writes for a spec file (``billing-mgt.yaml`` → ``billing_mgt``)."""
    return re.sub(r"[^0-9a-zA-Z_]", "_", spec_file.rsplit(".", 1)[0])


def snake(name: str) -> str:
    """A safe Python identifier for a wire name."""
    out = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    out = re.sub(r"[^0-9a-zA-Z_]", "_", out).lower().strip("_")
    if keyword.iskeyword(out) or out in {"type", "id", "filter", "format", "input"}:
        out += "_"
    return out


@dataclass
class Ref:
    """A resolved ``$ref``: the file and schema name it points at, and the schema itself."""

    file: str
    name: str
    schema: dict[str, Any]


class Resolver:
    """Follows relative ``$ref`` pointers across the spec files."""

    def __init__(self) -> None:
        self.cache: dict[str, dict[str, Any]] = {}

    def doc(self, name: str) -> dict[str, Any]:
        return _load(name, self.cache)

    def ref(self, pointer: str, current: str) -> Ref:
        target, _, frag = pointer.partition("#")
        file = target or current
        node: Any = self.doc(file)
        parts = [p for p in frag.split("/") if p]
        for part in parts:
            node = node[part]
        return Ref(file=file, name=parts[-1], schema=node)

    def deref(self, node: dict[str, Any], current: str) -> tuple[dict[str, Any], str]:
        """Follow ``$ref`` chains to the concrete node, returning it and the file it lives in."""
        while "$ref" in node:
            r = self.ref(node["$ref"], current)
            node, current = r.schema, r.file
        return node, current


def _is_class_schema(schema: dict[str, Any]) -> bool:
    """Whether datamodel-code-generator renders this named schema as a class (object or enum)."""
    if "enum" in schema:
        return True
    return (schema.get("type") == "object" and bool(schema.get("properties"))) or "allOf" in schema


def _types(schema: dict[str, Any]) -> list[str]:
    t = schema.get("type")
    if t is None:
        return []
    return [t] if isinstance(t, str) else list(t)


class TypeWriter:
    """Writes Python type expressions for schemas, in the endpoint module's namespace."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.modules: set[str] = set()

    def result(self, node: dict[str, Any], current: str) -> str:
        """The type a response value is structured into."""
        if "$ref" in node:
            r = self.resolver.ref(node["$ref"], current)
            if _is_class_schema(r.schema):
                mod = model_module(r.file)
                self.modules.add(mod)
                return f"m_{mod}.{r.name}"
            return self.result(r.schema, r.file)
        for key in ("oneOf", "anyOf"):
            if key in node:
                return "Union[" + ", ".join(self.result(s, current) for s in node[key]) + "]"
        types = _types(node)
        nullable = "null" in types
        types = [t for t in types if t != "null"]
        if len(types) > 1 or not types:
            inner = "Any"
        else:
            t = types[0]
            if t == "array":
                inner = f"list[{self.result(node.get('items', {}), current)}]"
            elif t == "object":
                addl = node.get("additionalProperties")
                if isinstance(addl, dict) and addl and not node.get("properties"):
                    inner = f"dict[str, {self.result(addl, current)}]"
                else:
                    inner = "dict[str, Any]"
            else:
                inner = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}[t]
        return f"Optional[{inner}]" if nullable else inner

    def argument(self, node: dict[str, Any], current: str) -> str:
        """The type a caller may pass for a request value (models or plain mappings, ints for int strings)."""
        if "$ref" in node:
            r = self.resolver.ref(node["$ref"], current)
            if _is_class_schema(r.schema) and "enum" not in r.schema:
                mod = model_module(r.file)
                self.modules.add(mod)
                return f"Union[m_{mod}.{r.name}, Mapping[str, Any]]"
            return self.argument(r.schema, r.file)
        for key in ("oneOf", "anyOf"):
            if key in node:
                return "Union[" + ", ".join(self.argument(s, current) for s in node[key]) + "]"
        types = [t for t in _types(node) if t != "null"]
        if len(types) != 1:
            return "Any"
        t = types[0]
        if t == "array":
            return f"Sequence[{self.argument(node.get('items', {}), current)}]"
        if t == "object":
            addl = node.get("additionalProperties")
            if isinstance(addl, dict) and addl and not node.get("properties"):
                return f"Mapping[str, {self.argument(addl, current)}]"
            return "Mapping[str, Any]"
        if t == "string" and node.get("format") == "int64":
            return "Union[int, str]"
        return {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}[t]


VALIDATION_KEYS = ("minLength", "maxLength", "pattern", "minimum", "maximum", "minItems", "maxItems", "format")


def validation_schema(resolver: Resolver, node: dict[str, Any], current: str, depth: int = 0) -> dict[str, Any]:
    """A self-contained JSON-Schema subset the core validator checks locally (refs inlined, docs dropped)."""
    if depth > 12:
        return {}
    node, current = resolver.deref(node, current)
    out: dict[str, Any] = {}
    types = _types(node)
    if types:
        out["type"] = types
    for key in VALIDATION_KEYS:
        if key in node:
            out[key] = node[key]
    if "enum" in node and "string" not in types:
        out["enum"] = node["enum"]
    if node.get("properties"):
        out["properties"] = {
            k: validation_schema(resolver, v, current, depth + 1) for k, v in node["properties"].items()
        }
    if node.get("required"):
        out["required"] = list(node["required"])
    if isinstance(node.get("items"), dict):
        out["items"] = validation_schema(resolver, node["items"], current, depth + 1)
    addl = node.get("additionalProperties")
    if isinstance(addl, dict) and addl:
        out["additionalProperties"] = validation_schema(resolver, addl, current, depth + 1)
    for key in ("oneOf", "anyOf"):
        if key in node:
            out[key] = [validation_schema(resolver, s, current, depth + 1) for s in node[key]]
    return out


def literal(value: Any) -> str:
    """A deterministic Python literal (sorted keys) for a validation schema."""
    return pprint.pformat(value, width=100, sort_dicts=True)


@dataclass
class Param:
    """One keyword argument of a generated method."""

    wire: str
    name: str
    location: str  # "path", "query" or "body"
    required: bool
    type_hint: str
    description: str
    schema_literal: str = "{}"


@dataclass
class Operation:
    """One HTTP operation as a generated method sees it."""

    operation_id: str
    client: str
    area: str
    method_name: str
    http_method: str
    path: str
    rel_path: str
    surface: str
    summary: str
    description: str
    params: list[Param]
    bindings: list[tuple[str, bool]]
    write: bool
    body_required: bool
    body_schema_literal: str | None
    result_type: str
    item_type: str | None
    pagination: str | None
    not_served: bool
    requires_one_of: list[str]
    bearer_override: bool
    success_status: int
    merged_query: list[str] = field(default_factory=list)
    merged_body: list[str] = field(default_factory=list)
    merged_schemas: dict[str, str] = field(default_factory=dict)
    whole_body: bool = False
    retry: str = "read"
    model_modules: set[str] = field(default_factory=set)
    constant: str = ""

    @property
    def qualified(self) -> str:
        return f"{self.area}.{self.method_name}"

    @property
    def return_type(self) -> str:
        if self.pagination:
            return f"Page[{self.item_type}]"
        return f"Result[{self.result_type}]"


@dataclass
class Area:
    """The operations of one client under one ``client.<area>`` attribute."""

    client: str
    name: str
    operations: list[Operation] = field(default_factory=list)
    model_modules: set[str] = field(default_factory=set)
    # Hand-written base classes ("module", "Class") from the spec's x-vluna-area-mixins, first in the MRO.
    mixins: list[tuple[str, str]] = field(default_factory=list)

    @property
    def module(self) -> str:
        return f"{self.client}_{self.name}"

    @property
    def class_name(self) -> str:
        return (
            CLIENT_CLASSES[self.client].replace("Client", "")
            + "".join(p.capitalize() for p in self.name.split("_"))
            + "Api"
        )


@dataclass
class Api:
    """Everything the templates render."""

    areas: list[Area]

    def by_client(self, client: str) -> list[Area]:
        return [a for a in self.areas if a.client == client]

    @property
    def operations(self) -> list[Operation]:
        return [op for a in self.areas for op in a.operations]


def _first_sentence(text: str) -> str:
    text = " ".join((text or "").split())
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    return m.group(1) if m else text


def _data_schema(resolver: Resolver, response: dict[str, Any], current: str) -> tuple[dict[str, Any], str]:
    """The ``data`` property of an envelope response (``{}`` when the response has no body)."""
    content = response.get("content", {}).get("application/json")
    if not content:
        return {}, current
    schema, cur = resolver.deref(content["schema"], current)
    parts = schema.get("allOf", [schema])
    for part in parts:
        part, pcur = resolver.deref(part, cur)
        data = part.get("properties", {}).get("data")
        if data is not None and part.get("type") == "object" and "ok" not in part.get("properties", {}):
            return data, pcur
    return {}, cur


RETRY_RULES = ("read", "idempotent", "answered", "unsent")


def _retry_rule(op: dict[str, Any], where: str, http_method: str, write: bool) -> str:
    """The operation's explicit retry rule; every non-GET must state one, since guessing wrong costs money."""
    if "x-vluna-replay-hangs" in op:
        raise SpecError(f"{where}: x-vluna-replay-hangs is replaced by x-vluna-retry: answered")
    rule = op.get("x-vluna-retry")
    if rule is None:
        if http_method != "get":
            raise SpecError(f"{where}: a {http_method.upper()} needs x-vluna-retry ({', '.join(RETRY_RULES)})")
        return "read"
    if rule not in RETRY_RULES:
        raise SpecError(f"{where}: unknown x-vluna-retry {rule!r}")
    if http_method == "get" and rule != "read":
        raise SpecError(f"{where}: a GET is always x-vluna-retry: read")
    if rule == "answered" and not write:
        raise SpecError(f"{where}: x-vluna-retry: answered is about replayed keys; the operation sends none")
    if rule == "read" and write:
        raise SpecError(f"{where}: an operation with an Idempotency-Key is not read-only")
    return str(rule)


def _operation(
    resolver: Resolver, file: str, path: str, http_method: str, op: dict[str, Any], path_item: dict[str, Any]
) -> list[Operation]:
    oid = op.get("operationId") or ""
    where = f"{file} {http_method.upper()} {path}"
    area = op.get("x-vluna-area")
    method_name = op.get("x-vluna-method")
    if not area or not method_name:
        raise SpecError(f"{where}: x-vluna-area and x-vluna-method are required")
    clients = [c for prefix, c in SURFACES.items() if path.startswith(prefix)]
    surface = clients[0] if clients else "root"
    rel = path[len("/mgt/v1") :] if surface == "service" else path[len("/api/v1") :] if surface == "bearer" else path
    clients = clients or ["service", "bearer"]

    writer = TypeWriter(resolver)
    params: list[Param] = []
    bindings: list[tuple[str, bool]] = []
    write = False
    merged_query: list[str] = []
    merged_body: list[str] = []
    merged_schemas: dict[str, str] = {}
    raw_params = [*path_item.get("parameters", []), *op.get("parameters", [])]
    # Headers first, so query parameters can be checked against the bindings they may share a name with.
    raw_params.sort(key=lambda raw: resolver.deref(raw, file)[0]["in"] != "header")
    for raw in raw_params:
        p, pfile = resolver.deref(raw, file)
        if p["in"] == "header":
            if p["name"] == "Idempotency-Key":
                write = True
            elif p["name"] in BINDING_HEADERS:
                bindings.append((BINDING_HEADERS[p["name"]], bool(p.get("required"))))
            else:
                raise SpecError(f"{where}: header {p['name']} must be one of the shared parameters")
            continue
        if p["in"] not in ("path", "query"):
            raise SpecError(f"{where}: {p['in']} parameters are not supported")
        schema = p.get("schema", {})
        if p["in"] == "query" and snake(p["name"]) in {b for b, _ in bindings}:
            # Same name as a context binding (e.g. billing_account_id): one argument feeds both the header and
            # the query filter, as they mean the same account.
            merged_query.append(p["name"])
            merged_schemas[p["name"]] = literal(validation_schema(resolver, schema, pfile))
            continue
        params.append(
            Param(
                wire=p["name"],
                name=snake(p["name"]),
                location=p["in"],
                required=bool(p.get("required")) or p["in"] == "path",
                type_hint=writer.argument(schema, pfile),
                description=_first_sentence(p.get("description", "")),
                schema_literal=literal(validation_schema(resolver, schema, pfile)),
            )
        )

    body_literal = None
    body_required = False
    whole_body = False
    body = op.get("requestBody")
    if body:
        body, bfile = resolver.deref(body, file)
        content = body.get("content", {}).get("application/json")
        if not content:
            raise SpecError(f"{where}: only application/json request bodies are supported")
        body_required = bool(body.get("required"))
        bschema, bfile2 = resolver.deref(content["schema"], bfile)
        if bschema.get("type") != "object":
            raise SpecError(f"{where}: the request body must be an object schema")
        if not bschema.get("properties"):
            # A free-form object: the caller passes the whole mapping as `body`.
            whole_body = True
        required = set(bschema.get("required", []))
        renames = op.get("x-vluna-rename", {})
        binding_names = {b for b, _ in bindings}
        for prop, pschema in (bschema.get("properties") or {}).items():
            if prop in binding_names and prop not in renames:
                # Same meaning as the binding header (e.g. billing_account_id): one argument feeds both.
                merged_body.append(prop)
                continue
            params.append(
                Param(
                    wire=prop,
                    name=renames.get(prop, snake(prop)),
                    location="body",
                    required=prop in required,
                    type_hint=writer.argument(pschema, bfile2),
                    description=_first_sentence(
                        resolver.deref(pschema, bfile2)[0].get("description", "") or pschema.get("description", "")
                    ),
                )
            )
        body_literal = literal(validation_schema(resolver, content["schema"], bfile))
        if whole_body:
            params.append(
                Param(
                    wire="",
                    name="body",
                    location="whole_body",
                    required=body_required,
                    type_hint="Mapping[str, Any]",
                    description=_first_sentence(bschema.get("description", "")) or "The JSON body.",
                )
            )

    names = [p.name for p in params]
    dupes = {n for n in names if names.count(n) > 1} | (set(names) & (RESERVED_KWARGS | {b for b, _ in bindings}))
    if dupes:
        raise SpecError(f"{where}: keyword names clash: {sorted(dupes)}")

    # In spec order: the first 2xx listed is the usual success status (e.g. 201 before a 200 replay).
    statuses = [int(s) for s in op.get("responses", {}) if str(s).isdigit() and 200 <= int(s) < 300]
    if not statuses:
        raise SpecError(f"{where}: no 2xx response")
    data, dfile = _data_schema(resolver, op["responses"][str(statuses[0])], file)
    pagination = op.get("x-vluna-pagination")
    item_type = None
    if pagination == "meta":
        d, dcur = resolver.deref(data, dfile)
        if d.get("type") != "array":
            raise SpecError(f"{where}: x-vluna-pagination: meta needs data to be an array")
        item_type = writer.result(d.get("items", {}), dcur)
    elif pagination == "items":
        d, dcur = resolver.deref(data, dfile)
        items = d.get("properties", {}).get("items")
        if items is None:
            raise SpecError(f"{where}: x-vluna-pagination: items needs data.items")
        items, icur = resolver.deref(items, dcur)
        item_type = writer.result(items.get("items", {}), icur)
    elif pagination is not None:
        raise SpecError(f"{where}: unknown x-vluna-pagination {pagination!r}")
    if pagination and "cursor" not in names:
        raise SpecError(f"{where}: a paginated operation needs a cursor query parameter")
    result_type = writer.result(data, dfile) if data else "Any"

    retry = _retry_rule(op, where, http_method, write)

    requires_one_of = list(op.get("x-vluna-requires-one-of", []))
    binding_names = {b for b, _ in bindings}
    if not set(requires_one_of) <= binding_names:
        raise SpecError(f"{where}: x-vluna-requires-one-of names bindings the operation does not declare")

    ops = []
    for client in clients:
        ops.append(
            Operation(
                operation_id=oid,
                client=client,
                area=area,
                method_name=method_name,
                http_method=http_method.upper(),
                path=path,
                rel_path=rel,
                surface=surface,
                summary=" ".join((op.get("summary") or oid).split()),
                description=" ".join((op.get("description") or "").split()),
                params=params,
                bindings=bindings,
                write=write,
                body_required=body_required,
                body_schema_literal=body_literal,
                result_type=result_type,
                item_type=item_type,
                pagination=pagination,
                not_served=bool(op.get("x-vluna-not-served")),
                requires_one_of=requires_one_of,
                bearer_override=op.get("x-vluna-auth") == "bearer-override",
                success_status=int(op.get("x-vluna-success-status", statuses[0])),
                merged_query=merged_query,
                merged_body=merged_body,
                merged_schemas=merged_schemas,
                whole_body=whole_body,
                retry=retry,
            )
        )
    for o in ops:
        o.model_modules = set(writer.modules)
    return ops


def _walk(node: Any) -> Any:
    """Every mapping inside a document, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def check_unions(resolver: Resolver, file: str) -> None:
    """Refuse ``oneOf``/``anyOf`` unions the converter could not tell apart by shape.

    JSON scalars, arrays and null are told apart by their JSON type. Object members need a required property
    no other object member requires (cattrs then dispatches on it); discriminated unions would need a generated
    hook and are refused until one is needed.
    """
    for node in _walk(resolver.doc(file).get("components", {}).get("schemas", {})):
        for key in ("oneOf", "anyOf"):
            if key not in node:
                continue
            if "discriminator" in node:
                raise SpecError(f"{file}: discriminated {key} is not supported by the generator yet")
            objects = []
            for member in node[key]:
                schema, _ = resolver.deref(member, file)
                if schema.get("type") == "object" or "properties" in schema:
                    objects.append(set(schema.get("required", [])))
            for i, required in enumerate(objects):
                others = set().union(*(r for j, r in enumerate(objects) if j != i)) if len(objects) > 1 else set()
                if len(objects) > 1 and not required - others:
                    raise SpecError(
                        f"{file}: a {key} member has no required property of its own; add one or a discriminator"
                    )


_MIXIN = re.compile(r"^(vluna_client(?:\.[a-z_][a-z0-9_]*)+):([A-Z][A-Za-z0-9]*)$")


def _area_mixins(doc: dict[str, Any], file: str) -> dict[str, tuple[str, str]]:
    """The spec-level ``x-vluna-area-mixins: {area: "vluna_client.module:Class"}`` of one file."""
    raw = doc.get("x-vluna-area-mixins") or {}
    if not isinstance(raw, dict):
        raise SpecError(f"{file}: x-vluna-area-mixins must map an area to 'vluna_client.module:Class'")
    out = {}
    for area, target in sorted(raw.items()):
        found = _MIXIN.match(str(target))
        if not found:
            raise SpecError(f"{file}: x-vluna-area-mixins.{area}: expected 'vluna_client.module:Class', got {target!r}")
        out[str(area)] = (found.group(1), found.group(2))
    return out


def load_api() -> Api:
    """Read every spec file and group its operations by client and area."""
    resolver = Resolver()
    areas: dict[tuple[str, str], Area] = {}
    seen: dict[tuple[str, str, str], str] = {}
    for spec in sorted(SPEC_DIR.glob("*.yaml")):
        doc = resolver.doc(spec.name)
        check_unions(resolver, spec.name)
        mixins = _area_mixins(doc, spec.name)
        unused = set(mixins)
        for path, item in sorted((doc.get("paths") or {}).items()):
            for http_method in HTTP_METHODS:
                if http_method not in item:
                    continue
                for op in _operation(resolver, spec.name, path, http_method, item[http_method], item):
                    key = (op.client, op.area, op.method_name)
                    if key in seen:
                        raise SpecError(f"{op.client}.{op.area}.{op.method_name} defined twice ({seen[key]})")
                    seen[key] = f"{spec.name} {op.http_method} {path}"
                    area = areas.setdefault((op.client, op.area), Area(client=op.client, name=op.area))
                    area.operations.append(op)
                    area.model_modules |= op.model_modules
                    if op.area in mixins and mixins[op.area] not in area.mixins:
                        area.mixins.append(mixins[op.area])
                    unused.discard(op.area)
        if unused:
            raise SpecError(f"{spec.name}: x-vluna-area-mixins names areas with no operation here: {sorted(unused)}")
    ordered = [areas[k] for k in sorted(areas)]
    for area in ordered:
        area.operations.sort(key=lambda o: o.method_name)
        for op in area.operations:
            op.constant = "_OP_" + op.method_name.upper()
    return Api(areas=ordered)
