"""What the management API's features and meters mean to the gate: which meters a feature allows, at what price.

``features.upsert`` / ``features.update`` (with ``meters[].meter_prices``) and ``meters.upsert`` / ``meters.update``
(with ``meter_prices`` and ``feature_code``) are stored as spec-driven resources; :meth:`MeterCatalog.apply` then
gives the gate the same facts the server's ``feature_meters`` and ``meter_prices`` tables would hold, following
``feature.service.ts``: a feature always has a primary meter of its own code (inferred from its peers when the
request names none), meters without a price take the missing fields from the primary meter's price, a meter
whose price was never set is unpriced, and ``outcome`` meters are not charged by the gate.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from .._errors import HttpError
from .._inputs import normalize_identifier
from .._jsutil import JsonValue
from .features import FALLBACK_FAMILY, Features
from .pricing import Pricing
from .realm import Realm, locked

__all__ = ["MeterCatalog"]

PRICE_FIELDS = (
    "unit_cost_xusd",
    "unit_price_base_xusd",
    "unit_price_dynamic_xusd",
    "unit_price_xusd",
    "unit_quantity_minor",
    "rounding",
    "cost_unit_quantity_minor",
    "cost_rounding",
    "effective_at",
)
FEATURE_OPERATIONS = ("upsertFeature", "updateFeature")
METER_OPERATIONS = ("upsertMeter", "updateMeter")


def _merge_from_primary(
    price: Optional[Mapping[str, Any]], primary: Optional[Mapping[str, Any]]
) -> Optional[Dict[str, Any]]:
    if not primary:
        return dict(price) if price else None
    merged = dict(price or {})
    for name in PRICE_FIELDS:
        if merged.get(name) is None and primary.get(name) is not None:
            merged[name] = primary[name]
    return merged or None


def _own_price(entry: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    # The management API always stores a given price with a cost (0 when the request names none).
    price = entry.get("meter_prices")
    if not isinstance(price, Mapping):
        return None
    return {**price, "unit_cost_xusd": "0" if price.get("unit_cost_xusd") is None else price["unit_cost_xusd"]}


def _code(value: JsonValue, kind: str) -> Optional[str]:
    try:
        return normalize_identifier(value, kind)
    except ValueError:
        return None


class MeterCatalog:
    """Projects the management API's features and meters onto the gate's features and meter prices."""

    def __init__(self, realm: Realm, features: Features, pricing: Pricing) -> None:
        self.realm = realm
        self.features = features
        self.pricing = pricing

    @locked
    def apply(self, operation_id: str, body: Mapping[str, Any], answer: JsonValue) -> None:
        """Record what a successful features/meters write means for the gate (other operations are ignored)."""
        if not isinstance(answer, Mapping):
            return
        if operation_id in FEATURE_OPERATIONS:
            self._feature(body, answer)
        elif operation_id in METER_OPERATIONS:
            self._meter(body, answer)

    def _feature(self, body: Mapping[str, Any], answer: Mapping[str, Any]) -> None:
        code = _code(answer.get("feature_code") or body.get("feature_code"), "feature_code")
        if code is None:
            return
        existing = self.realm.features.get(code)
        family = answer.get("feature_family_code") or body.get("feature_family_code")
        family_code = str(family) if family else (existing.family_code if existing else FALLBACK_FAMILY)
        meters = body.get("meters") if isinstance(body.get("meters"), list) else None
        allowed: List[str] = list(existing.meters) if existing else []
        if meters is None:
            if existing is None:
                allowed = [code]
                self._price_if_new(code, None)
            self.features.put_feature(code, allowed, family_code)
            return
        entries = [m for m in meters if isinstance(m, Mapping)]
        primary = next((m for m in entries if _code(m.get("meter_code") or code, "meter_code") == code), None)
        if primary is None and code not in allowed:
            # The server infers the primary meter from its peers: the first price given among them.
            priced = [_own_price(m) for m in entries if isinstance(m.get("meter_prices"), Mapping)]
            inferred = priced[0] if priced else None
            primary = {"meter_code": code, "meter_prices": inferred}
            entries.append(primary)
        primary_price = _own_price(primary) if primary is not None else None
        for entry in entries:
            meter_code = _code(entry.get("meter_code") or code, "meter_code")
            if meter_code is None:
                continue
            own = _own_price(entry)
            fields = own if meter_code == code else _merge_from_primary(own, primary_price)
            self._price_if_new(meter_code, fields)
            charged = entry.get("semantic_kind", "activity") != "outcome"
            if charged and meter_code not in allowed:
                allowed.append(meter_code)
            elif not charged and meter_code in allowed:
                allowed.remove(meter_code)
        for gone in body.get("delete_meters") or []:
            gone_code = _code(gone, "meter_code")
            if gone_code in allowed and gone_code != code:
                allowed.remove(gone_code)
        self.features.put_feature(code, allowed, family_code)

    def _meter(self, body: Mapping[str, Any], answer: Mapping[str, Any]) -> None:
        meter_code = _code(answer.get("meter_code") or body.get("meter_code"), "meter_code")
        if meter_code is None:
            return
        self._price_if_new(meter_code, _own_price(body))
        feature_code = _code(body.get("feature_code"), "feature_code")
        feature = self.realm.features.get(feature_code) if feature_code else None
        if feature is not None and meter_code not in feature.meters and body.get("semantic_kind") != "outcome":
            feature.meters.append(meter_code)

    def _price_if_new(self, meter_code: str, fields: Optional[Mapping[str, Any]]) -> None:
        # A given price replaces the meter's; without one, a meter never priced stays unpriced (no row).
        if fields is not None:
            try:
                self.pricing.set_meter_price(meter_code, fields)
            except ValueError as exc:
                raise HttpError(500, "SERVER.CONFIG", str(exc)) from exc
        elif meter_code not in self.realm.prices:
            self.realm.prices[meter_code] = None
