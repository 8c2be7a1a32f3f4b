"""What the gate records for the ops views: ratings, rated records and allocations, and a user's activity.

Every commit, batch item and ingest becomes a rating (the server's ``billing_ratings`` row, with the aggregate
pricing and cost snapshots in its metadata), one rated record per priced line (``billing_rated_records``) and one
allocation (the pending settlement with its funding sources). They are stored in the spec-driven ``/ops/ratings``,
``/ops/rated-records`` and ``/ops/allocations`` families, which the ops list and get operations read.
``ops.get_rating`` with ``expand=rated_records`` adds the lines. ``billing_users.list_activity`` merges events,
ratings, allocations, grants, ledger entries and budgets newest first, as ``listBillingUserActivity`` does.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .._errors import HttpError
from .._jsutil import JsonValue, iso_ms, js_number, string_list
from .._state import CallContext, Computation, User
from .accounts import Accounts
from .budgets import BUDGETS
from .events import EVENTS
from .realm import Realm, locked

__all__ = ["ALLOCATIONS", "NEWEST_FIRST", "RATED_RECORDS", "RATINGS", "OpsViews"]

RATINGS = "/ops/ratings/{rating_id}"
RATED_RECORDS = "/ops/rated-records/{rated_record_id}"
ALLOCATIONS = "/ops/allocations/{allocation_id}"
ACTIVITY_KINDS = ("event", "rating", "allocation", "grant", "ledger_entry", "budget")
NEWEST_FIRST = frozenset({RATINGS, RATED_RECORDS, ALLOCATIONS, EVENTS})
"""Spec-driven families whose lists the server orders newest first by default."""


class OpsViews:
    """Ratings, rated records and allocations written by the gate, and the activity view over everything."""

    def __init__(self, realm: Realm, families: Dict[str, Dict[Any, Dict[str, Any]]], accounts: Accounts) -> None:
        self.realm = realm
        self.families = families
        self.accounts = accounts

    def _family(self, name: str) -> Dict[Any, Dict[str, Any]]:
        return self.families.setdefault(name, {})

    # ----------------------------------------------------------------- written by the gate

    @locked
    def record_rating(
        self,
        user: User,
        response: Mapping[str, Any],
        computations: List[Computation],
        aggregate: Tuple[Dict[str, Any], Dict[str, Any]],
        *,
        kind: str,
        lease_id: Optional[str],
        quantity: int,
        metadata: Dict[str, Any],
        applied: int,
        allocations: List[Dict[str, Any]],
        rated_at: datetime,
    ) -> None:
        """Store the rating, its rated records and its allocation for one priced commit or ingest."""
        rating_id = str(response["commit_id"])
        now = iso_ms(self.realm.now())
        owner = {
            "billing_account_id": user.account.billing_account_id,
            "billing_user_id": user.billing_user_id,
        }
        ingest = kind == "ingest"
        rating = {
            "rating_id": rating_id,
            "realm_id": self.realm.realm_id,
            **owner,
            **_rating_figures(response, aggregate, kind=kind, lease_id=lease_id, quantity=quantity, metadata=metadata),
            "rated_at": iso_ms(rated_at),
            "created_at": now,
        }
        self._family(RATINGS)[(rating_id,)] = rating
        line_meta: Dict[str, Any] = {"feature_code": metadata["feature_code"]}
        if ingest:
            line_meta = {"commit_kind": "ingest", **line_meta}
        else:
            line_meta.update({"lease_id": lease_id, "labels": metadata.get("labels")})
        for line, comp in zip(response["lines"], computations):
            record = {
                "rated_record_id": line["line_id"],
                "rating_id": rating_id,
                **owner,
                **_rated_line(line, comp),
                "metadata": dict(line_meta),
                "created_at": now,
            }
            self._family(RATED_RECORDS)[(record["rated_record_id"],)] = record
        allocation = _allocation(rating_id, owner, response, metadata, applied, allocations, iso_ms(rated_at), now)
        self._family(ALLOCATIONS)[(allocation["allocation_id"],)] = allocation

    # ----------------------------------------------------------------- ops.get_rating

    @locked
    def get_rating(self, ctx: CallContext, rating_id: str, query: Mapping[str, JsonValue]) -> Dict[str, Any]:
        """``GET /mgt/v1/ops/ratings/{rating_id}`` (``expand=rated_records`` adds the lines)."""
        rating = self._family(RATINGS).get((rating_id,))
        account = ctx.account
        if rating is None or (account is not None and rating["billing_account_id"] != account.billing_account_id):
            raise HttpError(404, "RESOURCE.NOT_FOUND", "rating not found")
        answer = {k: v for k, v in rating.items() if not k.startswith("_")}
        if "rated_records" in string_list(query.get("expand")):
            answer["rated_records"] = [
                dict(r) for r in self._family(RATED_RECORDS).values() if r["rating_id"] == rating_id
            ]
        return answer

    # ----------------------------------------------------------------- billing_users.list_activity

    @locked
    def activity(self, billing_user_id: str, query: Mapping[str, JsonValue]) -> Dict[str, Any]:
        """``GET /mgt/v1/billing-users/{billing_user_id}/activity``: newest first, ``kind`` filter, time cursor."""
        user = self.accounts.find_user_by_id(billing_user_id)
        if user is None:
            raise HttpError(404, "RESOURCE.NOT_FOUND", "billing user not found")
        raw_limit = query.get("limit")
        number = js_number(raw_limit) if isinstance(raw_limit, str) else None
        limit = 50 if number is None or number <= 0 else max(1, min(200, int(number)))
        kinds = [k.lower() for k in string_list(query.get("kind"))] or list(ACTIVITY_KINDS)
        cursor = query.get("cursor") if isinstance(query.get("cursor"), str) else None
        items: List[Dict[str, Any]] = []
        for kind in ACTIVITY_KINDS:
            if kind in kinds:
                items.extend(getattr(self, f"_{kind}_items")(user))
        if cursor:
            items = [item for item in items if item["occurred_at"] < cursor]
        items.sort(key=lambda item: (item["occurred_at"], item["activity_id"]), reverse=True)
        page = items[:limit]
        next_cursor = page[-1]["occurred_at"] if len(items) > limit and page else None
        return {"items": page, "next_cursor": next_cursor}

    def _mine(self, family: str, user: User) -> List[Dict[str, Any]]:
        return [r for r in self._family(family).values() if r.get("billing_user_id") == user.billing_user_id]

    def _event_items(self, user: User) -> List[Dict[str, Any]]:
        return [
            {
                "kind": "event",
                "activity_id": f"event:{r['event_id']}",
                "occurred_at": r["occurred_at"],
                "title": r["event_type"] or "Billing event",
                "status": None,
                "amount_xusd": None,
                "feature_code": None,
                "metadata": {"event_id": r["event_id"], "subject_ref": r.get("subject_ref"), "payload": r["payload"]},
            }
            for r in self._mine(EVENTS, user)
        ]

    def _rating_items(self, user: User) -> List[Dict[str, Any]]:
        return [
            {
                "kind": "rating",
                "activity_id": f"rating:{r['rating_id']}",
                "occurred_at": r["rated_at"],
                "title": f"Rating {r['feature_code']}",
                "status": r["direction"],
                "amount_xusd": r["canonical_amount_xusd"],
                "feature_code": r["feature_code"],
                "metadata": {"rating_id": r["rating_id"], **r["metadata"]},
            }
            for r in self._mine(RATINGS, user)
        ]

    def _allocation_items(self, user: User) -> List[Dict[str, Any]]:
        return [
            {
                "kind": "allocation",
                "activity_id": f"allocation:{r['allocation_id']}",
                "occurred_at": r["created_at"],
                "title": f"Allocation {r['feature_code']}",
                "status": f"{r['settlement_state']}:{r['application_status']}",
                "amount_xusd": r["allocated_xusd"],
                "feature_code": r["feature_code"],
                "metadata": {
                    "allocation_id": r["allocation_id"],
                    "rated_at": r["rated_at"],
                    "grant_id": r["grant_id"],
                    **r["metadata"],
                },
            }
            for r in self._mine(ALLOCATIONS, user)
        ]

    def _grant_items(self, user: User) -> List[Dict[str, Any]]:
        items = []
        for grant in user.account.wallet.grants:
            items.append(
                {
                    "kind": "grant",
                    "activity_id": f"grant:{grant.grant_id}",
                    "occurred_at": iso_ms(grant.created_at or self.realm.started_at),
                    "title": f"Grant {grant.program_code or grant.kind}",
                    "status": "ready",
                    "amount_xusd": str(grant.amount),
                    "feature_code": None,
                    "metadata": {
                        "grant_id": grant.grant_id,
                        "program_code": grant.program_code,
                        "kind": grant.kind,
                        **grant.metadata,
                    },
                }
            )
        return items

    def _ledger_entry_items(self, user: User) -> List[Dict[str, Any]]:
        return [
            {
                "kind": "ledger_entry",
                "activity_id": f"ledger_entry:{entry['entry_id']}",
                "occurred_at": entry["created_at"],
                "title": f"Ledger {entry['reason']}",
                "status": entry["reason"],
                "amount_xusd": str(entry["amount_xusd"]),
                "feature_code": None,
                "metadata": {
                    "entry_id": entry["entry_id"],
                    "source_ref": entry.get("source_ref"),
                    "econ_component_kind": "charge",
                    "econ_component_code": None,
                },
            }
            for entry in user.account.wallet.entries
        ]

    def _budget_items(self, user: User) -> List[Dict[str, Any]]:
        return [
            {
                "kind": "budget",
                "activity_id": f"budget:{r['budget_id']}",
                "occurred_at": r["updated_at"],
                "title": f"Budget {r['name']}" if r.get("name") else "Budget",
                "status": r.get("status"),
                "amount_xusd": r.get("limit_xusd"),
                "feature_code": r.get("scope_ref") if r.get("scope_kind") == "feature" else None,
                "metadata": {
                    "budget_id": r["budget_id"],
                    "scope_kind": r.get("scope_kind"),
                    "scope_ref": r.get("scope_ref"),
                    **(r.get("metadata") or {}),
                },
            }
            for r in self._mine(BUDGETS, user)
        ]


def _rating_figures(
    response: Mapping[str, Any],
    aggregate: Tuple[Dict[str, Any], Dict[str, Any]],
    *,
    kind: str,
    lease_id: Optional[str],
    quantity: int,
    metadata: Mapping[str, Any],
) -> Dict[str, Any]:
    """A rating's kind, source and canonical figures, with the aggregate pricing and cost snapshots."""
    pricing, cost = aggregate
    ingest = kind == "ingest"
    return {
        "rating_kind": "ingest" if ingest else "gate",
        "idempotency_id": str(uuid.uuid4()),
        "source_ref": None if ingest else f"gate_lease:{lease_id}",
        "budget_id": response.get("budget_id"),
        "feature_code": metadata["feature_code"],
        "direction": "debit",
        "reversal_of_rating_id": None,
        "canonical_quantity_minor": str(quantity),
        "canonical_amount_xusd": str(response["amount_xusd"]),
        "canonical_cost_xusd": str(response["cost_xusd"]),
        "pricing_fingerprint": pricing["fingerprint"],
        "pricing_cost_fingerprint": cost["fingerprint"],
        "cost_snapshot": cost,
        "cost_fingerprint": cost["fingerprint"],
        "metadata": {**metadata, "aggregate_cost_snapshot": cost, "aggregate_pricing_snapshot": pricing},
    }


