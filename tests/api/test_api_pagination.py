"""``auto_paging_iter()`` follows cursors page by page, for both pagination styles of the spec.

``meta``: ``data`` is the array and ``meta.next_cursor`` / ``meta.has_more`` page it; ``items``: ``data`` is
``{items, next_cursor}``. Three pages are served; every follow-up request must repeat the first request's arguments
with ``cursor=<the previous next_cursor>`` and the iteration must stop when ``next_cursor`` is null.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import responses

from support.apispec import (
    ORIGIN,
    SampleBuilder,
    grouped,
    operations,
    page_item_node,
    plan_call,
    query_pairs,
    specs,
    verify_svc_auth,
)
from vluna_client import Page
from vluna_client._serde import unstructure

BY_ID = {so.id: so for so in operations()}
# One op of each style on each client where the style exists, with bindings, arrays and path parameters among them.
CASES = [
    "service.ops.list_events",  # meta; billing_account_id is both a header and a query filter
    "bearer.invoices.list",  # meta; bearer client, required query parameter
    "service.budgets.list",  # items; required runtime bindings, array query parameter
    "service.billing_accounts.list_users",  # items; path parameter
]
# Cursors are opaque: characters that need percent-encoding must come back intact.
CURSORS = [None, "eyJ0IjoxfQ+/=", "c2 & more", None]


def _label_field(sp, so):
    """A plain string property of the item schema, used to tell the items of different pages apart."""
    node, nfile = page_item_node(sp, so)
    flat, ffile = SampleBuilder(sp).flatten(node, nfile)
    for prop, pschema in (flat.get("properties") or {}).items():
        resolved, _ = sp.deref(pschema, ffile)
        if resolved.get("type") == "string" and not ({"enum", "pattern", "format"} & set(resolved)):
            return prop
    raise AssertionError(f"{so.id}: no plain string property to label items with")


@pytest.mark.parametrize("case", CASES)
def test_auto_paging_iter_follows_cursors_until_null(case, client_for):
    so = BY_ID[case]
    assert so.pagination in ("meta", "items")
    sp = specs()
    samples = SampleBuilder(sp)
    plan = plan_call(sp, samples, so, with_cursor=False)
    node, nfile = page_item_node(sp, so)
    template = samples.response(node, nfile)
    label = _label_field(sp, so)
    raw_id = so.op["x-vluna-item-id"]
    item_id = (raw_id,) if isinstance(raw_id, str) else tuple(raw_id)
    served = []

    def answer(request):
        cursor = grouped(query_pairs(request.url)).get("cursor", [None])
        assert len(cursor) == 1
        page = CURSORS.index(cursor[0]) if cursor[0] is not None else 0
        # Distinct ids too: the iterator skips an item whose id (x-vluna-item-id) it has already yielded.
        items = [dict(template, **{k: f"page{page}-item{i}" for k in (label, *item_id)}) for i in range(2)]
        served.extend(items)
        next_cursor = CURSORS[page + 1]
        if so.pagination == "meta":
            env = {
                "ok": True,
                "code": "OK",
                "data": items,
                "meta": {"next_cursor": next_cursor, "has_more": next_cursor is not None, "limit": 2},
            }
        else:
            env = {"ok": True, "code": "OK", "data": {"items": items, "next_cursor": next_cursor}}
        return 200, {}, json.dumps(env)

    client = client_for(so.client)
    method = getattr(getattr(client, so.area), so.method_name)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.add_callback(so.http_method, ORIGIN + plan.path, callback=answer, content_type="application/json")
        first = method(**plan.kwargs)
        assert isinstance(first, Page)
        assert first.next_cursor == CURSORS[1]
        assert first.has_more is True
        assert len(mock.calls) == 1, "the first page must not fetch ahead"
        items = list(first.auto_paging_iter())
        requests_sent = [c.request for c in mock.calls]

    assert len(requests_sent) == 3, "three pages: the iteration must stop on next_cursor null"
    assert [unstructure(i) for i in items] == served
    assert len(items) == 6
    base = grouped(plan.query)
    assert "cursor" not in base
    for n, request in enumerate(requests_sent):
        assert request.method == so.http_method
        assert urlsplit(request.url).path == plan.path
        sent = grouped(query_pairs(request.url or ""))
        cursor = sent.pop("cursor", None)
        assert sent == base, "every page repeats the other arguments unchanged"
        assert cursor == (None if n == 0 else [CURSORS[n]])
        for name, value in plan.headers.items():
            assert request.headers.get(name) == value
        assert "Idempotency-Key" not in request.headers
        if so.client == "service":
            verify_svc_auth(request)


def test_meta_pagination_stops_on_a_null_cursor_even_if_has_more_is_true(client_for):
    """A contradictory ``has_more: true`` with ``next_cursor: null`` must not loop or fetch a cursor-less page."""
    so = BY_ID["bearer.invoices.list"]
    sp = specs()
    samples = SampleBuilder(sp)
    plan = plan_call(sp, samples, so, with_cursor=False)
    node, nfile = page_item_node(sp, so)
    item = samples.response(node, nfile)
    env = {"ok": True, "code": "OK", "data": [item], "meta": {"next_cursor": None, "has_more": True}}
    client = client_for(so.client)
    with responses.RequestsMock() as mock:
        mock.add(so.http_method, ORIGIN + plan.path, json=env)
        page = client.invoices.list(**plan.kwargs)
        assert page.next_page() is None
        assert len(list(page.auto_paging_iter())) == 1
        assert len(mock.calls) == 1
