"""Quota and rate windows, and the ``limits`` and ``meters`` views of the gate."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .._errors import HttpError, invalid_input
from .._inputs import month_window, normalize_identifier
from .._jsutil import JsonValue, iso_ms, js_string, parse_js_date, string_list
from .._state import CallContext, Price, User
from .budgets import Budgets
from .features import Features
from .pricing import Hint, Pricing
from .realm import Realm, locked
from .wallets import Wallets

__all__ = ["UNLIMITED", "Limits"]

UNLIMITED = -1


class Limits:
    """Per-user monthly quotas and fixed-window rate limits per feature (unlimited unless configured)."""

    def __init__(self, realm: Realm, features: Features, pricing: Pricing, wallets: Wallets) -> None:
        self.realm = realm
        self.wallets = wallets
        self.budgets: Optional[Budgets] = None  # set by the engine: budgets live with the spec-driven resources
        self.features = features
        self.pricing = pricing

    @locked
    def set_rate_limit(self, feature_code: str, limit: Optional[int], window_seconds: int) -> None:
        """Limit authorizations per user and feature within fixed windows (``None`` removes the limit)."""
        code = normalize_identifier(feature_code, "feature_code")
        if limit is None:
            self.realm.rate_limits.pop(code, None)
        else:
            if window_seconds <= 0:
                raise ValueError("window_seconds must be positive")
            self.realm.rate_limits[code] = (int(limit), int(window_seconds))

    @locked
    def set_quota(self, feature_code: str, limit_minor: Optional[int]) -> None:
        """Cap a feature's monthly quantity per user (``None`` restores the unlimited default)."""
        code = normalize_identifier(feature_code, "feature_code")
        if limit_minor is None:
            self.realm.quotas.pop(code, None)
        else:
            self.realm.quotas[code] = int(limit_minor)

    @locked
    def rate_window(self, code: str, now: datetime) -> Optional[Tuple[int, int, datetime, datetime]]:
        config = self.realm.rate_limits.get(code)
        if config is None:
            return None
        limit, seconds = config
        epoch = int(now.timestamp())
        start_epoch = epoch - epoch % seconds
        start = datetime.fromtimestamp(start_epoch, tz=timezone.utc)
        return limit, start_epoch, start, start + timedelta(seconds=seconds)

    @locked
    def quota_used(self, user: User, code: str, window_start: datetime) -> int:
        return self.realm.quota_counters.get((user.billing_user_id, code, iso_ms(window_start)), 0)

    @locked
    def quota_window_view(self, user: User, code: str, now: datetime) -> Dict[str, Any]:
        start, end = month_window(now)
        return {
            "subject_scope": "user",
            "window_start": iso_ms(start),
            "window_end": iso_ms(end),
            "limit_minor": str(self.realm.quotas.get(code, UNLIMITED)),
            "used_minor": str(self.quota_used(user, code, start)),
        }

    @locked
    def rate_window_view(self, user: User, code: str, now: datetime) -> List[Dict[str, Any]]:
        window = self.rate_window(code, now)
        if window is None:
            return []
        limit, start_epoch, start, end = window
        used = self.realm.rate_counters.get((user.billing_user_id, code, start_epoch), 0)
        return [
            {
                "subject_scope": "user",
                "window_start": iso_ms(start),
                "window_end": iso_ms(end),
                "limit_minor": str(limit),
                "used_minor": str(used),
            }
        ]

    @locked
    def check_rate(self, user: User, code: str, now: datetime, hints: List[Hint]) -> Optional[Tuple[str, str, int]]:
        window = self.rate_window(code, now)
        if window is None:
            return None
        limit, start_epoch, _start, end = window
        key = (user.billing_user_id, code, start_epoch)
        used = self.realm.rate_counters.get(key, 0)
        seconds = max(0, math.ceil((end - now).total_seconds()))
        if used + 1 > limit:
            hint = {"type": "rate.limit", "seconds": seconds, "remaining": max(0, limit - used), "until": iso_ms(end)}
            raise HttpError(
                429,
                "LIMIT.RATE_EXCEEDED",
                "rate limit exceeded",
                hints=[hint],
                # Beyond the real server, which never sends Retry-After: lets clients exercise that path.
                headers={"Retry-After": str(max(1, seconds))},
            )
        if used + 1 + 3 >= limit:
            remaining = limit - used - 1
            hints.append({"type": "rate.limit", "seconds": seconds, "remaining": remaining, "until": iso_ms(end)})
        return key

    @locked
    def limits(self, ctx: CallContext, query: Mapping[str, JsonValue]) -> List[Dict[str, Any]]:
        """``GET /mgt/v1/gate/limits`` (``expand=quotas,rates``)."""
        user = ctx.runtime_user()
        expand = {value.lower() for value in string_list(query.get("expand"))}
        now = self.realm.now()
        results = []
        for feature in self.features.entitled(query):
            entry: Dict[str, Any] = {
                "feature_code": feature.code,
                "feature_family_code": feature.family_code,
                "unit": "unit",
            }
            if "quotas" in expand:
                entry["quotas"] = [self.quota_window_view(user, feature.code, now)]
            if "rates" in expand:
                entry["rates"] = self.rate_window_view(user, feature.code, now)
            if feature.meters:
                entry["meters"] = list(feature.meters)
            results.append(entry)
        return results

    @locked
    def meters(self, ctx: CallContext, query: Mapping[str, JsonValue]) -> List[Dict[str, Any]]:
        """``GET /mgt/v1/gate/meters`` (``expand=limits|limits.quotas|limits.rates|pricing|coverage``)."""
        user = ctx.runtime_user()
        expand = {value.lower() for value in string_list(query.get("expand"))}
        with_quotas = "limits" in expand or "limits.quotas" in expand
        with_rates = "limits" in expand or "limits.rates" in expand
        basis = "budget" if js_string(query.get("coverage_basis") or "").lower() == "budget" else "xusd"
        optimistic = js_string(query.get("coverage_profile") or "").lower() == "optimistic"
        budget_id = query.get("coverage_budget_id")
        if basis == "budget" and not isinstance(budget_id, str):
            raise invalid_input("coverage.budget_id is required when basis=budget")
        as_of_raw = query.get("coverage_as_of")
        now = (parse_js_date(as_of_raw) if isinstance(as_of_raw, str) else None) or self.realm.now()
        aggregated = self._entitled_meters(user, query, now, with_quotas=with_quotas, with_rates=with_rates)
        balance = self.wallets.available(user.account)
        base_note: Optional[str] = None if self.wallets.live(user.account.wallet) else "no active grants"
        coverage_budget: Optional[str] = None
        if basis == "budget" and "coverage" in expand and isinstance(budget_id, str) and self.budgets is not None:
            found = self.budgets.coverage_balance(user, budget_id)
            balance, base_note, coverage_budget = found["balance"], found["notes"], budget_id
        results = []
        for meter in sorted(aggregated):
            entry = aggregated[meter]
            features = sorted(entry["features"])
            item: Dict[str, Any] = {
                "meter_code": meter,
                "unit": "unit",
                "features": features,
                "feature_family_codes": sorted(entry["families"]),
            }
            if with_quotas:
                item["quotas"] = list(entry["quotas"].values())
            if with_rates:
                item["rates"] = list(entry["rates"].values())
            price = self.pricing.price_of(meter)
            if "pricing" in expand and price is not None:
                item["pricing"] = {
                    "unit_price_xusd": str(price.unit_price_xusd),
                    "unit_quantity_minor": str(price.unit_quantity_minor),
                    "rounding": price.rounding,
                    "effective_at": iso_ms(price.effective_at),
                    "fingerprint": self.pricing.price_identity(features[0], meter, price),
                    "unit": "unit",
                }
            if "coverage" in expand and price is not None:
                item["coverage"] = self._coverage(
                    balance, base_note, price, features[0], optimistic, now, budget_id=coverage_budget
                )
            results.append(item)
        return results

    def _entitled_meters(
        self, user: User, query: Mapping[str, JsonValue], now: datetime, *, with_quotas: bool, with_rates: bool
    ) -> Dict[str, Dict[str, Any]]:
        """Per meter of the entitled features (``meter_code`` filters): its features, families and limit windows."""
        meter_filter = string_list(query.get("meter_code"))
        aggregated: Dict[str, Dict[str, Any]] = {}
        for feature in self.features.entitled(query):
            for meter in feature.meters:
                if meter_filter and meter not in meter_filter:
                    continue
                entry = aggregated.setdefault(meter, {"features": set(), "families": set(), "quotas": {}, "rates": {}})
                entry["features"].add(feature.code)
                entry["families"].add(feature.family_code)
                if with_quotas:
                    view = self.quota_window_view(user, feature.code, now)
                    entry["quotas"].setdefault((view["window_start"], view["window_end"]), view)
                if with_rates:
                    for view in self.rate_window_view(user, feature.code, now):
                        entry["rates"].setdefault((view["window_start"], view["window_end"]), view)
        return aggregated

    @staticmethod
    def _coverage(
        balance: int,
        base_note: Optional[str],
        price: Price,
        feature_code: str,
        optimistic: bool,
        now: datetime,
        budget_id: Optional[str] = None,
    ) -> Dict[str, Any]:
        notes = ([base_note] if base_note else []) + [f"feature={feature_code}"]
        basis = "budget" if budget_id is not None else "xusd"
        coverage: Dict[str, Any] = {"basis": basis, "balance_xusd": str(max(0, balance))}
        if price.unit_price_xusd <= 0:
            coverage["max_quantity_minor_estimated"] = "0"
            if optimistic:
                coverage["optimistic_quantity_minor"] = "0"
            coverage.update({"advisory": True, "as_of": iso_ms(now)})
            if budget_id is not None:
                coverage["budget_id"] = budget_id
            coverage["notes"] = "; ".join([*notes, "pricing unavailable"])
            return coverage
        blocks, rest = divmod(max(0, balance), price.unit_price_xusd)
        coverage.update(
            {
                "max_quantity_minor_estimated": str(blocks * price.unit_quantity_minor),
                "advisory": True,
                "as_of": iso_ms(now),
            }
        )
        if budget_id is not None:
            coverage["budget_id"] = budget_id
        coverage["notes"] = "; ".join(notes)
        if optimistic:
            optimistic_blocks = blocks + 1 if rest > 0 else blocks
            coverage["optimistic_quantity_minor"] = str(optimistic_blocks * price.unit_quantity_minor)
        return coverage
