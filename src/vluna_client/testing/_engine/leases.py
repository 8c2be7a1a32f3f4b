"""Leases: ``/gate/authorize`` opens one, ``/gate/cancel`` gives it back."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Tuple

from .._errors import HttpError, invalid_input
from .._inputs import (
    as_object,
    base36,
    feature_code_of,
    month_window,
    normalize_labels,
    parse_lease_token,
    parse_optional_non_negative_int,
    trimmed_lease_token,
    uuid_key,
)
from .._jsutil import JsonValue, iso_ms, js_json, js_string, js_truthy, sha256_hex
from .._records import CancelRecord, LeaseRecord
from .._state import CallContext, Feature, Lease, Price, User
from .budgets import Budgets
from .features import Features
from .limits import UNLIMITED, Limits
from .price_rules import worst_case_blocks
from .pricing import Hint, Pricing
from .realm import Realm, locked
from .wallets import Wallets

__all__ = ["LEASE_STATES", "Leases"]

LEASE_STATES = {"active": "open", "closed": "committed", "canceled": "cancelled"}
"""The server's lease states (used in hints) mapped to the client's words (used in the ledger)."""


class Leases:
    """Authorization leases with the server's database idempotency (one lease per billing user and key)."""

    def __init__(
        self, realm: Realm, features: Features, pricing: Pricing, limits: Limits, wallets: Wallets, budgets: Budgets
    ) -> None:
        self.realm = realm
        self.wallets = wallets
        self.budgets = budgets
        self.features = features
        self.pricing = pricing
        self.limits = limits

    @locked
    def authorize(self, ctx: CallContext, body: JsonValue) -> Tuple[Dict[str, Any], List[Hint]]:
        """``POST /mgt/v1/gate/authorize``."""
        user = ctx.runtime_user()
        data = as_object(body)
        code = feature_code_of(data.get("feature_code"))
        estimated = parse_optional_non_negative_int(data.get("estimated_quantity_minor"), "estimated_quantity_minor")
        request_hash = _authorize_hash(user.user_id, code, data, estimated, normalize_labels(data.get("labels")))
        feature = self.features.load(code, data.get("feature_family_code"))
        now = self.realm.now()
        prepaid = self.wallets.prepaid(user.account)
        available = self.wallets.available(user.account)
        if prepaid and available <= 0 and not self.pricing.is_zero_cost(feature):
            raise HttpError(402, "SERVER.CONFIG", "grant balance exhausted")

        existing_id = self.realm.leases_by_user_key.get((user.billing_user_id, ctx.idempotency_key))
        if existing_id is not None:
            existing = self.realm.leases[existing_id]
            if existing.request_hash != request_hash:
                raise HttpError(409, "WRITE.INVALID_PAYLOAD", "idempotency conflict")
            replay_hints = list(existing.hints)
            if prepaid and available <= 0:
                replay_hints.append({"type": "funding.xusd_shortfall", "shortfall_xusd": 1})
            return self._authorize_data(existing, code), replay_hints

        window_start, _window_end = month_window(now)
        quota_limit = self.realm.quotas.get(code, UNLIMITED)
        if quota_limit != UNLIMITED and quota_limit - self.limits.quota_used(user, code, window_start) <= 0:
            raise HttpError(402, "SERVER.CONFIG", "quota limit exhausted")

        hints: List[Hint] = []
        rate_commit = self.limits.check_rate(user, code, now, hints)
        budget = self._budget_preview(user, data.get("budget_id"), prepaid, hints)
        if rate_commit is not None:
            self.realm.rate_counters[rate_commit] = self.realm.rate_counters.get(rate_commit, 0) + 1

        if estimated is not None and estimated > 0 and feature.meters:
            self._coverage_hints(feature, estimated, available, prepaid, hints, budget)
        if not prepaid:
            # Funding and budget hints are muted outside prepaid billing, as on the server.
            hints = [h for h in hints if not str(h.get("type", "")).startswith(("funding.", "budget."))]
        lease = self._open_lease(ctx, code, feature, request_hash, hints, quota_limit, now, estimated, budget)
        if prepaid and available <= 0:
            hints.append({"type": "funding.xusd_shortfall", "shortfall_xusd": 1})
        return self._authorize_data(lease, code), hints

    def _budget_preview(
        self, user: User, budget_id: JsonValue, prepaid: bool, hints: List[Hint]
    ) -> Optional[Dict[str, Any]]:
        """The budget an authorize names (its hints count when prepaid); 402 when a prepaid one has no headroom."""
        if not js_truthy(budget_id):
            return None
        budget = self.budgets.preview(user, js_string(budget_id))
        if prepaid:
            hints.extend(budget["hints"])
        remaining = budget["remaining"]
        if remaining is not None and remaining + budget["reserved"] <= 0 and prepaid:
            raise HttpError(402, "BUDGET.EXHAUSTED", "budget has no headroom after refill", hints=list(hints))
        return budget

    def _open_lease(
        self,
        ctx: CallContext,
        code: str,
        feature: Feature,
        request_hash: str,
        hints: List[Hint],
        quota_limit: int,
        now: datetime,
        estimated: Optional[int],
        budget: Optional[Dict[str, Any]],
    ) -> Lease:
        """Store a new lease for the caller's key, in this month's quota window, expiring after the lease TTL."""
        user = ctx.runtime_user()
        window_start, window_end = month_window(now)
        lease_id = str(uuid.uuid4())
        lease = Lease(
            lease_id=lease_id,
            token=f"lease.{lease_id}.{secrets.token_hex(8)}",
            feature_code=code,
            family_code=feature.family_code,
            user=user,
            idempotency_key=ctx.idempotency_key,
            request_hash=request_hash,
            hints=list(hints),
            window_start=window_start,
            window_end=window_end,
            quota_limit=quota_limit,
            created_at=now,
            expires_at=now + timedelta(seconds=self.realm.lease_ttl_seconds),
            estimated=estimated,
            budget_id=budget["budget_id"] if budget is not None else None,
        )
        self.realm.leases[lease_id] = lease
        self.realm.leases_by_user_key[(user.billing_user_id, ctx.idempotency_key)] = lease_id
        return lease

    @staticmethod
    def _authorize_data(lease: Lease, code: str) -> Dict[str, Any]:
        data: Dict[str, Any] = {"lease_token": lease.token, "lease_id": lease.lease_id}
        if lease.budget_id is not None:
            data["budget_id"] = lease.budget_id
        return {
            **data,
            "feature_code": code,
            "feature_family_code": lease.family_code,
            "window_start": iso_ms(lease.window_start),
            "window_end": iso_ms(lease.window_end),
        }

    def _coverage_hints(
        self,
        feature: Feature,
        estimated: int,
        available: int,
        prepaid: bool,
        hints: List[Hint],
        budget: Optional[Dict[str, Any]],
    ) -> None:
        priced: List[Tuple[str, Price]] = []
        missing: List[str] = []
        for meter in feature.meters:
            price = self.pricing.price_of(meter)
            if price is None:
                missing.append(meter)
            else:
                priced.append((meter, price))
        if missing:
            hints.append({"type": "pricing.not_configured", "feature_code": feature.code, "meters": missing})
        if not priced:
            return
        self._shortfall(priced, max(0, available), estimated, prepaid, hints, None)
        if budget is not None:
            remaining = budget["remaining"]
            if remaining is None:
                # A budget without a limit offers no coverage on the server (balance 0).
                remaining = 0
            self._shortfall(priced, max(0, remaining), estimated, prepaid, hints, budget["budget_id"])

    @staticmethod
    def _shortfall(
        priced: List[Tuple[str, Price]],
        balance: int,
        estimated: int,
        prepaid: bool,
        hints: List[Hint],
        budget_id: Optional[str],
    ) -> None:
        # The server's best-covered meter: the most units the balance pays for (the first meter on ties).
        coverage = [
            ((balance // price.unit_price_xusd) * price.unit_quantity_minor if price.unit_price_xusd > 0 else 0, price)
            for _, price in priced
        ]
        best_available, best_price = 0, priced[0][1]
        for covered, price in coverage:
            if covered > best_available:
                best_available, best_price = covered, price
        if any(covered >= estimated for covered, _ in coverage):
            return
        shortfall_quantity = estimated - best_available if estimated > best_available else estimated
        blocks = worst_case_blocks(shortfall_quantity, best_price.unit_quantity_minor)
        shortfall_xusd = blocks * best_price.unit_price_xusd
        if not prepaid:
            return
        if shortfall_xusd > 0:
            if budget_id is None:
                hints.append({"type": "funding.xusd_shortfall", "shortfall_xusd": shortfall_xusd})
            else:
                hints.append({"type": "budget.shortfall", "budget_id": budget_id, "shortfall_xusd": shortfall_xusd})
        message = (
            "insufficient credits to cover estimated usage"
            if budget_id is None
            else "budget cannot cover estimated usage"
        )
        hints.append({"type": "quota.remaining", "max_quantity_minor": best_available, "message": message})

    @locked
    def cancel(self, ctx: CallContext, body: JsonValue) -> Dict[str, Any]:
        """``POST /mgt/v1/gate/cancel``: naturally idempotent (``cancelled`` false once not active)."""
        user = ctx.runtime_user()
        token = trimmed_lease_token(as_object(body))
        if not token:
            raise invalid_input("lease_token is required")
        lease_ref = parse_lease_token(token)
        now = self.realm.now()
        trace_id = "cancel_" + base36(int(now.timestamp() * 1000))
        lease = self.realm.leases.get(uuid_key(lease_ref))
        if lease is None or lease.user is not user:
            raise HttpError(422, "RESOURCE.NOT_FOUND", "lease not found")
        cancelled = lease.state == "active"
        if cancelled:
            lease.state = "canceled"
        self.realm.ledger._append_cancel(
            CancelRecord(
                lease_id=lease.lease_id,
                idempotency_key=ctx.idempotency_key,
                cancelled=cancelled,
                trace_id=trace_id,
                cancelled_at=now,
            )
        )
        return {"cancelled": cancelled, "released_cap": "0", "trace_id": trace_id}

    @locked
    def snapshots(self) -> List[LeaseRecord]:
        """Frozen copies of every lease (for :meth:`Ledger.leases`), states in the client's words."""
        return [
            LeaseRecord(
                lease_id=lease.lease_id,
                lease_token=lease.token,
                feature_code=lease.feature_code,
                feature_family_code=lease.family_code,
                state=LEASE_STATES.get(lease.state, lease.state),
                idempotency_key=lease.idempotency_key,
                principal_id=lease.user.account.principal_id,
                user_id=lease.user.user_id,
                billing_account_id=lease.user.account.billing_account_id,
                billing_user_id=lease.user.billing_user_id,
                estimated_quantity_minor=lease.estimated,
                window_start=iso_ms(lease.window_start),
                window_end=iso_ms(lease.window_end),
                created_at=lease.created_at,
                expires_at=lease.expires_at,
            )
            for lease in self.realm.leases.values()
        ]


def _authorize_hash(
    subject: str, code: str, data: Dict[str, Any], estimated: Optional[int], labels: Optional[Dict[str, str]]
) -> str:
    """The hash an authorize's idempotency compares (the server's ``gate.authorize.request.v2``)."""
    return sha256_hex(
        js_json(
            {
                "schema": "gate.authorize.request.v2",
                "subject": subject,
                "feature_code": code,
                "feature_family_code": data.get("feature_family_code"),
                "estimated_quantity_minor": estimated,
                "budget_id": data.get("budget_id"),
                "labels": labels,
            }
        )
    )
