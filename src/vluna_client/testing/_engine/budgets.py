"""Budgets as the server keeps them (``budgets.service.ts`` and the gate's ``budget.service.ts``).

A budget belongs to one billing user. ``budgets.create`` validates the scope and limit like the server and stores
the record in the spec-driven ``/budgets/{budget_id}`` family (so ``get``, ``list`` and ``close`` read the same
dict); the gate finds it there: authorize refuses a budget that is not the caller's, not active or outside its
window (422 "budget not found or inactive"), previews its headroom (``budget.shortfall`` and 402
``BUDGET.EXHAUSTED`` in prepaid mode), and every applied commit adds its amount to ``consumed_xusd``.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional

from .._errors import HttpError, invalid_input
from .._inputs import as_object
from .._jsutil import JsonValue, iso_ms, js_number, js_trim, parse_js_date
from .._state import CallContext, User
from .realm import Realm, locked

__all__ = ["BUDGETS", "BudgetUse", "Budgets"]

BUDGETS = "/budgets/{budget_id}"
SCOPE_KINDS = ("global", "feature", "feature_set")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
Hint = Dict[str, Any]


@dataclass
class BudgetUse:
    """What one commit did to a budget (the server's ``BudgetUsageUpdate``)."""

    budget_id: str
    consumed_delta: int
    remaining: Optional[int]
    hints: List[Hint]
    exceeded: bool


def _int(value: Any) -> Optional[int]:
    if value is None:
        return None
    number = js_number(value)
    return int(number) if number is not None and math.isfinite(number) else None


def _when(value: Any) -> Optional[datetime]:
    return parse_js_date(value) if isinstance(value, str) and value else None


def _window(body: Mapping[str, Any], name: str) -> Any:
    if name not in body:
        return None
    value = body[name]
    if value is None:
        return None
    parsed = parse_js_date(value) if isinstance(value, str) else None
    if parsed is None:
        raise invalid_input(f"{name} must be ISO-8601 timestamp or null")
    return iso_ms(parsed)


def _feature_of(scope_payload: Any, metadata: Any) -> Optional[str]:
    for source in (scope_payload, metadata):
        if isinstance(source, Mapping) and isinstance(source.get("feature"), str) and js_trim(source["feature"]):
            return js_trim(source["feature"])
    return None


class Budgets:
    """Budget records (in the spec-driven family) and the gate's use of them."""

    def __init__(self, realm: Realm, families: Dict[str, Dict[Any, Dict[str, Any]]]) -> None:
        self.realm = realm
        self.families = families

    def _store(self) -> Dict[Any, Dict[str, Any]]:
        return self.families.setdefault(BUDGETS, {})

    # ----------------------------------------------------------------- the budgets routes

    @locked
    def create(self, ctx: CallContext, body: JsonValue) -> Dict[str, Any]:
        """``POST /mgt/v1/budgets`` and ``POST /api/v1/budgets``."""
        user = ctx.runtime_user()
        data = as_object(body)
        scope_kind = data.get("scope_kind", "global")
        if scope_kind is None:
            scope_kind = "global"
        if scope_kind not in SCOPE_KINDS:
            raise invalid_input("invalid scope_kind")
        payload = dict(data["scope_payload"]) if isinstance(data.get("scope_payload"), Mapping) else None
        metadata = dict(data["metadata"]) if isinstance(data.get("metadata"), Mapping) else {}
        scope_ref: Optional[str] = None
        if scope_kind == "feature":
            scope_ref = _feature_of(payload, metadata)
            if scope_ref is None:
                raise invalid_input("feature scope requires feature identifier")
        elif scope_kind == "feature_set":
            feature_set = payload.get("feature_set") if payload else None
            scope_ref = js_trim(feature_set) if isinstance(feature_set, str) else ""
            if not scope_ref:
                raise invalid_input("feature_set scope requires feature_set identifier")
        limit: Optional[int] = None
        if data.get("limit_xusd") is not None:
            number = js_number(data["limit_xusd"])
            if number is None or not math.isfinite(number) or number < 0:
                raise invalid_input("value must be non-negative integer")
            limit = math.floor(number)
        window_start, window_end = _window(data, "window_start"), _window(data, "window_end")
        if scope_kind == "feature" and scope_ref not in self.realm.features:
            raise HttpError(404, "RESOURCE.NOT_FOUND", f"feature {scope_ref} not found")
        now = iso_ms(self.realm.now())
        record: Dict[str, Any] = {
            "budget_id": str(uuid.uuid4()),
            "billing_account_id": user.account.billing_account_id,
            "billing_user_id": user.billing_user_id,
            "name": data["name"] if isinstance(data.get("name"), str) else None,
            "status": "active",
            "scope_kind": scope_kind,
            "scope_ref": scope_ref,
            "scope_payload": payload,
            "limit_xusd": None if limit is None else str(limit),
            "reserved_xusd": "0",
            "consumed_xusd": "0",
            "window_start": window_start,
            "window_end": window_end,
            "metadata": metadata,
            "created_at": now,
            "updated_at": now,
        }
        self._refresh(record)
        self._store()[(record["budget_id"],)] = record
        return self.view(record)

    @staticmethod
    def _refresh(record: Dict[str, Any]) -> None:
        limit, reserved, consumed = (_int(record.get(k)) for k in ("limit_xusd", "reserved_xusd", "consumed_xusd"))
        remaining = None if limit is None else max(0, limit - (reserved or 0) - (consumed or 0))
        record["remaining_xusd"] = None if remaining is None else str(remaining)

    @staticmethod
    def view(record: Mapping[str, Any]) -> Dict[str, Any]:
        """The server's ``Budget`` answer for a record (absent fields left out, nulls kept where it keeps them)."""
        view: Dict[str, Any] = {"budget_id": record["budget_id"], "billing_account_id": record["billing_account_id"]}
        if record.get("name") is not None:
            view["name"] = record["name"]
        view["status"] = record.get("status", "active")
        view["scope_kind"] = record.get("scope_kind")
        if record.get("scope_payload") is not None:
            view["scope_payload"] = record["scope_payload"]
        if record.get("limit_xusd") is not None:
            view["limit_xusd"] = record["limit_xusd"]
        view["consumed_xusd"] = record.get("consumed_xusd", "0")
        view["window_start"] = record.get("window_start")
        view["window_end"] = record.get("window_end")
        view["metadata"] = record.get("metadata") or {}
        view["created_at"] = record["created_at"]
        view["updated_at"] = record["updated_at"]
        if record.get("remaining_xusd") is not None:
            view["remaining_xusd"] = record["remaining_xusd"]
        return view

    # ----------------------------------------------------------------- the gate's side

    def _active(self, user: User, budget_id: JsonValue, now: datetime) -> Optional[Dict[str, Any]]:
        if not isinstance(budget_id, str) or not _UUID.match(js_trim(budget_id)):
            raise invalid_input("budget_id must be a uuid string")
        record = self._store().get((js_trim(budget_id).lower(),))
        if record is None or record.get("billing_user_id") != user.billing_user_id:
            return None
        if record.get("billing_account_id") != user.account.billing_account_id or record.get("status") != "active":
            return None
        start, end = _when(record.get("window_start")), _when(record.get("window_end"))
        if (start is not None and start > now) or (end is not None and end <= now):
            return None
        return record

    @locked
    def preview(self, user: User, budget_id: JsonValue) -> Dict[str, Any]:
        """Authorize's look at a budget: ``{budget_id, remaining, reserved, hints}`` (422 when unusable)."""
        record = self._active(user, budget_id, self.realm.now())
        if record is None:
            raise HttpError(422, "RESOURCE.NOT_FOUND", "budget not found or inactive")
        limit = _int(record.get("limit_xusd"))
        reserved = _int(record.get("reserved_xusd")) or 0
        consumed = _int(record.get("consumed_xusd")) or 0
        remaining = None if limit is None else limit - reserved - consumed
        hints: List[Hint] = []
        if remaining is not None and remaining <= 0:
            shortfall = -remaining
            hints.append(
                {"type": "budget.shortfall", "budget_id": record["budget_id"], "shortfall_xusd": shortfall or 1}
            )
        return {"budget_id": record["budget_id"], "remaining": remaining, "reserved": reserved, "hints": hints}

    @locked
    def consume(self, user: User, budget_id: str, amount: int) -> BudgetUse:
        """Add an applied commit's amount to the budget (422 when it is no longer usable, as on the server)."""
        record = self._active(user, budget_id, self.realm.now())
        if record is None:
            raise HttpError(422, "RESOURCE.NOT_FOUND", "budget not found or inactive")
        consume = max(0, amount)
        limit = _int(record.get("limit_xusd"))
        reserved = _int(record.get("reserved_xusd")) or 0
        consumed = (_int(record.get("consumed_xusd")) or 0) + consume
        remaining = None if limit is None else limit - reserved - consumed
        hints: List[Hint] = []
        exceeded = remaining is not None and remaining < 0
        if exceeded and remaining is not None:
            hints.append({"type": "budget.shortfall", "budget_id": record["budget_id"], "shortfall_xusd": -remaining})
        if consume > 0:
            record["consumed_xusd"] = str(consumed)
            record["updated_at"] = iso_ms(self.realm.now())
            self._refresh(record)
        return BudgetUse(record["budget_id"], consume, remaining, hints, exceeded)

    @locked
    def coverage_balance(self, user: User, budget_id: JsonValue) -> Dict[str, Any]:
        """The budget side of ``gate.meters`` coverage: ``{balance, notes}`` (404 when missing or inactive)."""
        if not isinstance(budget_id, str) or not _UUID.match(js_trim(budget_id)):
            raise invalid_input("invalid budget_id")
        record = self._store().get((js_trim(budget_id).lower(),))
        if (
            record is None
            or record.get("billing_user_id") != user.billing_user_id
            or record.get("billing_account_id") != user.account.billing_account_id
        ):
            raise HttpError(404, "RESOURCE.NOT_FOUND", "budget not found")
        if record.get("status") != "active":
            raise HttpError(404, "RESOURCE.NOT_FOUND", "budget inactive")
        now = self.realm.now()
        start, end = _when(record.get("window_start")), _when(record.get("window_end"))
        if start is not None and start > now:
            return {"balance": 0, "notes": "budget window not yet active"}
        if end is not None and end <= now:
            return {"balance": 0, "notes": "budget window expired"}
        limit = _int(record.get("limit_xusd"))
        if limit is None:
            return {"balance": 0, "notes": "budget has no limit configured"}
        reserved = _int(record.get("reserved_xusd")) or 0
        consumed = _int(record.get("consumed_xusd")) or 0
        return {"balance": max(0, limit - reserved - consumed), "notes": None}
