"""Read ``openapi/*.yaml`` into the typed model of :mod:`codegen.ir`: the one reader of the specs.

:func:`load_api` is the entry point. Everything that decides the shape of a generated method is read here: which
client an operation belongs to, its Python name and keyword arguments, the validation schema the core checks before
any I/O, the result type and the pagination style. Anything the generator cannot render faithfully is a hard
error, not a guess.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from vluna_client._config import SURFACE_PREFIX
from vluna_client._headers import ALL_BINDING_HEADERS

from .config import AREA_MIXINS
from .ir import (
    HTTP_METHODS,
    RETRY_RULES,
    ApiSpec,
    AreaKey,
    AreaSpec,
    BindingSpec,
    Client,
    KeySpec,
    MixinSpec,
    OperationSpec,
    Pagination,
    ParamSpec,
    Retry,
    SourceSpec,
    Surface,
)
from .resolver import ROOT, SPEC_DIR, Resolver, SpecError, model_module, snake, types_of
from .validation import ValidationSchemas

__all__ = ["ROOT", "SPEC_DIR", "SpecError", "load_api"]

# Header parameters the core owns (the runtime's table): the generator turns them into binding keywords, never into
# raw headers.
KEYWORD_OF_HEADER = {header: keyword for keyword, header in ALL_BINDING_HEADERS.items()}
RESERVED_KWARGS = {"idempotency_key", "timeout", "bearer_token", "self"}
# A path under a client's prefix (the runtime's table) is served to that client; any other path at the root.
SURFACES: dict[str, Client] = {prefix + "/": client for client, prefix in SURFACE_PREFIX.items()}


def load_api(spec_dir: Path = SPEC_DIR, area_mixins: Mapping[AreaKey, tuple[MixinSpec, ...]] = AREA_MIXINS) -> ApiSpec:
    """Read every spec file and group its operations by client and area (with the mixins of ``codegen.config``)."""
    resolver = Resolver(spec_dir)
    schemas = ValidationSchemas(resolver)
    areas: dict[tuple[str, str], AreaSpec] = {}
    seen: dict[tuple[str, str, str], str] = {}
    api = ApiSpec(areas=[])
    body_components: set[tuple[str, str]] = set()
    for spec in sorted(spec_dir.glob("*.yaml")):
        doc = resolver.doc(spec.name)
        check_unions(resolver, spec.name)
        api.components += [(spec.name, name, schema) for name, schema in _component_schemas(doc).items()]
        if "x-vluna-area-mixins" in doc:
            raise SpecError(f"{spec.name}: x-vluna-area-mixins is replaced by AREA_MIXINS in codegen/config.py")
        positions = {path: index for index, path in enumerate(doc.get("paths") or {})}
        for path, item in sorted((doc.get("paths") or {}).items()):
            for http_method in HTTP_METHODS:
                if http_method not in item:
                    continue
                reader = _Reader(
                    resolver, schemas, spec.name, path, http_method, item[http_method], item, positions[path]
                )
                served = _operation(reader)
                api.routes.append(served[0])
                if reader.body_component is not None:
                    body_components.add(reader.body_component)
                for op in served:
                    key = (op.client, op.area, op.method_name)
                    if key in seen:
                        raise SpecError(f"{op.client}.{op.area}.{op.method_name} defined twice ({seen[key]})")
                    seen[key] = f"{spec.name} {op.http_method} {path}"
                    area = areas.setdefault((op.client, op.area), AreaSpec(client=op.client, name=op.area))
                    area.operations.append(op)
                    area.model_modules |= op.model_modules
    for (client, name), mixins in sorted(area_mixins.items()):
        if (client, name) not in areas:
            raise SpecError(f"codegen/config.py: AREA_MIXINS names {client}.{name}, an area with no operation")
        areas[client, name].mixins = mixins
    ordered = [areas[k] for k in sorted(areas)]
    for area in ordered:
        area.operations.sort(key=lambda o: o.method_name)
        for op in area.operations:
            op.constant = "_OP_" + op.method_name.upper()
    api.areas, api.schemas = ordered, schemas.in_order()
    api.unmodelled = frozenset(body_components - _referenced_components(resolver))
    return api


def _referenced_components(resolver: Resolver) -> set[tuple[str, str]]:
    """The component schemas a ``$ref`` names anywhere but as the whole schema of a request body.

    A method spreads its request body's properties into keywords, so a schema named only there is never a type
    of the generated code; one named anywhere else (a response, a parameter, a property) is.
    """
    found: set[tuple[str, str]] = set()
    for spec in sorted(resolver.spec_dir.glob("*.yaml")):
        for where, node in _walk_at(resolver.doc(spec.name), ()):
            ref = node.get("$ref")
            if not isinstance(ref, str) or _is_request_body_schema(where):
                continue
            target = resolver.ref(ref, spec.name)
            if target.is_component_schema:
                found.add((target.file, target.name))
    return found


def _is_request_body_schema(where: tuple[str, ...]) -> bool:
    """Whether a document position is the schema of a request body (``.../requestBody/content/<type>/schema``)."""
    return (
        len(where) >= 4
        and where[-1] == "schema"
        and where[-3] == "content"
        and (where[-4] == "requestBody" or where[:2] == ("components", "requestBodies"))
    )


def _component_schemas(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = doc.get("components", {}).get("schemas") or {}
    return schemas


def _is_class_schema(schema: dict[str, Any]) -> bool:
    """Whether datamodel-code-generator renders this named schema as a class (object or enum)."""
    if "enum" in schema:
        return True
    return (schema.get("type") == "object" and bool(schema.get("properties"))) or "allOf" in schema


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
        types = types_of(node)
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
        types = [t for t in types_of(node) if t != "null"]
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


def _first_sentence(text: str) -> str:
    text = " ".join((text or "").split())
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    return m.group(1) if m else text


def _schema_types(node: dict[str, Any]) -> list[str]:
    kind = node.get("type")
    return list(kind) if isinstance(kind, list) else [kind] if kind else []


def _keys(resolver: Resolver, schema: dict[str, Any], current: str) -> tuple[tuple[KeySpec, ...], bool]:
    """For an object (or a list of objects) argument: the keys it takes, and whether they are each item's."""
    node, cur = resolver.deref(schema, current)
    of_items = "array" in _schema_types(node) and isinstance(node.get("items"), dict)
    if of_items:
        node, cur = resolver.deref(node["items"], cur)
    required = set(node.get("required", []))
    return tuple(KeySpec(name, name in required) for name in node.get("properties") or {}), of_items


