"""Seed an emulator from a catalog file (YAML or JSON): features, families, meters with prices, plans, wallets...

Every entry goes through the same route handler an HTTP call to the management API would reach (body validation,
reference checks, the gate's view of features and prices), signed in as the emulator's own service key, so a file
and a script of API calls give the same state. Sections, applied in this order::

    feature_families:  [{feature_family_code, name, ...}]          # POST /mgt/v1/feature-families
    features:          [{feature_code, feature_family_code, meters: [{meter_code, meter_prices: {...}}]}]
    meters:            [{meter_code, unit, meter_prices: {...}}]      # POST /mgt/v1/meters
    plans:             [{plan_code, name, kind, entitlements: [{feature_code, ...}]}]
    policy_bundles:    [{bundle_key, name}]                          # POST /mgt/v1/gate/policy-bundles
    gate_policies:     [{bundle_key, feature_code, kind, ...}]        # POST /mgt/v1/gate/policies
    rating_policies:   [{policy_id, name, versions: [{policy_version, effective_at, dsl_json}]}]
    prices:            {meter_code: xusd per unit, or {unit_price_xusd, unit_quantity_minor, rounding, ...}}
    wallets:           {principal_id: xusd}                          # Emulator.set_wallet_balance
    quotas:            {feature_code: monthly limit}                 # Emulator.set_quota

Reading YAML needs PyYAML (``pip install 'vluna-client[emulator]'``); JSON needs nothing.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Tuple, Union

from ._app import App
from ._errors import HttpError
from ._routes import Call
from ._state import CallContext

__all__ = ["CATALOG_SECTIONS", "CatalogTarget", "apply_catalog", "catalog_entries", "read_catalog"]

CatalogSource = Union[str, "os.PathLike[str]", Mapping[str, Any]]

# section -> (method, path) of the management operation each entry is sent to
_RESOURCE_SECTIONS: Tuple[Tuple[str, str], ...] = (
    ("feature_families", "/mgt/v1/feature-families"),
    ("features", "/mgt/v1/features"),
    ("meters", "/mgt/v1/meters"),
    ("plans", "/mgt/v1/billing-plans"),
    ("policy_bundles", "/mgt/v1/gate/policy-bundles"),
    ("gate_policies", "/mgt/v1/gate/policies"),
    ("rating_policies", "/mgt/v1/event-rating-policies"),
)
_SETTING_SECTIONS = ("prices", "wallets", "quotas")
CATALOG_SECTIONS = tuple(name for name, _ in _RESOURCE_SECTIONS) + _SETTING_SECTIONS
"""The top-level keys a catalog may have (anything else is refused, so a typo does not go unnoticed)."""


def read_catalog(path: Union[str, os.PathLike[str]]) -> Dict[str, Any]:
    """Parse a catalog file: JSON for ``.json``, YAML otherwise (YAML needs PyYAML).

    Raises:
        ValueError: the file is not valid JSON/YAML, is not a mapping, or YAML is asked for without PyYAML.
        OSError: the file cannot be read.
    """
    name = os.fspath(path)
    with open(name, encoding="utf-8") as handle:
        text = handle.read()
    if name.lower().endswith(".json"):
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{name}: not valid JSON ({exc})") from None
    else:
        try:
            import yaml  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise ValueError(
                f"{name}: reading YAML needs PyYAML (pip install 'vluna-client[emulator]'), or give the catalog as JSON"
            ) from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{name}: not valid YAML ({exc})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{name}: a catalog is a mapping of sections, got {type(loaded).__name__}")
    return loaded


class CatalogTarget(Protocol):
    """What a catalog's setting sections call: the :class:`~._emulator.Emulator` methods of the same names."""

    @property
    def key_id(self) -> str:
        """The service key the resource sections' management writes are signed in as."""

    @property
    def set_price(self) -> Callable[..., None]:
        """``set_price(meter_code, unit_price_xusd, **price options)`` (its options are the emulator's to declare)."""

    def set_wallet_balance(self, principal_id: str, xusd: int) -> None:
        """Make the principal's account prepaid with ``xusd`` available."""

    def set_quota(self, feature_code: str, limit_minor: Optional[int]) -> None:
        """Cap a feature's monthly quantity per user."""


