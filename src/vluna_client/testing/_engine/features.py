"""Features and their meters: explicit lists, or auto-registration on first use (the server's auto-registry)."""

from __future__ import annotations

from typing import Iterable, List, Mapping, Union

from .._errors import HttpError
from .._inputs import normalize_identifier
from .._jsutil import JsonValue, js_trim, string_list
from .._state import Feature, NormalizedItem
from .realm import Realm, locked

__all__ = ["FALLBACK_FAMILY", "FeatureSpec", "Features", "unique"]

FeatureSpec = Union[Iterable[str], Mapping[str, Iterable[str]]]
"""Explicit features: codes (each with a primary meter of the same code) or a mapping code -> meter codes."""

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
    def set_features(self, features: FeatureSpec, family_code: str = "default") -> None:
        """Replace the feature list and turn auto-registration off."""
        replaced = {}
        if isinstance(features, Mapping):
            for code, meters in features.items():
                normalized = normalize_identifier(code, "feature_code")
                meter_codes = [normalize_identifier(m, "meter_code") for m in meters]
                replaced[normalized] = Feature(normalized, family_code, meter_codes)
        else:
            for code in features:
                normalized = normalize_identifier(code, "feature_code")
                replaced[normalized] = Feature(normalized, family_code, [normalized])
        self.realm.features = replaced
        self.realm.auto_register = False

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
