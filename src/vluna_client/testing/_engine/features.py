"""Features and their meters: explicit lists, or auto-registration on first use (the server's auto-registry)."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from .._errors import HttpError
from .._inputs import normalize_identifier
from .._jsutil import JsonValue, js_trim, string_list
from .._state import Feature, NormalizedItem
from .realm import Realm, locked

__all__ = ["FALLBACK_FAMILY", "FeatureSpec", "Features", "unique"]

PriceSpec = Union[int, Mapping[str, Any], None]
"""A meter's price: xusd per unit, a ``meter_prices`` object (``unit_price_xusd``, ``unit_cost_xusd``,
``unit_quantity_minor``, ``rounding``, ...), or ``None`` for an unpriced meter."""

FeatureSpec = Union[Iterable[str], Mapping[str, Union[Iterable[str], Mapping[str, PriceSpec]]]]
"""Explicit features: codes (each with a primary meter of the same code), a mapping code -> meter codes, or a
mapping code -> {meter code: price} (see :data:`PriceSpec`)."""


def price_fields(spec: PriceSpec) -> Optional[Dict[str, Any]]:
    """A :data:`PriceSpec` as ``meter_prices`` fields (``None`` stays ``None``)."""
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        return dict(spec)
    if isinstance(spec, bool) or not isinstance(spec, int):
        raise TypeError("a meter price is an int (xusd per unit), a meter_prices mapping or None")
    return {"unit_price_xusd": spec}


def split_spec(features: FeatureSpec) -> Tuple[Dict[str, List[str]], Dict[str, Optional[Dict[str, Any]]]]:
    """``(feature code -> meter codes, meter code -> price fields)`` from a :data:`FeatureSpec` (codes normalised)."""
    meters: Dict[str, List[str]] = {}
    prices: Dict[str, Optional[Dict[str, Any]]] = {}
    if isinstance(features, Mapping):
        for code, spec in features.items():
            normalized = normalize_identifier(code, "feature_code")
            if isinstance(spec, Mapping):
                codes = []
                for meter, price in spec.items():
                    meter_code = normalize_identifier(meter, "meter_code")
                    codes.append(meter_code)
                    prices[meter_code] = price_fields(price)
                meters[normalized] = codes
            elif isinstance(spec, str):
                raise TypeError(f"meters of {code!r} must be a list or a mapping, not a string")
            else:
                meters[normalized] = [normalize_identifier(m, "meter_code") for m in spec]
    else:
        if isinstance(features, str):
            raise TypeError("features must be a list of codes or a mapping, not a string")
        for code in features:
            normalized = normalize_identifier(code, "feature_code")
            meters[normalized] = [normalized]
    return meters, prices


FALLBACK_FAMILY = "auto.registry"


def unique(values: List[str]) -> List[str]:
    """``values`` without repeats, first occurrence order kept."""
    seen: List[str] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


class Features:
    """The realm's feature catalog as the gate sees it."""

    def __init__(self, realm: Realm) -> None:
        self.realm = realm

    @locked
    def set_features(self, meters: Mapping[str, List[str]], family_code: str = "default") -> None:
        """Replace the feature list (code -> meter codes, already normalised) and turn auto-registration off."""
        self.realm.features = {code: Feature(code, family_code, list(codes)) for code, codes in meters.items()}
        self.realm.auto_register = False

    @locked
    def put_feature(self, code: str, meters: List[str], family_code: str = "default") -> Feature:
        """Add or replace one feature (normalised code and meters), leaving the others and auto-registration."""
        feature = Feature(code, family_code, list(meters))
        self.realm.features[code] = feature
        return feature

    @locked
    def load(self, code: str, family_input: JsonValue = None) -> Feature:
        """The feature ``code``; auto-registered when allowed, else 422 ``RESOURCE.NOT_FOUND``."""
        feature = self.realm.features.get(code)
        if feature is not None:
            return feature
        if not self.realm.auto_register:
            raise HttpError(422, "RESOURCE.NOT_FOUND", "feature not found")
        family = js_trim(family_input) if isinstance(family_input, str) else ""
        feature = Feature(code=code, family_code=family or FALLBACK_FAMILY, meters=[code])
        self.realm.features[code] = feature
        return feature

    @locked
    def invalid_meters(self, feature: Feature, items: List[NormalizedItem]) -> List[str]:
        """Meters of ``items`` the feature does not allow (auto-registry attaches them instead)."""
        unknown = [item.meter_code for item in items if item.meter_code not in feature.meters]
        if unknown and self.realm.auto_register:
            for meter in unique(unknown):
                feature.meters.append(meter)
            return []
        return unique(unknown)

    @locked
    def entitled(self, query: Mapping[str, JsonValue]) -> List[Feature]:
        """Features filtered by the ``feature_code`` / ``feature_family_code`` query values, sorted by code."""
        codes = string_list(query.get("feature_code"))
        families = string_list(query.get("feature_family_code"))
        return sorted(
            (
                feature
                for feature in self.realm.features.values()
                if (not codes or feature.code in codes) and (not families or feature.family_code in families)
            ),
            key=lambda feature: feature.code,
        )