def _data_schema(resolver: Resolver, response: dict[str, Any], current: str) -> tuple[Optional[dict[str, Any]], str]:
    """The ``data`` property of an envelope response (None when the response has no body)."""
    content = response.get("content", {}).get("application/json")
    if not content:
        return None, current
    schema, cur = resolver.deref(content["schema"], current)
    parts = schema.get("allOf", [schema])
    for part in parts:
        part, pcur = resolver.deref(part, cur)
        data = part.get("properties", {}).get("data")
        if data is not None and part.get("type") == "object" and "ok" not in part.get("properties", {}):
            return data, pcur
    return None, cur


def _retry_rule(op: dict[str, Any], where: str, http_method: str, write: bool) -> Retry:
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
    checked: Retry = rule
    if http_method == "get" and rule != "read":
        raise SpecError(f"{where}: a GET is always x-vluna-retry: read")
    if rule == "answered" and not write:
        raise SpecError(f"{where}: x-vluna-retry: answered is about replayed keys; the operation sends none")
    if rule == "read" and write:
        raise SpecError(f"{where}: an operation with an Idempotency-Key is not read-only")
    return checked


def _known_issue(op: dict[str, Any], where: str) -> str:
    """The operation's ``x-vluna-known-issue``: a server behaviour callers must know about, as one paragraph."""
    text = op.get("x-vluna-known-issue", "")
    if not isinstance(text, str):
        raise SpecError(f"{where}: x-vluna-known-issue must be text")
    return " ".join(text.split())