def apply_catalog(emulator: CatalogTarget, app: App, source: CatalogSource) -> Dict[str, int]:
    """Apply a catalog (a file path or an already parsed mapping) to ``emulator``; returns entries per section.

    Resource sections go through ``app``'s route table (the emulator's own); setting sections call ``emulator``.

    Raises:
        ValueError: an unknown section, an entry of the wrong shape, or an entry the management API refuses
            (the message names the section, the entry and the API's answer).
    """
    catalog = dict(source) if isinstance(source, Mapping) else read_catalog(source)
    unknown = sorted(set(catalog) - set(CATALOG_SECTIONS))
    if unknown:
        raise ValueError(f"unknown catalog section(s) {unknown}; known: {list(CATALOG_SECTIONS)}")
    sender = _Sender(app, emulator.key_id)
    counts: Dict[str, int] = {}
    for section, path in _RESOURCE_SECTIONS:
        entries = catalog.get(section) or []
        if not isinstance(entries, list):
            raise ValueError(f"catalog {section}: a list of entries, got {type(entries).__name__}")
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ValueError(f"catalog {section}[{index}]: an entry is a mapping, got {type(entry).__name__}")
            where = f"catalog {section}[{index}]"
            if section == "plans":
                _plan(sender, where, entry)
            elif section == "rating_policies":
                _rating_policy(sender, where, entry)
            else:
                sender.post(where, path, entry)
        counts[section] = len(entries)
    settings: Dict[str, Callable[[str, Any], None]] = {
        "prices": lambda meter, value: _price(emulator, meter, value),
        "wallets": lambda principal, value: emulator.set_wallet_balance(
            principal, _amount(value, f"catalog wallets.{principal}")
        ),
        "quotas": lambda feature, value: emulator.set_quota(feature, _amount(value, f"catalog quotas.{feature}")),
    }
    for section in _SETTING_SECTIONS:
        values = catalog.get(section) or {}
        if not isinstance(values, dict):
            raise ValueError(f"catalog {section}: a mapping of name -> amount, got {type(values).__name__}")
        for name, value in values.items():
            settings[section](str(name), value)
        counts[section] = len(values)
    return counts


PRICE_OPTIONS = (
    "unit_cost_xusd",
    "unit_quantity_minor",
    "rounding",
    "cost_unit_quantity_minor",
    "cost_rounding",
    "residual_mode",
)


def _price(emulator: CatalogTarget, meter: str, value: Any) -> None:
    where = f"catalog prices.{meter}"
    if value is None:
        emulator.set_price(meter, None)
        return
    if not isinstance(value, dict):
        emulator.set_price(meter, _amount(value, where))
        return
    unknown = sorted(set(value) - {"unit_price_xusd", *PRICE_OPTIONS})
    if unknown:
        raise ValueError(f"{where}: unknown price field(s) {unknown}")
    options = {name: value[name] for name in PRICE_OPTIONS if name in value}
    for name in ("unit_cost_xusd", "unit_quantity_minor", "cost_unit_quantity_minor"):
        if name in options:
            options[name] = _amount(options[name], f"{where}.{name}")
    try:
        emulator.set_price(meter, _amount(value.get("unit_price_xusd"), f"{where}.unit_price_xusd"), **options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def _amount(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).lstrip("-").isdigit():
        raise ValueError(f"{where}: an integer amount, got {value!r}")
    return int(value)


def _plan(sender: _Sender, where: str, entry: Dict[str, Any]) -> None:
    body = {k: v for k, v in entry.items() if k != "entitlements"}
    plan = sender.post(where, "/mgt/v1/billing-plans", body)
    entitlements = entry.get("entitlements")
    if entitlements:
        path = "/mgt/v1/billing-plans/{plan_id}/entitlements"
        sender.post(f"{where}.entitlements", path, {"mode": "append", "items": entitlements}, plan_id=plan["plan_id"])


def _rating_policy(sender: _Sender, where: str, entry: Dict[str, Any]) -> None:
    body = {k: v for k, v in entry.items() if k != "versions"}
    policy = sender.post(where, "/mgt/v1/event-rating-policies", body)
    for index, version in enumerate(entry.get("versions") or []):
        path = "/mgt/v1/event-rating-policies/{policy_id}/versions"
        sender.post(f"{where}.versions[{index}]", path, version, policy_id=policy["policy_id"])


class _Sender:
    """Runs management writes in-process through the emulator's route table, as its own service key."""

    def __init__(self, app: App, key_id: str) -> None:
        self._app = app
        self._key_id = key_id

    def post(self, where: str, path: str, body: Dict[str, Any], **path_params: str) -> Dict[str, Any]:
        app = self._app
        route = app.routes.get("POST", path)
        if route is None:
            raise ValueError(f"{where}: the emulator serves no POST {path}")
        ctx = CallContext(scheme="service", key_id=self._key_id)
        call = Call(ctx=ctx, body=dict(body), query={}, path_params=dict(path_params), route=route)
        try:
            with app.engine.realm.lock:
                reply = route.handler(app.engine, call)
        except HttpError as error:
            raise ValueError(f"{where}: {error.status} {error.code}: {error.message}") from None
        data: Optional[Any] = reply.data
        if not isinstance(data, dict):
            raise ValueError(f"{where}: unexpected answer from POST {path}")
        return data


def catalog_entries(counts: Mapping[str, int]) -> List[str]:
    """``["features: 2", ...]`` for the sections a catalog filled (for a CLI line)."""
    return [f"{name}: {count}" for name, count in counts.items() if count]
