"""Cursor pagination in both shapes the server uses (wire §8)."""

from __future__ import annotations

from itertools import islice
from urllib.parse import parse_qs, urlsplit

import pytest
from responses import matchers

from support.mock_deployment import URL, ok, verify_request
from vluna_client import Page


def product(n: int) -> dict:
    return {
        "catalog_product_id": f"prod_{n}",
        "provider": "stripe",
        "kind": "subscription",
        "status": "active",
        "display_priority": n,
        "name": f"Plan {n}",
        "default_currency": "usd",
        "presentation_config": {},
    }


def feature(n: int) -> dict:
    return {
        "feature_id": f"f_{n}",
        "feature_family_id": "fam_1",
        "feature_code": f"feature.{n}",
        "name": f"Feature {n}",
        "active": True,
        "metadata": {},
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
    }


def meta_page(items, cursor, has_more=None):
    meta = {"next_cursor": cursor, "has_more": cursor is not None if has_more is None else has_more, "limit": 2}
    return ok(items, meta=meta)


def items_page(items, cursor):
    return ok({"items": items, "next_cursor": cursor})


def query_of(call) -> dict:
    return parse_qs(urlsplit(call.request.path_url).query)


def add_pages(rsps, url, pages, base_query):
    """Page i answers only to the cursor that page i-1 handed out."""
    for cursor_in, body in pages:
        query = dict(base_query)
        if cursor_in is not None:
            query["cursor"] = cursor_in
        rsps.add("GET", url, json=body, match=[matchers.query_param_matcher(query)])


def test_meta_style_list_follows_cursors_across_three_pages(client, rsps) -> None:
    add_pages(
        rsps,
        URL["products"],
        [
            (None, meta_page([product(1), product(2)], "c1")),
            ("c1", meta_page([product(3), product(4)], "c2")),
            ("c2", meta_page([product(5)], None)),
        ],
        {"limit": "2", "expand": "prices"},
    )
    page = client.catalog.list_products(principal_id="org_123", limit=2, expand=["prices"])
    assert isinstance(page, Page)
    assert [p.catalog_product_id for p in page.data] == ["prod_1", "prod_2"]
    assert page.next_cursor == "c1"
    assert page.has_more is True
    assert page.meta["limit"] == 2

    ids = [p.catalog_product_id for p in page.auto_paging_iter()]
    assert ids == ["prod_1", "prod_2", "prod_3", "prod_4", "prod_5"]
    assert len(rsps.calls) == 3  # stopped when next_cursor was null
    assert [query_of(c).get("cursor") for c in rsps.calls] == [None, ["c1"], ["c2"]]
    for call in rsps.calls:
        # every page keeps the caller's filters and bindings, and is signed
        assert query_of(call)["limit"] == ["2"]
        assert query_of(call)["expand"] == ["prices"]
        assert call.request.headers["X-Principal-Id"] == "org_123"
        assert "Idempotency-Key" not in call.request.headers
        verify_request(call.request)


def test_items_style_list_follows_cursors_across_three_pages(client, rsps) -> None:
    add_pages(
        rsps,
        URL["features"],
        [
            (None, items_page([feature(1), feature(2)], "n1")),
            ("n1", items_page([feature(3)], "n2")),
            ("n2", items_page([feature(4), feature(5)], None)),
        ],
        {"active": "true"},
    )
    page = client.features.list(active=True)
    assert page.next_cursor == "n1"
    assert page.has_more is True
    codes = [f.feature_code for f in page.auto_paging_iter()]
    assert codes == [f"feature.{n}" for n in range(1, 6)]
    assert len(rsps.calls) == 3
    assert [query_of(c).get("cursor") for c in rsps.calls] == [None, ["n1"], ["n2"]]


def test_single_page_makes_one_call(client, rsps) -> None:
    rsps.add("GET", URL["features"], json=items_page([feature(1)], None))
    page = client.features.list()
    assert page.next_cursor is None
    assert page.has_more is False
    assert page.next_page() is None
    assert [f.feature_id for f in page.auto_paging_iter()] == ["f_1"]
    assert len(rsps.calls) == 1


def test_stops_on_a_repeated_cursor(client, rsps) -> None:
    add_pages(
        rsps,
        URL["features"],
        [
            (None, items_page([feature(1)], "same")),
            ("same", items_page([feature(2)], "same")),  # a server that loops
        ],
        {},
    )
    codes = [f.feature_code for f in islice(client.features.list().auto_paging_iter(), 20)]
    assert codes == ["feature.1", "feature.2"]
    assert len(rsps.calls) == 2


def test_stops_on_a_cursor_seen_earlier(client, rsps) -> None:
    add_pages(
        rsps,
        URL["products"],
        [
            (None, meta_page([product(1)], "a")),
            ("a", meta_page([product(2)], "b")),
            ("b", meta_page([product(3)], "a")),  # back to an older cursor
        ],
        {},
    )
    ids = [p.catalog_product_id for p in islice(client.catalog.list_products(principal_id="o").auto_paging_iter(), 20)]
    assert ids == ["prod_1", "prod_2", "prod_3"]
    assert len(rsps.calls) == 3


def test_next_page_fetches_lazily(client, rsps) -> None:
    add_pages(
        rsps,
        URL["features"],
        [(None, items_page([feature(1)], "n1")), ("n1", items_page([feature(2)], None))],
        {},
    )
    iterator = client.features.list().auto_paging_iter()
    assert next(iterator).feature_id == "f_1"
    assert len(rsps.calls) == 1
    assert next(iterator).feature_id == "f_2"
    assert len(rsps.calls) == 2
    with pytest.raises(StopIteration):
        next(iterator)
    assert len(rsps.calls) == 2


