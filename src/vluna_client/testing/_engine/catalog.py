"""The public product catalog: the active products of the ops catalog, paged like the server (``id > cursor``).

There is one catalog: the products the ops routes create live in the spec-driven family
``/ops/catalog/products/{catalog_product_id}``, and this view lists its active ones; three products are seeded
into that family when the emulator starts.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Dict, List, Mapping, MutableMapping, Tuple

from .._jsutil import JsonValue, iso_ms, js_number, js_trim
from .realm import Realm, locked

__all__ = ["Catalog"]

PRODUCT_PAGE_MAX = 200
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Catalog:
    """The public view of the catalog products (read-only through the API)."""

    def __init__(self, realm: Realm, family: MutableMapping[Tuple[str, ...], Dict[str, Any]]) -> None:
        self.realm = realm
        self._family = family
        now = iso_ms(realm.now())
        for product in self._seed_products():
            product.update(created_at=now, updated_at=now, product_code=f"seed-{product['display_priority']}")
            family[(product["catalog_product_id"],)] = product

    @staticmethod
    def _seed_products() -> List[Dict[str, Any]]:
        # Ids ascend with display_priority so the server's "id > cursor" paging agrees with its sort order.
        ids = sorted(str(uuid.uuid4()) for _ in range(3))
        specs = [("subscription", "Starter"), ("subscription", "Pro"), ("credit", "Credit pack 10 USD")]
        return [
            {
                "catalog_product_id": product_id,
                "provider": "stripe",
                "kind": kind,
                "status": "active",
                "display_priority": (index + 1) * 10,
                "name": name,
                "default_currency": "USD",
                "presentation_config": {},
            }
            for index, (product_id, (kind, name)) in enumerate(zip(ids, specs))
        ]

    @locked
    def products(self, query: Mapping[str, JsonValue]) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
        """``GET /api/v1/catalog/products``: ``(data, meta)`` with cursor pagination."""
        raw_limit = query.get("limit")
        limit_value = js_number(raw_limit if raw_limit is not None else 50) if not isinstance(raw_limit, list) else None
        page = int(limit_value) if limit_value else 50
        page = max(1, min(PRODUCT_PAGE_MAX, page))
        cursor = query.get("cursor")
        cursor_id = js_trim(cursor).lower() if isinstance(cursor, str) and _UUID.match(js_trim(cursor)) else None
        kind = query.get("kind")
        currency = query.get("currency")
        ordered = sorted(
            (p for p in self._family.values() if p.get("status") == "active"),
            key=lambda p: (int(p.get("display_priority") or 0), str(p.get("name") or ""), p["catalog_product_id"]),
        )
        rows = [
            _public(product)
            for product in ordered
            if (cursor_id is None or product["catalog_product_id"] > cursor_id)
            and (kind in (None, "all") or product["kind"] == kind)
            and (currency is None or product["default_currency"] == currency)
        ]
        items = rows[:page]
        has_more = len(rows) > page
        raw_expand = query.get("expand")
        expand = set(raw_expand) if isinstance(raw_expand, list) else {raw_expand}
        data = []
        for product in items:
            entry = dict(product)
            if "prices" in expand or "prices.subscription_state" in expand:
                entry["prices"] = []
            if expand & {"prices", "prices.subscription_state", "default_price"}:
                entry["default_price"] = None
            if "feature_families" in expand:
                entry["feature_families"] = []
            data.append(entry)
        meta = {
            "next_cursor": items[-1]["catalog_product_id"] if has_more else None,
            "has_more": has_more,
            "limit": limit_value,
        }
        return data, meta


PUBLIC_FIELDS = (
    "catalog_product_id",
    "provider",
    "kind",
    "status",
    "display_priority",
    "name",
    "default_currency",
    "presentation_config",
)


def _public(product: Mapping[str, Any]) -> Dict[str, Any]:
    out = {name: product.get(name) for name in PUBLIC_FIELDS}
    out["display_priority"] = int(out["display_priority"] or 0)
    out["presentation_config"] = out["presentation_config"] or {}
    return out
