"""Meter prices, priced commit lines and their pricing snapshots and fingerprints (the server's shapes)."""

from __future__ import annotations

import uuid
from typing import Any, Dict, List, Optional

from .._errors import invalid_input
from .._inputs import as_object, normalize_identifier, parse_optional_non_negative_int, parse_positive_int
from .._jsutil import JsonValue, iso_ms, js_json, js_trim, sha256_hex
from .._state import Computation, Feature, NormalizedItem, Price
from .realm import Realm, locked

__all__ = ["Hint", "Pricing"]

Hint = Dict[str, Any]


class Pricing:
    """Flat per-meter prices (one default for every meter unless configured) and the priced answers of commits."""

    def __init__(self, realm: Realm) -> None:
        self.realm = realm

    @locked
    def set_price(self, meter_code: str, unit_price_xusd: Optional[int], unit_cost_xusd: int = 0) -> None:
        """Price a meter per unit (``None`` makes it unpriced: commits then get ``pricing.not_configured``)."""
        code = normalize_identifier(meter_code, "meter_code")
        if unit_price_xusd is None:
            self.realm.prices[code] = None
        else:
            self.realm.prices[code] = Price(int(unit_price_xusd), int(unit_cost_xusd), self.realm.now())

    @locked
    def price_of(self, meter_code: str) -> Optional[Price]:
        """The price of a meter (the emulator-wide default unless configured)."""
        if meter_code in self.realm.prices:
            return self.realm.prices[meter_code]
        return Price(self.realm.price_per_unit_xusd, 0, self.realm.started_at)

    @locked
    def is_zero_cost(self, feature: Feature) -> bool:
        if not feature.meters:
            return False
        for meter in feature.meters:
            price = self.price_of(meter)
            if price is not None and (price.unit_price_xusd != 0 or price.unit_cost_xusd != 0):
                return False
        return True

    @locked
    def compute(self, feature_code: str, item: NormalizedItem, price: Optional[Price]) -> Computation:
        if price is None:
            return Computation(item.meter_code, item.quantity, 0, 0, 0, 0, self.realm.now(), "missing")
        return Computation(
            meter_code=item.meter_code,
            quantity=item.quantity,
            unit_price=price.unit_price_xusd,
            unit_cost=price.unit_cost_xusd,
            amount=item.quantity * price.unit_price_xusd,
            cost=item.quantity * price.unit_cost_xusd,
            effective_at=price.effective_at,
            source="live",
        )

    @locked
    def snapshot(self, feature_code: str, comp: Computation, kind: str, computed_at: str) -> Dict[str, Any]:
        unit_price = comp.unit_price if kind == "revenue" else comp.unit_cost
        fingerprint = sha256_hex(
            js_json(
                {
                    "schema": "gate/pricing:v2" if comp.source == "live" else "gate/pricing-missing:v1",
                    "pricing_kind": kind,
                    "feature_code": feature_code,
                    "meter_code": comp.meter_code,
                    "unit": "unit",
                    "quantity_minor": str(comp.quantity),
                    "unit_price_xusd": str(unit_price),
                    "unit_quantity_minor": "1",
                    "rounding": "floor",
                    "effective_at": iso_ms(comp.effective_at),
                    "computed_at": computed_at,
                }
            )
        )
        return {
            "computed_at": computed_at,
            "unit": "unit",
            "fingerprint": fingerprint,
            "unit_price_xusd": str(unit_price),
            "unit_quantity_minor": "1",
            "rounding": "floor",
            "effective_at": iso_ms(comp.effective_at),
            "provenance": {
                "source": comp.source,
                "inputs": {"feature_code": feature_code, "meter_code": comp.meter_code},
            },
        }

    @locked
    def price_identity(self, feature_code: str, meter_code: str, price: Price) -> str:
        return sha256_hex(
            js_json(
                {
                    "schema": "gate/price-identity:v2",
                    "kind": "revenue",
                    "feature_code": feature_code,
                    "meterCode": meter_code,
                    "unit_price_xusd": str(price.unit_price_xusd),
                    "unit_quantity_minor": "1",
                    "rounding": "floor",
                    "effective_at": iso_ms(price.effective_at),
                }
            )
        )

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
        computed_at = iso_ms(self.realm.now())
        lines = []
        for comp in computations:
            snapshot = self.snapshot(code, comp, "revenue", computed_at)
            cost_snapshot = self.snapshot(code, comp, "cost", computed_at)
            lines.append(
                {
                    "line_id": str(uuid.uuid4()),
                    "meter_code": comp.meter_code,
                    "quantity_minor": str(comp.quantity),
                    "unit_price_xusd": str(comp.unit_price),
                    "amount_xusd": str(comp.amount),
                    "pricing_snapshot": snapshot,
                    "pricing_fingerprint": snapshot["fingerprint"],
                    "cost_xusd": str(comp.cost),
                    "unit_cost_xusd": str(comp.unit_cost),
                    "cost_unit_quantity_minor": "1",
                    "cost_rounding": "floor",
                    "cost_snapshot": cost_snapshot,
                    "cost_fingerprint": cost_snapshot["fingerprint"],
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
