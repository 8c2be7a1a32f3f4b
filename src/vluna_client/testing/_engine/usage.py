"""Usage: ``/gate/commits``, ``/gate/commits/batch`` and ``/gate/ingest``, priced and recorded in the ledger."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Optional, Tuple

from .._errors import HttpError, UnexpectedError, invalid_input
from .._inputs import (
    as_object,
    feature_code_of,
    normalize_labels,
    parse_lease_token,
    parse_optional_non_negative_int,
    parse_positive_int,
    trimmed_lease_token,
    uuid_key,
)
from .._jsutil import JsonValue, iso_ms, js_json, js_trim, parse_js_date, sha256_hex
from .._records import CommitLineRecord, CommitRecord
from .._state import CallContext, Computation, Feature, Lease, NormalizedItem, User
from .budgets import Budgets, BudgetUse
from .features import Features, unique
from .limits import UNLIMITED, Limits
from .ops_views import OpsViews
from .pricing import Hint, Pricing
from .realm import Realm, locked
from .wallets import Wallets

__all__ = ["Usage"]

LATE_COMMIT_GRACE_MS = 60_000
LOW_HEADROOM_BASE_XUSD = 1_000
LOW_HEADROOM_MULTIPLIER = 2
_BUDGET_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _reason_codes(hints: List[Hint], budget_use: Optional[BudgetUse], allocations: List[Dict[str, Any]]) -> List[str]:
    # The server's reason codes, in the order it adds them.
    types = [str(h.get("type")) for h in hints]
    codes: List[str] = []
    if "lease.closed_at_commit" in types:
        codes.append("lease_closed_at_commit")
    for hint in hints:
        if hint.get("type") == "lease.expired":
            codes.append("late_commit")
            if hint.get("exceeded_grace"):
                codes.append("late_commit_exceeded")
    for hint_type, code in (
        ("policy.window_not_found", "policy_window_not_found"),
        ("feature.meter_not_allowed", "meter_not_allowed_for_feature"),
        ("pricing.not_configured", "pricing_not_configured"),
    ):
        if hint_type in types:
            codes.append(code)
    if budget_use is not None:
        codes.append("budget_limit_exceeded" if budget_use.exceeded else "budget_consumed")
    if any(a["fallback"] for a in allocations):
        codes.append("cash_funding_applied")
    return codes


@dataclass(frozen=True)
class _CommitRequest:
    """A commit body as the server reads it (see :meth:`Usage._commit_request`)."""

    token: str
    lease_ref: str
    code: str
    quantity: int
    labels: Optional[Dict[str, str]]
    items: List[NormalizedItem]
    request_hash: str


@dataclass(frozen=True)
class _IngestRequest:
    """An ingest body as the server reads it (see :meth:`Usage._ingest_request`)."""

    code: str
    budget_id: str  # "" when none is given
    labels: Optional[Dict[str, str]]
    occurred_at: Optional[datetime]
    quantity: Optional[int]
    items: List[NormalizedItem]
    request_hash: str


class Usage:
    """Commits against leases, batches of them, and lease-less ingest, with the database idempotency envelopes."""

    def __init__(
        self,
        realm: Realm,
        features: Features,
        pricing: Pricing,
        limits: Limits,
        wallets: Wallets,
        budgets: Budgets,
        ops: OpsViews,
    ) -> None:
        self.realm = realm
        self.wallets = wallets
        self.budgets = budgets
        self.ops = ops
        self.features = features
        self.pricing = pricing
        self.limits = limits

    @locked
    def commit(self, ctx: CallContext, body: JsonValue) -> Tuple[Dict[str, Any], List[Hint]]:
        """``POST /mgt/v1/gate/commits``."""
        response, hints, _lease = self._execute_commit(ctx, as_object(body), ctx.idempotency_key, kind="commit")
        return response, hints

    def _execute_commit(
        self, ctx: CallContext, data: Dict[str, Any], key: str, *, kind: str
    ) -> Tuple[Dict[str, Any], List[Hint], Optional[Lease]]:
        """One commit against its lease (a single commit or a batch item): checked, priced, settled and recorded.

        The lease closes unless ``kind`` is ``batch`` (the batch closes its leases at the end). A replayed key
        answers the stored envelope, and no lease.
        """
        user = ctx.runtime_user()
        request = self._commit_request(data)
        code, quantity = request.code, request.quantity
        feature = self.features.load(code)
        envelope_key = ("commit", request.lease_ref, user.billing_user_id, user.account.billing_account_id, key)
        replayed = self._replayed(envelope_key, request.request_hash)
        if replayed is not None:
            return replayed[0], replayed[1], None
        lease = self._lease_of(user, request)
        now = self.realm.now()
        hints: List[Hint] = []
        quarantined, delta_ms = self._lease_hints(lease, now, hints)
        remaining: Optional[int] = None
        if lease.quota_limit != UNLIMITED:
            remaining = max(0, lease.quota_limit - self.limits.quota_used(user, code, lease.window_start))
            if quantity > remaining:
                hints.append({"type": "quota.remaining", "max_quantity_minor": remaining})
        commit_items, computations, unpriced = self._priced_items(feature, request, user, hints)
        quarantined = quarantined or unpriced
        total = sum(c.amount for c in computations)
        settled = 0 if quarantined else total
        budget_use, allocations = self._settle(user, lease, code, 0 if quarantined else quantity, remaining, settled)
        response = self.pricing.priced_response(code, computations, budget_id=lease.budget_id)
        hints.extend(self._settled_hints(budget_use, commit_items, response, total, quarantined))
        self.realm.envelopes[envelope_key] = (request.request_hash, {"data": response, "hints": list(hints)})
        self._record_commit(
            response, kind=kind, lease_id=lease.lease_id, key=key, code=code, quantity=quantity, settled=settled,
            quarantined=quarantined, hints=hints, user=user, labels=request.labels, now=now,
        )  # fmt: skip
        metadata: Dict[str, Any] = {"feature_code": code, "lease_id": lease.lease_id}
        metadata["application_status"] = "quarantined" if quarantined else "applied"
        metadata["reason_codes"] = _reason_codes(hints, budget_use, allocations)
        metadata["late_commit"] = delta_ms > 0
        if request.labels:
            metadata = {"labels": request.labels, **metadata}
        self.ops.record_rating(
            user, response, computations, self.pricing.aggregate(code, "unit", computations), kind=kind,
            lease_id=lease.lease_id, quantity=quantity, metadata=metadata, applied=settled, allocations=allocations,
            rated_at=now,
        )  # fmt: skip
        if kind != "batch":
            lease.state = "closed"
        return response, hints, lease

    def _commit_request(self, data: Dict[str, Any]) -> _CommitRequest:
        """The commit body checked in the server's order, and the hash its idempotency envelope compares."""
        token = trimmed_lease_token(data)
        code = feature_code_of(data.get("feature_code"))
        quantity = parse_positive_int(data.get("quantity_minor"), "quantity_minor")
        if not token:
            raise invalid_input("lease_token is required")
        lease_ref = parse_lease_token(token)
        labels = normalize_labels(data.get("labels"))
        items = self.pricing.normalize_items(data.get("meters"), "items")
        request_hash = sha256_hex(
            js_json(
                {
                    "schema": "gate.commit.request.v3",
                    "lease_token": token,
                    "feature_code": code,
                    "quantity_minor": quantity,
                    "labels": labels,
                    "items": self.pricing.items_for_hash(items),
                }
            )
        )
        return _CommitRequest(token, lease_ref, code, quantity, labels, items, request_hash)

    def _replayed(
        self, envelope_key: Tuple[Any, ...], request_hash: str
    ) -> Optional[Tuple[Dict[str, Any], List[Hint]]]:
        """The stored answer and hints of a repeated key (409 when its request differs), else ``None``."""
        stored = self.realm.envelopes.get(envelope_key)
        if stored is None:
            return None
        if stored[0] != request_hash:
            raise HttpError(409, "WRITE.INVALID_PAYLOAD", "idempotency conflict")
        return stored[1]["data"], list(stored[1]["hints"])

    def _lease_of(self, user: User, request: _CommitRequest) -> Lease:
        """The user's lease the token names, for the same feature (422 otherwise)."""
        lease = self.realm.leases.get(uuid_key(request.lease_ref))
        if lease is None or lease.user is not user:
            raise HttpError(422, "RESOURCE.NOT_FOUND", "lease not found")
        if lease.feature_code != request.code:
            raise HttpError(422, "WRITE.INVALID_PAYLOAD", "feature mismatch for lease")
        if lease.token != request.token:
            raise HttpError(422, "WRITE.INVALID_PAYLOAD", "invalid lease token")
        return lease

    @staticmethod
    def _lease_hints(lease: Lease, now: datetime, hints: List[Hint]) -> Tuple[bool, int]:
        """Hints on a closed or expired lease; whether they quarantine the commit, and how late it is (ms)."""
        quarantined = False
        if lease.state != "active":
            quarantined = True
            hints.append({"type": "lease.closed_at_commit", "state": lease.state})
        delta_ms = int((now - lease.expires_at).total_seconds() * 1000)
        if delta_ms > 0:
            quarantined = quarantined or delta_ms > LATE_COMMIT_GRACE_MS
            hints.append(
                {
                    "type": "lease.expired",
                    "expires_at": iso_ms(lease.expires_at),
                    "delta_ms": delta_ms,
                    "grace_ms": LATE_COMMIT_GRACE_MS,
                    "exceeded_grace": delta_ms > LATE_COMMIT_GRACE_MS,
                }
            )
        return quarantined, delta_ms

    def _priced_items(
        self, feature: Feature, request: _CommitRequest, user: User, hints: List[Hint]
    ) -> Tuple[List[NormalizedItem], List[Computation], bool]:
        """The commit's meters (the primary meter for the quantity when none are given), each priced.

        Returns the items, their computations, and whether a meter outside the feature or without a price
        quarantines the commit (each adds its hint).
        """
        code = request.code
        commit_items = list(request.items)
        primary = feature.primary_meter
        if not commit_items and primary is not None:
            commit_items = [NormalizedItem(meter_code=primary, quantity=request.quantity)]
        if not commit_items:
            raise invalid_input("meters[] is required")
        invalid = self.features.invalid_meters(feature, commit_items)
        if invalid:
            hints.append({"type": "feature.meter_not_allowed", "feature_code": code, "meters": invalid})
        computations: List[Computation] = []
        missing: List[str] = []
        for item in commit_items:
            price = None if item.meter_code in invalid else self.pricing.price_of(item.meter_code)
            if price is None and item.meter_code not in invalid:
                missing.append(item.meter_code)
            computations.append(self.pricing.compute(code, item, price, user=user))
        if missing:
            hints.append({"type": "pricing.not_configured", "feature_code": code, "meters": unique(missing)})
        return commit_items, computations, bool(invalid) or bool(missing)

    def _settle(
        self, user: User, lease: Lease, code: str, applied_quantity: int, remaining: Optional[int], settled: int
    ) -> Tuple[Optional[BudgetUse], List[Dict[str, Any]]]:
        """Count the applied quantity in the quota window, consume the lease's budget, fund the amount."""
        if applied_quantity > 0:
            clipped = applied_quantity if remaining is None else min(remaining, applied_quantity)
            counter = (user.billing_user_id, code, iso_ms(lease.window_start))
            self.realm.quota_counters[counter] = self.realm.quota_counters.get(counter, 0) + clipped
        budget_use = None
        if lease.budget_id is not None and settled > 0:
            budget_use = self.budgets.consume(user, lease.budget_id, settled)
        return budget_use, self.wallets.fund(user.account, settled)

    def _settled_hints(
        self,
        budget_use: Optional[BudgetUse],
        items: List[NormalizedItem],
        response: Dict[str, Any],
        total: int,
        quarantined: bool,
    ) -> List[Hint]:
        """The budget's hints, prices that changed since the lease, and low budget headroom after an applied commit."""
        hints: List[Hint] = list(budget_use.hints) if budget_use is not None else []
        hints.extend(self.pricing.changed_hints(items, response["lines"]))
        if budget_use is not None and budget_use.remaining is not None and not quarantined:
            headroom = max(0, budget_use.remaining)
            threshold = max(LOW_HEADROOM_BASE_XUSD, total * LOW_HEADROOM_MULTIPLIER)
            if headroom <= threshold:
                hints.append({"type": "budget.low_headroom", "headroom_xusd": headroom, "threshold_xusd": threshold})
        return hints

    def _record_commit(
        self,
        response: Dict[str, Any],
        *,
        kind: str,
        lease_id: Optional[str],
        key: str,
        code: str,
        quantity: int,
        settled: int,
        quarantined: bool,
        hints: List[Hint],
        user: User,
        labels: Optional[Dict[str, str]],
        now: datetime,
    ) -> None:
        self.realm.ledger._append_commit(
            CommitRecord(
                commit_id=response["commit_id"],
                kind=kind,
                lease_id=lease_id,
                idempotency_key=key,
                feature_code=code,
                quantity_minor=quantity,
                amount_xusd=int(response["amount_xusd"]),
                applied_amount_xusd=settled,
                application_status="quarantined" if quarantined else "applied",
                hint_types=tuple(str(h.get("type")) for h in hints),
                lines=tuple(
                    CommitLineRecord(
                        line_id=line["line_id"],
                        meter_code=line["meter_code"],
                        quantity_minor=int(line["quantity_minor"]),
                        unit_price_xusd=int(line["unit_price_xusd"]),
                        amount_xusd=int(line["amount_xusd"]),
                    )
                    for line in response["lines"]
                ),
                principal_id=user.account.principal_id,
                user_id=user.user_id,
                billing_account_id=user.account.billing_account_id,
                billing_user_id=user.billing_user_id,
                labels=tuple(sorted((labels or {}).items())),
                committed_at=now,
            )
        )

    # ----------------------------------------------------------------- batch, cancel, ingest

    @locked
    def commit_batch(self, ctx: CallContext, body: JsonValue) -> Dict[str, Any]:
        """``POST /mgt/v1/gate/commits/batch``: items processed in order, leases closed at the end."""
        data = as_object(body)
        raw_items = data.get("items") if isinstance(data.get("items"), list) else []
        results: List[Dict[str, Any]] = []
        committed = failed = 0
        touched: List[Lease] = []
        for index, raw in enumerate(raw_items or []):
            if not isinstance(raw, dict) or not isinstance(raw.get("idempotency_key"), str):
                # `item.idempotency_key.trim()` throws on the server and the whole batch answers 500.
                raise UnexpectedError("Cannot read properties of undefined (reading 'trim')")
            item_key = js_trim(raw["idempotency_key"])
            if not item_key:
                results.append(
                    {
                        "index": index,
                        "status": "invalid",
                        "error": {
                            "type": "VALIDATION.INVALID_INPUT",
                            "details": "idempotency_key is required for each batch item",
                        },
                    }
                )
                failed += 1
                continue
            single = {
                name: raw[name]
                for name in ("lease_token", "feature_code", "quantity_minor", "labels", "meters")
                if name in raw
            }
            try:
                response, _hints, lease = self._execute_commit(ctx, single, item_key, kind="batch")
            except HttpError as exc:
                results.append(
                    {
                        "index": index,
                        "status": "invalid" if exc.status == 422 else "failed",
                        "error": {"type": exc.code, "details": exc.message},
                    }
                )
                failed += 1
                continue
            except UnexpectedError as exc:
                results.append(
                    {"index": index, "status": "failed", "error": {"type": "SERVER.ERROR", "details": str(exc)}}
                )
                failed += 1
                continue
            if lease is not None:
                touched.append(lease)
            results.append({"index": index, "status": "committed", "commit": response})
            committed += 1
        for lease in touched:
            lease.state = "closed"
        return {"items": results, "committed_count": committed, "failed_count": failed}

    @locked
    def ingest(self, ctx: CallContext, body: JsonValue) -> Tuple[Dict[str, Any], List[Hint]]:
        """``POST /mgt/v1/gate/ingest``: priced usage without a lease (no quota, rate or balance checks)."""
        user = ctx.runtime_user()
        request = self._ingest_request(as_object(body))
        code, occurred_at, quantity, labels = request.code, request.occurred_at, request.quantity, request.labels
        budget_id = request.budget_id
        feature = self.features.load(code)
        envelope_key = ("ingest", user.billing_user_id, user.account.billing_account_id, ctx.idempotency_key)
        replayed = self._replayed(envelope_key, request.request_hash)
        if replayed is not None:
            return replayed
        items = request.items
        if not items:
            selected = self._ingest_meter(feature)
            if selected is None:
                raise invalid_input("meters[] is required")
            items = [NormalizedItem(meter_code=selected, quantity=quantity or 0)]
        invalid = self.features.invalid_meters(feature, items)
        if invalid:
            raise invalid_input("meter_not_allowed_for_feature: " + ",".join(invalid))
        hints: List[Hint] = []
        at = occurred_at or self.realm.now()
        computations = [
            self.pricing.compute(code, item, self.pricing.price_of(item.meter_code), user, item.unit or "unit", at)
            for item in items
        ]
        missing = [c.meter_code for c in computations if c.source == "missing"]
        if missing:
            hints.append({"type": "pricing.not_configured", "feature_code": code, "meters": unique(missing)})
        response = self.pricing.priced_response(code, computations, budget_id=budget_id or None)
        hints.extend(self.pricing.changed_hints(items, response["lines"]))
        total = sum(c.amount for c in computations)
        allocations = self.wallets.fund(user.account, total)
        self.realm.envelopes[envelope_key] = (request.request_hash, {"data": response, "hints": list(hints)})
        canonical_quantity = quantity if quantity is not None else sum(item.quantity for item in items)
        self._record_commit(
            response, kind="ingest", lease_id=None, key=ctx.idempotency_key, code=code, quantity=canonical_quantity,
            settled=total, quarantined=False, hints=hints, user=user, labels=labels,
            now=occurred_at or self.realm.now(),
        )  # fmt: skip
        system_now = iso_ms(self.realm.now())
        metadata: Dict[str, Any] = {
            "commit_kind": "ingest",
            "occurred_at": iso_ms(at),
            "feature_code": code,
            "reason_codes": ["ingest", *(["cash_funding_applied"] if any(a["fallback"] for a in allocations) else [])],
            "application_status": "applied",
            "occurred_at_source": "client" if occurred_at else "server_default",
            "system_recorded_at": system_now,
        }
        if labels:
            metadata["labels"] = labels
        self.ops.record_rating(
            user, response, computations, self.pricing.aggregate(code, "unit", computations), kind="ingest",
            lease_id=None, quantity=canonical_quantity, metadata=metadata, applied=total, allocations=allocations,
            rated_at=at,
        )  # fmt: skip
        return response, hints

    def _ingest_request(self, data: Dict[str, Any]) -> _IngestRequest:
        """The ingest body checked in the server's order, and the hash its idempotency envelope compares."""
        code = feature_code_of(data.get("feature_code"))
        budget_raw = data.get("budget_id")
        budget_id = js_trim(budget_raw) if isinstance(budget_raw, str) else ""
        if budget_id and not _BUDGET_UUID.match(budget_id):
            raise invalid_input("invalid budget_id")
        labels = normalize_labels(data.get("labels"))
        occurred_at = self._occurred_at(data.get("occurred_at"))
        quantity = parse_optional_non_negative_int(data.get("quantity_minor"), "quantity_minor")
        items = self.pricing.normalize_items(data.get("meters"), "meters")
        if quantity is None and not items:
            raise invalid_input("quantity_minor or meters[] is required")
        request_hash = sha256_hex(
            js_json(
                {
                    "schema": "gate.ingest.request.v3",
                    "feature_code": code,
                    "occurred_at": iso_ms(occurred_at) if occurred_at else None,
                    "quantity_minor": quantity,
                    "budget_id": budget_id or None,
                    "labels": labels,
                    "items": self.pricing.items_for_hash(items),
                }
            )
        )
        return _IngestRequest(code, budget_id, labels, occurred_at, quantity, items, request_hash)

    def _ingest_meter(self, feature: Feature) -> Optional[str]:
        # The primary meter, else the alphabetically first priced one, else the alphabetically first.
        if not feature.meters:
            return None
        if feature.code in feature.meters:
            return feature.code
        priced = sorted(m for m in feature.meters if self.pricing.price_of(m) is not None)
        return priced[0] if priced else sorted(feature.meters)[0]

    @staticmethod
    def _occurred_at(value: JsonValue) -> Optional[datetime]:
        if value is None or value == "":
            return None
        text = js_trim(value) if isinstance(value, str) else ""
        parsed = parse_js_date(text) if text else None
        if parsed is None:
            raise invalid_input("occurred_at must be a valid date-time")
        return parsed