def _item_id(resolver: Resolver, op: dict[str, Any], where: str, data: dict[str, Any], dfile: str) -> list[str]:
    """The item fields named by ``x-vluna-item-id``, checked against the page's item schema.

    Every paginated operation names them, so ``auto_paging_iter()`` can drop an item a later page repeats.
    """
    pagination = op.get("x-vluna-pagination")
    raw = op.get("x-vluna-item-id")
    if pagination is None:
        if raw is not None:
            raise SpecError(f"{where}: x-vluna-item-id is only for paginated operations")
        return []
    if raw is None:
        raise SpecError(f"{where}: a paginated operation needs x-vluna-item-id (the field(s) naming an item)")
    names = [raw] if isinstance(raw, str) else list(raw)
    d, dcur = resolver.deref(data, dfile)
    if pagination == "items":
        d, dcur = resolver.deref(d.get("properties", {}).get("items", {}), dcur)
    item, _ = resolver.deref(d.get("items", {}), dcur)
    props = item.get("properties") or {}
    for name in names:
        if not isinstance(name, str) or name not in props:
            raise SpecError(f"{where}: x-vluna-item-id {name!r} is not a property of the page's items")
        if not name.isidentifier() or keyword.iskeyword(name):
            # The page reads the id from the model attribute, which must carry the wire name unchanged.
            raise SpecError(f"{where}: x-vluna-item-id {name!r} is not a plain Python attribute name")
    return names


# ------------------------------------------------------------------------------------------- reading one operation


@dataclass
class _Reader:
    """What the steps reading one operation share: where it is and the writers of types and schemas."""

    resolver: Resolver
    schemas: ValidationSchemas
    file: str
    path: str
    http_method: str
    op: dict[str, Any]
    path_item: dict[str, Any]
    position: int = 0  # of the path among the document's paths
    writer: TypeWriter = field(init=False)
    body_component: Optional[tuple[str, str]] = None  # (file, name) when the request body is a named schema

    def __post_init__(self) -> None:
        self.writer = TypeWriter(self.resolver)

    @property
    def where(self) -> str:
        return f"{self.file} {self.http_method.upper()} {self.path}"


@dataclass
class _Parameters:
    """Path and query keywords, bindings, and whether the operation is a keyed write."""

    params: list[ParamSpec] = field(default_factory=list)
    bindings: list[BindingSpec] = field(default_factory=list)
    write: bool = False
    merged_query: list[tuple[str, Any]] = field(default_factory=list)  # (wire name, validation schema)
    # Path and query parameters' schemas as written, by location then name.
    written: dict[str, dict[str, Any]] = field(default_factory=lambda: {"path": {}, "query": {}})

    @property
    def binding_names(self) -> set[str]:
        return {b.name for b in self.bindings}


def _route(path: str) -> tuple[Surface, str, list[Client]]:
    """The surface, the path relative to the client's base URL, and the clients that serve it."""
    clients = [c for prefix, c in SURFACES.items() if path.startswith(prefix)]
    surface: Surface = clients[0] if clients else "root"
    rel = path if surface == "root" else path[len(SURFACE_PREFIX[surface]) :]
    return surface, rel, clients or ["service", "bearer"]


def _parameters(r: _Reader) -> _Parameters:
    """Header parameters become bindings (or mark a write); path and query parameters become keywords."""
    out = _Parameters()
    raw_params = [*r.path_item.get("parameters", []), *r.op.get("parameters", [])]
    # Headers first, so query parameters can be checked against the bindings they may share a name with.
    raw_params.sort(key=lambda raw: r.resolver.deref(raw, r.file)[0]["in"] != "header")
    for raw in raw_params:
        p, pfile = r.resolver.deref(raw, r.file)
        if p["in"] in out.written:
            out.written[p["in"]][p["name"]] = p.get("schema", {})
        if p["in"] == "header":
            if p["name"] == "Idempotency-Key":
                out.write = True
            elif p["name"] in KEYWORD_OF_HEADER:
                out.bindings.append(BindingSpec(KEYWORD_OF_HEADER[p["name"]], bool(p.get("required"))))
            else:
                raise SpecError(f"{r.where}: header {p['name']} must be one of the shared parameters")
            continue
        if p["in"] not in ("path", "query"):
            raise SpecError(f"{r.where}: {p['in']} parameters are not supported")
        schema = p.get("schema", {})
        if p["in"] == "query" and snake(p["name"]) in out.binding_names:
            # Same name as a context binding (e.g. billing_account_id): one argument feeds both the header and
            # the query filter, as they mean the same account.
            out.merged_query.append((p["name"], r.schemas.schema(schema, pfile)))
            continue
        out.params.append(
            ParamSpec(
                wire=p["name"],
                name=snake(p["name"]),
                location=p["in"],
                required=bool(p.get("required")) or p["in"] == "path",
                type_hint=r.writer.argument(schema, pfile),
                description=_first_sentence(p.get("description", "")),
                schema=r.schemas.schema(schema, pfile),
            )
        )
    return out


