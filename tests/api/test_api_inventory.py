"""The generated operation registry against the specs, the server inventory and the API reference.

* ``OPERATIONS`` has exactly one entry per (path, method) of the specs and client (``/health`` is on both clients);
* together they cover every route of ``operations.tsv`` that is in the contract or served, minus webhooks, the demo
  routes and the unmounted MCP routes, and nothing else;
* ``x-vluna-not-served`` marks exactly the contract routes the open-source server does not serve;
* ``docs/api.md`` lists every operation with its HTTP method, path and Python call.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections import Counter

import pytest

from support.apispec import ROOT, client_rows, clients_for, load_inventory, operations, specs
from vluna_client._generated.operations import OPERATIONS

SPEC_OPS = operations()
ROWS = client_rows(load_inventory())
GENERATED = {(c, a, m): (module, const, verb, path) for c, a, m, module, const, verb, path in OPERATIONS}

AREA_COUNTS = Counter((so.client, so.area) for so in SPEC_OPS)
CLIENT_COUNTS = Counter(so.client for so in SPEC_OPS)


def _spec_pairs_per_client():
    """(client, METHOD, path) for every path and method written in the specs."""
    out = set()
    for doc in specs().docs.values():
        for path, item in (doc.get("paths") or {}).items():
            for verb in ("get", "post", "put", "patch", "delete"):
                if verb not in item:
                    continue
                out |= {(c, verb.upper(), path) for c in clients_for(path)}
    return out


@pytest.mark.parametrize(
    "client", sorted(CLIENT_COUNTS), ids=[f"{c}-{CLIENT_COUNTS[c]}ops" for c in sorted(CLIENT_COUNTS)]
)
def test_operation_count_per_client_matches_the_specs(client):
    """One operation per (path, method) whose prefix names the client, plus ``/health`` on both (count in the id)."""
    pairs = {p for p in _spec_pairs_per_client() if p[0] == client}
    generated = [o for o in OPERATIONS if o[0] == client]
    assert len(generated) == len(pairs) == CLIENT_COUNTS[client]
    assert {(o[0], o[5], o[6]) for o in generated} == pairs
    # One method per (path, method): no route generated twice under two names.
    assert len({(o[5], o[6]) for o in generated}) == len(generated)


@pytest.mark.parametrize(
    "client_area",
    sorted(AREA_COUNTS),
    ids=[f"{c}.{a}-{AREA_COUNTS[(c, a)]}" for c, a in sorted(AREA_COUNTS)],
)
def test_operation_count_per_area_matches_the_specs(client_area):
    spec_methods = sorted(so.method_name for so in SPEC_OPS if (so.client, so.area) == client_area)
    generated = sorted(m for c, a, m, *_ in OPERATIONS if (c, a) == client_area)
    assert generated == spec_methods
    assert len(generated) == AREA_COUNTS[client_area]


def test_registry_matches_the_specs_operation_by_operation():
    expected = {so.key: (so.http_method, so.path) for so in SPEC_OPS}
    got = {key: (verb, path) for key, (_m, _c, verb, path) in GENERATED.items()}
    assert len(GENERATED) == len(OPERATIONS), "a (client, area, method) appears twice in OPERATIONS"
    assert got == expected
    for (client, area, method), (module, const, _verb, _path) in GENERATED.items():
        assert module == f"vluna_client._generated.endpoints.{client}_{area}"
        assert const == f"_OP_{method.upper()}"


def test_registry_covers_the_server_inventory_and_nothing_else():
    """Every in-contract or served route of operations.tsv (minus webhooks, demo, /mcp) is one client operation."""
    inventory = {(r.method, r.path) for r in ROWS}
    generated = {(verb, path) for *_, verb, path in OPERATIONS}
    missing = sorted(inventory - generated)
    extra = sorted(generated - inventory)
    assert not missing, f"routes of the inventory without a client operation: {missing}"
    assert not extra, f"client operations the inventory does not know: {extra}"
    # /health is the only route on both clients; every other route belongs to the client its prefix names.
    per_route = Counter((verb, path) for *_, verb, path in OPERATIONS)
    assert {k for k, n in per_route.items() if n > 1} == {("GET", "/health")}
    for client, *_rest, path in OPERATIONS:
        prefix = {"service": "/mgt/v1/", "bearer": "/api/v1/"}[client]
        assert path.startswith(prefix) or path == "/health"


def test_not_served_operations_are_exactly_the_routes_the_server_lacks():
    """``x-vluna-not-served`` <=> in the contract but ``in_server=no`` in the inventory."""
    not_served_rows = {(r.method, r.path) for r in ROWS if r.in_server != "yes"}
    assert all(r.in_contract == "yes" for r in ROWS if r.in_server != "yes")
    marked = {(so.http_method, so.path) for so in SPEC_OPS if so.not_served}
    assert marked == not_served_rows


def test_idempotent_writes_and_hanging_replays_match_the_inventory():
    """IdempotencyKey is declared exactly where the server's interceptor requires the header, and
    ``x-vluna-retry: answered`` exactly where the inventory notes a handler that writes its own reply (@Res)."""
    by_route = {(r.method, r.path): r for r in ROWS}
    served = [so for so in SPEC_OPS if (so.http_method, so.path) in by_route and not so.not_served]
    idem = {so.id for so in served if so.idempotency}
    assert idem == {so.id for so in served if by_route[(so.http_method, so.path)].idempotency_key == "required"}
    hangs = {so.id for so in SPEC_OPS if so.retry == "answered"}
    assert hangs == {so.id for so in served if by_route[(so.http_method, so.path)].replay_hangs}


def _generated_operation(so):
    module, const, _verb, _path = GENERATED[so.key]
    return getattr(importlib.import_module(module), const)


@pytest.mark.parametrize("so", SPEC_OPS, ids=[so.id for so in SPEC_OPS])
def test_not_served_is_said_in_the_docstring(so, client_for):
    method = getattr(getattr(client_for(so.client), so.area), so.method_name)
    assert ("Not served" in (method.__doc__ or "")) is so.not_served
    assert _generated_operation(so).not_served is so.not_served


@pytest.mark.parametrize("so", SPEC_OPS, ids=[so.id for so in SPEC_OPS])
def test_known_server_issues_are_said_in_the_docstring_and_the_reference(so, client_for):
    """``x-vluna-known-issue`` reaches the method's docstring and the operation's entry in docs/api.md."""
    method = getattr(getattr(client_for(so.client), so.area), so.method_name)
    doc = " ".join((method.__doc__ or "").split())
    issue = " ".join(str(so.op.get("x-vluna-known-issue", "")).split())
    assert ("Known server issue:" in doc) is bool(issue)
    if issue:
        assert f"Known server issue: {issue}" in doc
        assert f"- `{so.area}.{so.method_name}`: {issue}" in DOC_TEXT


@pytest.mark.parametrize("so", [so for so in SPEC_OPS if so.pagination], ids=lambda so: so.id)
def test_paginated_operations_name_their_item_id(so):
    """Every list names the item field(s) its page iterator uses to drop repeated items."""
    raw = so.op["x-vluna-item-id"]
    expected = (raw,) if isinstance(raw, str) else tuple(raw)
    assert _generated_operation(so).item_id == expected


@pytest.mark.parametrize("so", SPEC_OPS, ids=[so.id for so in SPEC_OPS])
def test_operation_description_matches_the_spec(so):
    """The ``Operation`` the endpoint hands to the core says what the spec says."""
    op = _generated_operation(so)
    prefix = so.surface_prefix
    assert op.method == so.http_method
    assert op.path == so.path[len(prefix) :]
    assert op.surface == {"/mgt/v1": "service", "/api/v1": "bearer", "": "root"}[prefix]
    assert op.operation_id == so.operation_id
    assert op.name == f"{so.area}.{so.method_name}"
    assert op.write is so.idempotency
    assert set(op.required_bindings) == {b for b, req in so.bindings.items() if req}
    assert set(op.requires_one_of) == set(so.requires_one_of)
    assert list(op.path_params) == [p.wire for p in so.path_params]
    assert set(op.query_schema) == {p.wire for p in so.query_params}
    assert (op.body_schema is None) is (so.body_schema is None)
    assert op.pagination == so.pagination
    assert op.retry == so.retry
    # README: the first 2xx the spec lists, unless x-vluna-success-status overrides it.
    assert op.success_status == so.success_status, (
        f"{so.id}: spec lists {list(so.op['responses'])} first 2xx {so.success_status}, generated {op.success_status}"
    )


def test_retry_rules_are_stated_for_every_write_and_fit_the_route():
    """Every non-GET states its rule; keyless POSTs are never retried after a lost answer unless read-only."""
    for so in SPEC_OPS:
        if so.http_method == "GET":
            assert so.retry == "read", so.id
            continue
        assert "x-vluna-retry" in so.op, so.id
        if not so.idempotency and so.http_method == "POST":
            assert so.retry in ("read", "unsent", "idempotent"), so.id
        if so.idempotency:
            assert so.retry in ("idempotent", "answered"), so.id


# ---------------------------------------------------------------------------------------------- docs/api.md

DOC_ROW = re.compile(r"^\| `(?P<area>\w+)\.(?P<method>\w+)\((?P<args>[^)]*)\)` \| `(?P<verb>[A-Z]+) (?P<path>\S+)` \|")


def _doc_rows():
    """Rows of docs/api.md per client section: (client, area, method) -> (args, verb, path)."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    client = None
    area = None
    rows = {}
    for line in text.splitlines():
        if line.startswith("## "):
            client = {"## ServiceClient": "service", "## BearerClient": "bearer"}.get(line.strip())
        elif line.startswith("### "):
            m = re.match(r"### `client\.(\w+)`", line)
            area = m.group(1) if m else None
        m = DOC_ROW.match(line)
        if m:
            assert client, f"row outside a client section: {line}"
            assert area == m.group("area"), f"row outside its area section: {line}"
            key = (client, m.group("area"), m.group("method"))
            assert key not in rows, f"listed twice: {key}"
            args = [a.strip() for a in m.group("args").split(",") if a.strip()]
            rows[key] = (args, m.group("verb"), m.group("path"))
    return rows


DOC_ROWS = _doc_rows()
DOC_TEXT = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")


def test_docs_list_nothing_but_real_operations():
    assert set(DOC_ROWS) == set(GENERATED)


@pytest.mark.parametrize("so", SPEC_OPS, ids=[so.id for so in SPEC_OPS])
def test_docs_list_every_operation(so, client_for):
    assert so.key in DOC_ROWS, f"docs/api.md does not list {so.id}"
    args, verb, path = DOC_ROWS[so.key]
    assert (verb, path) == (so.http_method, so.path)
    # The Python call shows the keywords the method cannot go without.
    method = getattr(getattr(client_for(so.client), so.area), so.method_name)
    required = [n for n, p in inspect.signature(method).parameters.items() if p.default is inspect.Parameter.empty]
    assert args == required