def test_empty_cursor_string_means_last_page(client, rsps) -> None:
    rsps.add("GET", URL["products"], json=meta_page([product(1)], "", has_more=False))
    page = client.catalog.list_products(principal_id="o")
    assert page.next_cursor is None
    assert len(list(page.auto_paging_iter())) == 1
    assert len(rsps.calls) == 1


def test_next_page_of_a_bound_view_keeps_its_bindings(client, rsps) -> None:
    add_pages(
        rsps,
        URL["products"],
        [(None, meta_page([product(1)], "c1")), ("c1", meta_page([product(2)], None))],
        {},
    )
    bound = client.bind(principal_id="org_bound")
    assert len(list(bound.catalog.list_products().auto_paging_iter())) == 2
    assert [c.request.headers["X-Principal-Id"] for c in rsps.calls] == ["org_bound", "org_bound"]


# -- lists the server pages badly (x-vluna-item-id, x-vluna-known-issue) -----------------------------------------


def bundle(n: int) -> dict:
    return {
        "bundle_id": f"b_{n}",
        "bundle_key": f"bundle-{n}",
        "name": None,
        "status": "active",
        "metadata": {},
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
    }


def version(policy: str, n: int) -> dict:
    return {
        "policy_id": policy,
        "policy_version": str(n),
        "status": "draft",
        "effective_at": "2026-01-01T00:00:00.000Z",
        "dsl_json": {},
        "dsl_hash": f"h{n}",
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
    }


def test_items_repeated_on_later_pages_are_yielded_once(client, rsps) -> None:
    """Budgets-style paging (sorted one way, paged another) repeats items: each id comes out once, first seen."""
    add_pages(
        rsps,
        URL["features"],
        [
            (None, items_page([feature(1), feature(2)], "n1")),
            ("n1", items_page([feature(2), feature(3)], "n2")),
            ("n2", items_page([feature(1), feature(3), feature(4)], None)),
        ],
        {},
    )
    page = client.features.list()
    assert page.item_id == ("feature_id",)
    assert [f.feature_id for f in page.auto_paging_iter()] == ["f_1", "f_2", "f_3", "f_4"]
    assert len(rsps.calls) == 3  # repeats do not stop the walk


def test_pages_fetched_with_next_page_drop_repeats_too(client, rsps) -> None:
    add_pages(
        rsps,
        URL["products"],
        [(None, meta_page([product(1)], "c1")), ("c1", meta_page([product(1), product(2)], None))],
        {},
    )
    second = client.catalog.list_products(principal_id="o").next_page()
    assert second is not None
    assert second.item_id == ("catalog_product_id",)
    assert [p.catalog_product_id for p in second.data] == ["prod_1", "prod_2"]  # the page itself is untouched
    assert [p.catalog_product_id for p in second.auto_paging_iter()] == ["prod_1", "prod_2"]


def test_a_composite_item_id_keeps_items_that_share_one_part(client, rsps) -> None:
    url = f"{URL['features'].rsplit('/', 1)[0]}/event-rating-policies/pol_1/versions"
    add_pages(
        rsps,
        url,
        [
            (None, items_page([version("pol_1", 1), version("pol_1", 2)], "v2")),
            ("v2", items_page([version("pol_1", 2), version("pol_1", 3)], None)),
        ],
        {},
    )
    page = client.rating_policies.list_versions(policy_id="pol_1")
    assert page.item_id == ("policy_id", "policy_version")
    assert [v.policy_version for v in page.auto_paging_iter()] == ["1", "2", "3"]


def test_an_empty_page_with_a_cursor_is_followed_not_taken_for_the_end(client, rsps) -> None:
    """policy_bundles.list filters a page after cutting it: a page can be empty and still have a cursor."""
    url = f"{URL['features'].rsplit('/', 1)[0]}/gate/policy-bundles"
    add_pages(
        rsps,
        url,
        [
            (None, items_page([bundle(1)], "k1")),
            ("k1", items_page([], "k2")),
            ("k2", items_page([], "k3")),
            ("k3", items_page([bundle(2)], None)),
        ],
        {},
    )
    page = client.policy_bundles.list()
    assert [b.bundle_id for b in page.auto_paging_iter()] == ["b_1", "b_2"]
    assert [query_of(c).get("cursor") for c in rsps.calls] == [None, ["k1"], ["k2"], ["k3"]]
    empty = page.next_page()
    assert empty is not None
    assert empty.data == []
    assert empty.next_cursor == "k2"


def test_items_without_an_id_are_never_taken_for_repeats() -> None:
    second = Page(data=[{"id": "a"}, {"id": None}, {"other": 1}], item_id=("id",))
    first = Page(
        data=[{"id": "a"}, {"id": None}],
        next_cursor="c1",
        fetch_next=lambda cursor: second,
        item_id=("id",),
    )
    assert list(first.auto_paging_iter()) == [{"id": "a"}, {"id": None}, {"id": None}, {"other": 1}]


def test_a_page_without_item_id_yields_everything() -> None:
    second = Page(data=[{"id": "a"}])
    first = Page(data=[{"id": "a"}], next_cursor="c1", fetch_next=lambda cursor: second)
    assert list(first.auto_paging_iter()) == [{"id": "a"}, {"id": "a"}]