@dataclass
class _Body:
    params: list[ParamSpec] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)  # properties that share a binding's keyword
    schema: Any = None
    whole: bool = False
    written: Optional[dict[str, Any]] = None  # the body's schema as the spec writes it
    required: bool = False


def _request_body(r: _Reader, binding_names: set[str]) -> _Body:
    """Top-level body properties become keywords; a free-form body is passed whole as ``body``."""
    out = _Body()
    body = r.op.get("requestBody")
    if not body:
        return out
    body, bfile = r.resolver.deref(body, r.file)
    content = body.get("content", {}).get("application/json")
    if not content:
        raise SpecError(f"{r.where}: only application/json request bodies are supported")
    out.written, out.required = content["schema"], bool(body.get("required"))
    if "$ref" in content["schema"]:
        target = r.resolver.ref(content["schema"]["$ref"], bfile)
        r.body_component = (target.file, target.name) if target.is_component_schema else None
    bschema, sfile = r.resolver.deref(content["schema"], bfile)
    if bschema.get("type") != "object":
        raise SpecError(f"{r.where}: the request body must be an object schema")
    renames = r.op.get("x-vluna-rename", {})
    required = set(bschema.get("required", []))
    for prop, pschema in (bschema.get("properties") or {}).items():
        if prop in binding_names and prop not in renames:
            # Same meaning as the binding header (e.g. billing_account_id): one argument feeds both.
            out.merged.append(prop)
            continue
        description = r.resolver.deref(pschema, sfile)[0].get("description", "") or pschema.get("description", "")
        keys, item_keys = _keys(r.resolver, pschema, sfile)
        out.params.append(
            ParamSpec(
                wire=prop,
                name=renames.get(prop, snake(prop)),
                location="body",
                required=prop in required,
                type_hint=r.writer.argument(pschema, sfile),
                description=_first_sentence(description),
                keys=keys,
                item_keys=item_keys,
            )
        )
    out.schema = r.schemas.schema(content["schema"], bfile)
    if not bschema.get("properties"):
        out.whole = True
        description = _first_sentence(bschema.get("description", ""))
        whole = ParamSpec("", "body", "whole_body", bool(body.get("required")), "Mapping[str, Any]", description)
        out.params.append(whole)
    return out


def _renames(r: _Reader, params: list[ParamSpec], merged: list[str]) -> dict[str, str]:
    """Keyword -> wire name where they differ; the core maps each wire name back to exactly one keyword."""
    keyword_of = {name: name for name in merged}
    for p in params:
        if p.location == "whole_body":
            continue
        if keyword_of.setdefault(p.wire, p.name) != p.name:
            raise SpecError(f"{r.where}: wire name {p.wire} would need two keywords ({keyword_of[p.wire]}, {p.name})")
    return {p.name: p.wire for p in params if p.location != "whole_body" and p.name != p.wire}


def _check_keywords(r: _Reader, params: list[ParamSpec], binding_names: set[str]) -> None:
    names = [p.name for p in params]
    dupes = {n for n in names if names.count(n) > 1} | (set(names) & (RESERVED_KWARGS | binding_names))
    if dupes:
        raise SpecError(f"{r.where}: keyword names clash: {sorted(dupes)}")


def _response(r: _Reader) -> tuple[int, Optional[dict[str, Any]], str]:
    """The success status and the ``data`` schema of the success response (None when it has none)."""
    # In spec order: the first 2xx listed is the usual success status (e.g. 201 before a 200 replay).
    statuses = [int(s) for s in r.op.get("responses", {}) if str(s).isdigit() and 200 <= int(s) < 300]
    if not statuses:
        raise SpecError(f"{r.where}: no 2xx response")
    data, dfile = _data_schema(r.resolver, r.op["responses"][str(statuses[0])], r.file)
    return int(r.op.get("x-vluna-success-status", statuses[0])), data, dfile


