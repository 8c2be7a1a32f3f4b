"""Meter prices, priced commit lines and their pricing snapshots and fingerprints (the server's shapes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .._errors import invalid_input
from .._inputs import as_object, normalize_identifier, parse_optional_non_negative_int, parse_positive_int
from .._jsutil import JsonValue, iso_ms, js_json, js_trim, sha256_hex
from .._state import Computation, Feature, NormalizedItem, Price, User
from .price_rules import blocks_postpaid, blocks_prepaid, price_from_fields
from .realm import Realm, locked

__all__ = ["Hint", "Pricing"]

Hint = Dict[str, Any]


class Pricing:
    """Per-meter prices (the realm's ``meter_prices``; one default for unconfigured meters) and priced lines.

    Prices belong to meters, realm-wide, as on the server: every feature that allows a meter charges its price.
    """

    def __init__(self, realm: Realm) -> None:
        self.realm = realm

    @locked
    def set_price(self, meter_code: str, unit_price_xusd: Optional[int], unit_cost_xusd: int = 0) -> None:
        """Price a meter per unit (``None`` makes it unpriced: commits then get ``pricing.not_configured``)."""
        if unit_price_xusd is None:
            self.set_meter_price(meter_code, None)
        else:
            self.set_meter_price(meter_code, {"unit_price_xusd": unit_price_xusd, "unit_cost_xusd": unit_cost_xusd})

    @locked
    def set_meter_price(self, meter_code: str, fields: Optional[Mapping[str, Any]]) -> Optional[Price]:
        """Store a meter's price from ``meter_prices`` fields (completed like the server), or unprice it."""
        code = normalize_identifier(meter_code, "meter_code")
        if fields is None:
            self.realm.prices[code] = None
            return None
        price = price_from_fields(fields, self.realm.now())
        self.realm.prices[code] = price
        return price

    @locked
    def configured_price(self, meter_code: str) -> Optional[Price]:
        """The price stored for a meter, without the emulator-wide default."""
        return self.realm.prices.get(meter_code)

    @locked
    def price_of(self, meter_code: str) -> Optional[Price]:
        """The price of a meter: its own, else the emulator-wide default (``None``: unpriced)."""
        if meter_code in self.realm.prices:
            return self.realm.prices[meter_code]
        if self.realm.price_per_unit_xusd is None:
            return None
        return Price(self.realm.price_per_unit_xusd, 0, self.realm.started_at)

    @locked
    def is_zero_cost(self, feature: Feature) -> bool:
        """Whether every meter of the feature is free or unpriced (then an empty wallet does not block)."""
        if not feature.meters:
            return False
        for meter in feature.meters:
            price = self.price_of(meter)
            if price is not None and (price.unit_price_xusd != 0 or price.unit_cost_xusd != 0):
                return False
        return True

    # ----------------------------------------------------------------- identities and fingerprints

    @staticmethod
    def identity(feature_code: str, meter_code: str, price: Price, kind: str) -> str:
        """The server's price identity: which residual bucket a line uses, and the ``meters`` view's fingerprint."""
        revenue = kind == "revenue"
        payload: Dict[str, Any] = {
            "schema": "gate/price-identity:v2",
            "kind": kind,
            "feature_code": feature_code,
            "meterCode": meter_code,
            "unit_price_xusd": str(price.unit_price_xusd if revenue else price.unit_cost_xusd),
            "unit_quantity_minor": str(price.unit_quantity_minor if revenue else price.cost_unit_quantity_minor),
            "rounding": price.rounding if revenue else price.cost_rounding,
            "effective_at": iso_ms(price.effective_at),
        }
        if price.residual_mode == "prepaid":
            payload["residual_mode"] = "prepaid"
        return sha256_hex(js_json(payload))

    @locked
    def price_identity(self, feature_code: str, meter_code: str, price: Price) -> str:
        """The revenue identity the ``meters`` view shows as ``pricing.fingerprint`` (no residual mode)."""
        plain = Price(**{**price.__dict__, "residual_mode": "postpaid"})
        return self.identity(feature_code, meter_code, plain, "revenue")

    @staticmethod
    def _fingerprint(
        feature_code: str, meter_code: str, unit: str, quantity: int, price: Price, kind: str, computed_at: str
    ) -> str:
        revenue = kind == "revenue"
        payload: Dict[str, Any] = {
            "schema": "gate/pricing:v2",
            "pricing_kind": kind,
            "feature_code": feature_code,
            "meter_code": meter_code,
            "unit": unit,
            "quantity_minor": str(quantity),
            "unit_price_xusd": str(price.unit_price_xusd if revenue else price.unit_cost_xusd),
            "unit_quantity_minor": str(price.unit_quantity_minor if revenue else price.cost_unit_quantity_minor),
            "rounding": price.rounding if revenue else price.cost_rounding,
            "effective_at": iso_ms(price.effective_at),
            "computed_at": computed_at,
        }
        if price.residual_mode == "prepaid":
            payload["residual_mode"] = "prepaid"
        if revenue and price.unit_price_dynamic_xusd != 0:
            payload["unit_price_base_xusd"] = str(price.unit_price_base_xusd)
            payload["unit_price_dynamic_xusd"] = str(price.unit_price_dynamic_xusd)
        return sha256_hex(js_json(payload))

    @staticmethod
    def _snapshot(
        feature_code: str, meter_code: str, unit: str, price: Price, kind: str, computed_at: str, fingerprint: str
    ) -> Dict[str, Any]:
        revenue = kind == "revenue"
        snapshot: Dict[str, Any] = {
            "computed_at": computed_at,
            "unit": unit,
            "fingerprint": fingerprint,
            "unit_price_xusd": str(price.unit_price_xusd if revenue else price.unit_cost_xusd),
            "unit_quantity_minor": str(price.unit_quantity_minor if revenue else price.cost_unit_quantity_minor),
            "rounding": price.rounding if revenue else price.cost_rounding,
            "effective_at": iso_ms(price.effective_at),
            "provenance": {"source": "live", "inputs": {"feature_code": feature_code, "meter_code": meter_code}},
        }
        if revenue and price.unit_price_dynamic_xusd != 0:
            snapshot["unit_price_base_xusd"] = str(price.unit_price_base_xusd)
            snapshot["unit_price_dynamic_xusd"] = str(price.unit_price_dynamic_xusd)
        return snapshot

    # ----------------------------------------------------------------- priced lines

    @locked
    def compute(
        self,
        feature_code: str,
        item: NormalizedItem,
        price: Optional[Price],
        user: Optional[User] = None,
        unit: str = "unit",
        at: Optional[datetime] = None,
    ) -> Computation:
        """Price one meter line, carrying block remainders per user and price like the server's residual buckets.

        ``price`` ``None`` gives the server's "missing" line (0 xusd, ``provenance.source`` ``missing``).
        """
        computed_at = iso_ms(self.realm.now())
        if price is None:
            return self._missing(feature_code, item, unit, computed_at, at or self.realm.now())
        revenue_identity = self.identity(feature_code, item.meter_code, price, "revenue")
        cost_identity = self.identity(feature_code, item.meter_code, price, "cost")
        owner = user.billing_user_id if user is not None else ""
        revenue_key = (owner, item.meter_code, revenue_identity)
        cost_key = (owner, item.meter_code, cost_identity)
        carried = self._carried(revenue_key, price.unit_quantity_minor, price.rounding)
        cost_carried = self._carried(cost_key, price.cost_unit_quantity_minor, price.cost_rounding)
        if price.residual_mode == "prepaid":
            blocks, rest = blocks_prepaid(item.quantity, price.unit_quantity_minor, carried)
            cost_blocks, cost_rest = blocks_prepaid(item.quantity, price.cost_unit_quantity_minor, cost_carried)
        else:
            blocks, rest = blocks_postpaid(item.quantity, price.unit_quantity_minor, price.rounding, carried)
            cost_blocks, cost_rest = blocks_postpaid(
                item.quantity, price.cost_unit_quantity_minor, price.cost_rounding, cost_carried
            )
        if user is not None:
            self.realm.residuals[revenue_key] = (price.unit_quantity_minor, price.rounding, rest)
            self.realm.residuals[cost_key] = (price.cost_unit_quantity_minor, price.cost_rounding, cost_rest)
        meter, quantity = item.meter_code, item.quantity
        revenue_fp = self._fingerprint(feature_code, meter, unit, quantity, price, "revenue", computed_at)
        cost_fp = self._fingerprint(feature_code, meter, unit, quantity, price, "cost", computed_at)
        return Computation(
            meter_code=item.meter_code,
            quantity=item.quantity,
            unit_price=price.unit_price_xusd,
            unit_cost=price.unit_cost_xusd,
            amount=blocks * price.unit_price_xusd,
            cost=cost_blocks * price.unit_cost_xusd,
            effective_at=price.effective_at,
            source="live",
            blocks=blocks,
            cost_blocks=cost_blocks,
            snapshot=self._snapshot(feature_code, item.meter_code, unit, price, "revenue", computed_at, revenue_fp),
            cost_snapshot=self._snapshot(feature_code, item.meter_code, unit, price, "cost", computed_at, cost_fp),
            price=price,
        )

    def _carried(self, key: Tuple[str, str, str], denom: int, rounding: str) -> int:
        stored = self.realm.residuals.get(key)
        if stored is None or stored[0] != denom or stored[1] != rounding:
            return 0
        return stored[2]

    @staticmethod
    def _missing(feature_code: str, item: NormalizedItem, unit: str, computed_at: str, at: datetime) -> Computation:
        def fingerprint(kind: str) -> str:
            return sha256_hex(
                js_json(
                    {
                        "schema": "gate/pricing-missing:v1",
                        "pricing_kind": kind,
                        "feature_code": feature_code,
                        "meter_code": item.meter_code,
                        "unit": unit,
                        "quantity_minor": item.quantity,
                        "computed_at": computed_at,
                    }
                )
            )

        snapshot: Dict[str, Any] = {
            "computed_at": computed_at,
            "unit": unit,
            "fingerprint": fingerprint("revenue"),
            "unit_price_xusd": "0",
            "unit_quantity_minor": "1",
            "rounding": "floor",
            "effective_at": iso_ms(at),
            "provenance": {
                "source": "missing",
                "inputs": {"feature_code": feature_code, "meter_code": item.meter_code},
            },
        }
        return Computation(
            meter_code=item.meter_code,
            quantity=item.quantity,
            unit_price=0,
            unit_cost=0,
            amount=0,
            cost=0,
            effective_at=at,
            source="missing",
            snapshot=snapshot,
            cost_snapshot={**snapshot, "fingerprint": fingerprint("cost")},
        )

    @locked
    def aggregate(
        self, feature_code: str, unit: str, computations: List[Computation]
    ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """The commit-level (rating) pricing and cost snapshots over the priced lines, as the server stores them."""
        priced = [c for c in computations if c.source == "live"]
        total, blocks = sum(c.amount for c in priced), sum(c.blocks for c in priced)
        cost, cost_blocks = sum(c.cost for c in priced), sum(c.cost_blocks for c in priced)
        effective = max((c.effective_at for c in priced), default=self.realm.now())

        def digest(schema: str, items: List[str]) -> str:
            return sha256_hex(js_json({"schema": schema, "items": sorted(items)}))

        pricing: Dict[str, Any] = {
            "computed_at": iso_ms(self.realm.now()),
            "unit": unit,
            "fingerprint": digest("gate/aggregate-fingerprint:v1", [c.snapshot["fingerprint"] for c in priced]),
            "unit_price_xusd": str(total // blocks if blocks > 0 else 0),
            "unit_quantity_minor": "1",
            "rounding": "floor",
            "effective_at": iso_ms(effective),
            "provenance": {
                "source": "aggregate",
                "inputs": {"feature_code": feature_code, "items": [c.meter_code for c in priced]},
            },
        }
        cost_fp = digest("gate/aggregate-cost-fingerprint:v1", [c.cost_snapshot["fingerprint"] for c in priced])
        cost_snapshot = {
            **pricing,
            "fingerprint": cost_fp,
            "unit_price_xusd": str(cost // cost_blocks if cost_blocks > 0 else 0),
            "unit_quantity_minor": "1",
        }
        return pricing, cost_snapshot

    @locked
    def normalize_items(self, raw: JsonValue, label: str) -> List[NormalizedItem]:
        items: List[NormalizedItem] = []
        for entry in raw if isinstance(raw, list) else []:
            entry_obj = as_object(entry)
            meter_raw = entry_obj.get("meter_code")
            meter_text = js_trim(meter_raw) if isinstance(meter_raw, str) else ""
            quantity = parse_positive_int(entry_obj.get("quantity_minor"), f"{label}[].quantity_minor")
            if not meter_text:
                raise invalid_input(f"{label}[].meter_code is required")
            try:
                meter_code = normalize_identifier(meter_text, "meter_code")
            except ValueError as exc:
                raise invalid_input(str(exc)) from exc
            item = NormalizedItem(meter_code=meter_code, quantity=quantity)
            unit = entry_obj.get("unit")
            if isinstance(unit, str) and js_trim(unit):
                item.unit = js_trim(unit)
            etag = entry_obj.get("client_pricing_etag")
            if isinstance(etag, str):
                item.etag = js_trim(etag)
            item.client_price = parse_optional_non_negative_int(
                entry_obj.get("client_unit_price_xusd"), f"{label}[].client_unit_price_xusd"
            )
            items.append(item)
        return items

    @staticmethod
    def items_for_hash(items: List[NormalizedItem]) -> List[Dict[str, Any]]:
        return [
            {
                "meter_code": item.meter_code,
                "quantity_minor": item.quantity,
                "client_pricing_etag": item.etag,
                "client_unit_price_xusd": item.client_price,
            }
            for item in items
        ]

    @locked
    def priced_response(self, code: str, computations: List[Computation], budget_id: Optional[str]) -> Dict[str, Any]:
        """The ``CommitResponse`` of priced lines (amounts are what the lines computed, even when quarantined)."""
        lines = []
        for comp in computations:
            price = comp.price
            lines.append(
                {
                    "line_id": str(uuid.uuid4()),
                    "meter_code": comp.meter_code,
                    "quantity_minor": str(comp.quantity),
                    "unit_price_xusd": str(comp.unit_price),
                    "amount_xusd": str(comp.amount),
                    "pricing_snapshot": comp.snapshot,
                    "pricing_fingerprint": comp.snapshot["fingerprint"],
                    "cost_xusd": str(comp.cost),
                    "unit_cost_xusd": str(comp.unit_cost),
                    "cost_unit_quantity_minor": str(price.cost_unit_quantity_minor if price else 1),
                    "cost_rounding": price.cost_rounding if price else "floor",
                    "cost_snapshot": comp.cost_snapshot,
                    "cost_fingerprint": comp.cost_snapshot["fingerprint"],
                }
            )
        response: Dict[str, Any] = {"commit_id": str(uuid.uuid4())}
        if budget_id is not None:
            response["budget_id"] = budget_id
        response["amount_xusd"] = str(sum(c.amount for c in computations))
        response["cost_xusd"] = str(sum(c.cost for c in computations))
        response["lines"] = lines
        return response

    @staticmethod
    def changed_hints(items: List[NormalizedItem], lines: List[Dict[str, Any]]) -> List[Hint]:
        by_meter = {line["meter_code"]: line for line in lines}
        hints: List[Hint] = []
        for item in items:
            if not item.etag and item.client_price is None:
                continue
            line = by_meter.get(item.meter_code)
            if line is None:
                continue
            fingerprint = line["pricing_fingerprint"]
            changed_etag = bool(item.etag) and item.etag != fingerprint
            changed_price = item.client_price is not None and str(item.client_price) != line["unit_price_xusd"]
            if changed_etag or changed_price:
                hints.append(
                    {
                        "type": "pricing.changed",
                        "previous_fingerprint": item.etag or "client",
                        "current_fingerprint": fingerprint or "server",
                    }
                )
        return hints