def _rated_line(line: Mapping[str, Any], computation: Computation) -> Dict[str, Any]:
    """A rated record's figures: the commit line's, with the block size and rounding of the price it used."""
    price = computation.price
    return {
        "meter_code": line["meter_code"],
        "quantity_minor": line["quantity_minor"],
        "amount_xusd": line["amount_xusd"],
        "cost_xusd": line["cost_xusd"],
        "unit_price_xusd": line["unit_price_xusd"],
        "unit_quantity_minor": str(price.unit_quantity_minor if price else 1),
        "rounding": price.rounding if price else "floor",
        "unit_cost_xusd": line["unit_cost_xusd"],
        "cost_unit_quantity_minor": line["cost_unit_quantity_minor"],
        "cost_rounding": line["cost_rounding"],
        "pricing_snapshot": line["pricing_snapshot"],
        "pricing_fingerprint": line["pricing_fingerprint"],
        "cost_snapshot": line["cost_snapshot"],
        "cost_fingerprint": line["cost_fingerprint"],
    }


def _allocation(
    rating_id: str,
    owner: Mapping[str, Any],
    response: Mapping[str, Any],
    metadata: Mapping[str, Any],
    applied: int,
    allocations: List[Dict[str, Any]],
    rated_at: str,
    now: str,
) -> Dict[str, Any]:
    """The allocation of a rating's applied amount to the grants (``allocations``) that funded it."""
    sources = [
        {"kind": "grant", "grant_id": a["grant_id"], "alloc_seq": 1, "allocated_xusd": str(a["allocated_xusd"])}
        for a in allocations
    ]
    covered = sum(a["allocated_xusd"] for a in allocations if not a["fallback"])
    return {
        "allocation_id": str(uuid.uuid4()),
        "rating_id": rating_id,
        **owner,
        "feature_code": metadata["feature_code"],
        "allocated_xusd": str(applied),
        "settlement_state": "pending",
        "application_status": metadata.get("application_status", "applied"),
        "grant_id": sources[0]["grant_id"] if sources else None,
        "rated_at": rated_at,
        "metadata": {
            "cost": {
                "applied_xusd": str(response["cost_xusd"] if applied else 0),
                "canonical_xusd": str(response["cost_xusd"]),
            },
            "funding": {"sources": sources, "grant_coverage_xusd": str(covered)},
        },
        "created_at": now,
    }