def _page_items(
    r: _Reader, data: dict[str, Any], dfile: str, names: list[str]
) -> tuple[Optional[Pagination], Optional[str]]:
    """The pagination style and the type of one item of a page."""
    pagination = r.op.get("x-vluna-pagination")
    if pagination is None:
        return None, None
    d, dcur = r.resolver.deref(data, dfile)
    if pagination == "meta":
        if d.get("type") != "array":
            raise SpecError(f"{r.where}: x-vluna-pagination: meta needs data to be an array")
        item_type = r.writer.result(d.get("items", {}), dcur)
    elif pagination == "items":
        items = d.get("properties", {}).get("items")
        if items is None:
            raise SpecError(f"{r.where}: x-vluna-pagination: items needs data.items")
        items, icur = r.resolver.deref(items, dcur)
        item_type = r.writer.result(items.get("items", {}), icur)
    else:
        raise SpecError(f"{r.where}: unknown x-vluna-pagination {pagination!r}")
    if "cursor" not in names:
        raise SpecError(f"{r.where}: a paginated operation needs a cursor query parameter")
    style: Pagination = "meta" if pagination == "meta" else "items"
    return style, item_type


def _requires_one_of(r: _Reader, binding_names: set[str]) -> list[str]:
    names = list(r.op.get("x-vluna-requires-one-of", []))
    if not set(names) <= binding_names:
        raise SpecError(f"{r.where}: x-vluna-requires-one-of names bindings the operation does not declare")
    return names


def _operation(r: _Reader) -> list[OperationSpec]:
    """One operation of the spec, as the method of each client that serves it."""
    op = r.op
    area, method_name = op.get("x-vluna-area"), op.get("x-vluna-method")
    if not area or not method_name:
        raise SpecError(f"{r.where}: x-vluna-area and x-vluna-method are required")
    surface, rel, clients = _route(r.path)
    found = _parameters(r)
    body = _request_body(r, found.binding_names)
    params = found.params + body.params
    _check_keywords(r, params, found.binding_names)
    renames = _renames(r, params, [w for w, _ in found.merged_query] + body.merged)
    success_status, found_data, dfile = _response(r)
    data = found_data or {}
    pagination, item_type = _page_items(r, data, dfile, [p.name for p in params])
    query_schemas = [(p.wire, p.schema) for p in params if p.location == "query"] + found.merged_query
    base = OperationSpec(
        client=clients[0],
        operation_id=op.get("operationId") or "",
        area=area,
        method_name=method_name,
        http_method=r.http_method.upper(),
        path=r.path,
        rel_path=rel,
        surface=surface,
        summary=" ".join((op.get("summary") or op.get("operationId") or "").split()),
        description=" ".join((op.get("description") or "").split()),
        params=params,
        bindings=found.bindings,
        write=found.write,
        body_schema=body.schema,
        result_type=r.writer.result(data, dfile) if data else "Any",
        item_type=item_type,
        pagination=pagination,
        not_served=bool(op.get("x-vluna-not-served")),
        requires_one_of=_requires_one_of(r, found.binding_names),
        bearer_override=op.get("x-vluna-auth") == "bearer-override",
        success_status=success_status,
        query_schemas=query_schemas,
        whole_body=body.whole,
        renames=renames,
        merged_body=body.merged,
        retry=_retry_rule(op, r.where, r.http_method, found.write),
        known_issue=_known_issue(op, r.where),
        item_id=_item_id(r.resolver, op, r.where, data, dfile),
        source=SourceSpec(
            file=r.file,
            position=r.position,
            security=_security(r),
            path_params=found.written["path"],
            query_params=found.written["query"],
            body=body.written,
            body_required=body.required,
            data=found_data,
        ),
    )
    return [replace(base, client=client, model_modules=set(r.writer.modules)) for client in clients]


def _security(r: _Reader) -> frozenset[str]:
    """The security schemes of the operation: its own ``security``, else its document's."""
    requirements = r.op.get("security", r.resolver.doc(r.file).get("security", []))
    return frozenset(name for requirement in requirements for name in requirement)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping inside a document, depth first."""
    for _, found in _walk_at(node, ()):
        yield found


def _walk_at(node: Any, where: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every mapping inside a document with its position (keys and list indexes), depth first."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _walk_at(value, (*where, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk_at(value, (*where, str(index)))


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
