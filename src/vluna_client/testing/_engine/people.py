"""Billing accounts and billing users as the billing-accounts and billing-users routes see them.

There is one model: the :class:`~.._state.Account` and :class:`~.._state.User` objects the gate creates on first
sight. The spec-driven families ``/billing-accounts/{billing_account_id}`` and ``/billing-users/{billing_user_id}``
are read-only views over them (:class:`AccountFamily`, :class:`UserFamily`), and every write goes through the
handlers here, which change those objects; nothing is copied or kept in sync. Semantics follow the server's
``billing-accounts.service.ts``: ``seat_limit`` is required on update, a billing-details change must change
something, adding a user who exists returns (and reactivates) that user, and every route checks the account or user
of its path first (404).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple

from .._errors import HttpError
from .._jsutil import JsonValue, iso_ms, js_trim
from .._spec_data.spec_types import EmulatorOperation
from .._state import Account, User
from .accounts import Accounts
from .realm import Realm
from .spec_call import Answer

__all__ = ["AccountFamily", "People", "UserFamily", "account_record", "user_record"]

Key = Tuple[str, ...]
USER_STATUSES = ("active", "disabled", "deleted")
DETAIL_FIELDS = ("billing_email", "legal_name", "entity_type", "default_address", "tax_ids", "metadata")


def _iso(moment: Optional[datetime]) -> Optional[str]:
    return iso_ms(moment) if moment is not None else None


def account_record(account: Account, started_at: datetime) -> Dict[str, Any]:
    """The ``BillingAccount`` fields of an account (a fresh dict: changing it changes nothing)."""
    return {
        "billing_account_id": account.billing_account_id,
        "billing_principal_id": account.principal_id,
        "seat_limit": account.seat_limit,
        "seat_limit_source": account.seat_limit_source,
        "seat_limit_updated_at": _iso(account.seat_limit_updated_at),
        "metadata": dict(account.metadata),
        "created_at": iso_ms(account.created_at or started_at),
    }


def user_record(user: User, started_at: datetime) -> Dict[str, Any]:
    """The ``BillingUser`` fields of a user (a fresh dict: changing it changes nothing)."""
    metadata = dict(user.metadata)
    created = user.created_at or started_at
    return {
        "billing_user_id": user.billing_user_id,
        "billing_account_id": user.account.billing_account_id,
        "billing_principal_id": user.account.principal_id,
        "business_user_id": user.user_id,
        "user_id": user.user_id,
        "status": user.status,
        "display_name": _optional_text(metadata.get("display_name")),
        "email": _optional_text(metadata.get("email")),
        "metadata": metadata,
        "created_at": iso_ms(created),
        "updated_at": iso_ms(user.updated_at or created),
    }


class AccountFamily(Mapping[Key, Dict[str, Any]]):
    """The accounts as the spec-driven family ``/billing-accounts/{billing_account_id}`` (read-only)."""

    def __init__(self, realm: Realm) -> None:
        self._realm = realm

    def _by_key(self) -> Dict[Key, Account]:
        return {(a.billing_account_id,): a for a in self._realm.accounts.values()}

    def __getitem__(self, key: Key) -> Dict[str, Any]:
        return account_record(self._by_key()[key], self._realm.started_at)

    def __iter__(self) -> Iterator[Key]:
        return iter(list(self._by_key()))

    def __len__(self) -> int:
        return len(self._realm.accounts)


class UserFamily(Mapping[Key, Dict[str, Any]]):
    """The users of every account as the spec-driven family ``/billing-users/{billing_user_id}`` (read-only)."""

    def __init__(self, realm: Realm) -> None:
        self._realm = realm

    def _by_key(self) -> Dict[Key, User]:
        return {(u.billing_user_id,): u for account in self._realm.accounts.values() for u in account.users.values()}

    def __getitem__(self, key: Key) -> Dict[str, Any]:
        return user_record(self._by_key()[key], self._realm.started_at)

    def __iter__(self) -> Iterator[Key]:
        return iter(list(self._by_key()))

    def __len__(self) -> int:
        return len(self._by_key())


def _optional_text(value: Any) -> Optional[str]:
    if not isinstance(value, str):
        return None
    return js_trim(value) or None


def _nullable_text(value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise HttpError(422, "VALIDATION.INVALID_INPUT", "value must be a string or null")
    return js_trim(value) or None


def _mask(value: str) -> str:
    return "*" * max(0, len(value) - 4) + value[-4:]


class People:
    """The handlers of the billing-accounts and billing-users operations (by operationId)."""

    def __init__(self, realm: Realm, accounts: Accounts, build: Callable[[Any, Mapping[str, Any]], JsonValue]) -> None:
        self.realm = realm
        self.accounts = accounts
        self._build = build

    def handlers(self) -> Dict[str, Callable[[EmulatorOperation, Dict[str, str], Dict[str, Any]], Answer]]:
        """``operationId -> handler(op, path_params, body)`` for the operations that change accounts or users."""
        return {
            "updateBillingAccount": self._update_account,
            "updateBillingAccountBillingDetails": self._update_details,
            "getBillingAccountSeatSummary": self._seat_summary,
            "createBillingUser": self._create_user,
            "updateBillingUser": self._update_user,
            "disableBillingUser": self._disable_user,
            "restoreBillingUser": self._restore_user,
            "getBillingUserSummary": self._user_summary,
        }

    # ----------------------------------------------------------------- lookups (404 like the server)

    def account(self, billing_account_id: str) -> Account:
        """The account of a path, or 404 ``NOT_FOUND`` "billing account not found"."""
        account = self.accounts.find_account_by_id(billing_account_id)
        if account is None:
            raise HttpError(404, "NOT_FOUND", "billing account not found")
        return account

    def user(self, billing_user_id: str) -> User:
        """The user of a path, or 404 ``NOT_FOUND`` "billing user not found"."""
        user = self.accounts.find_user_by_id(billing_user_id)
        if user is None:
            raise HttpError(404, "NOT_FOUND", "billing user not found")
        return user

    # ----------------------------------------------------------------- accounts

    def _update_account(self, op: EmulatorOperation, params: Dict[str, str], body: Dict[str, Any]) -> Answer:
        if "seat_limit" not in body:
            raise HttpError(422, "VALIDATION.INVALID_INPUT", "seat_limit is required")
        limit = body["seat_limit"]
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise HttpError(422, "VALIDATION.INVALID_INPUT", "seat_limit must be a non-negative integer or null")
        account = self.account(params["billing_account_id"])
        account.seat_limit = limit
        account.seat_limit_source = "ops.manual"
        account.seat_limit_updated_at = self.realm.now()
        return op["status"], self._build(op["data"], account_record(account, self.realm.started_at)), None

    def _update_details(self, op: EmulatorOperation, params: Dict[str, str], body: Dict[str, Any]) -> Answer:
        account = self.account(params["billing_account_id"])
        patch: Dict[str, Any] = {}
        for name in DETAIL_FIELDS:
            if name not in body:
                continue
            value = body[name]
            if name in ("billing_email", "legal_name"):
                value = _nullable_text(value)
            elif name == "metadata":
                value = dict(value) if isinstance(value, dict) else {}
            patch[name] = value
        if not patch:
            raise HttpError(422, "VALIDATION.INVALID_INPUT", "no billing details updates provided")
        now = iso_ms(self.realm.now())
        details = account.billing_details or {"created_at": now, "metadata": {}}
        details.update(patch)
        details["updated_at"] = now
        details["last_updated_by"] = "ops"
        account.billing_details = details
        return op["status"], self._build(op["data"], self._masked_details(account)), None

    def _masked_details(self, account: Account) -> Dict[str, Any]:
        details = dict(account.billing_details or {})
        tax_ids = details.get("tax_ids")
        if isinstance(tax_ids, list):
            details["tax_ids"] = [
                {
                    "type": item.get("type"),
                    "value_masked": _mask(str(item.get("value", ""))),
                    "country_code": item.get("country_code"),
                    "status": item.get("status"),
                }
                for item in tax_ids
                if isinstance(item, dict) and item.get("type") and item.get("value")
            ]
        details["billing_account_id"] = account.billing_account_id
        details.setdefault("source_updated_at", None)
        return details

    def _seat_summary(self, op: EmulatorOperation, params: Dict[str, str], body: Dict[str, Any]) -> Answer:
        return (
            op["status"],
            self._build(op["data"], self.seat_summary(self.account(params["billing_account_id"]))),
            None,
        )

    def seat_summary(self, account: Account) -> Dict[str, Any]:
        """Seat counts of an account, as the server computes them."""
        counts = {status: 0 for status in USER_STATUSES}
        for user in account.users.values():
            counts[user.status] = counts.get(user.status, 0) + 1
        limit = account.seat_limit
        active = counts["active"]
        return {
            "billing_account_id": account.billing_account_id,
            "seat_limit": limit,
            "seat_limit_source": account.seat_limit_source,
            "seat_limit_updated_at": _iso(account.seat_limit_updated_at),
            "active_user_count": active,
            "disabled_user_count": counts["disabled"],
            "deleted_user_count": counts["deleted"],
            "available_seats": None if limit is None else max(limit - active, 0),
            "over_limit": limit is not None and active > limit,
        }

    # ----------------------------------------------------------------- users

    def _apply_user_fields(self, user: User, body: Mapping[str, Any]) -> None:
        metadata = dict(user.metadata)
        if isinstance(body.get("metadata"), dict):
            metadata.update(body["metadata"])
        for name in ("display_name", "email"):
            if name in body:
                value = _nullable_text(body[name])
                if value:
                    metadata[name] = value
                else:
                    metadata.pop(name, None)
        if metadata != user.metadata:
            user.metadata = metadata
            user.updated_at = self.realm.now()

    def _set_status(self, user: User, status: str) -> None:
        if user.status != status:
            user.status = status
            user.updated_at = self.realm.now()

    def _user_answer(self, op: EmulatorOperation, user: User) -> Answer:
        return op["status"], self._build(op["data"], user_record(user, self.realm.started_at)), None

    def _create_user(self, op: EmulatorOperation, params: Dict[str, str], body: Dict[str, Any]) -> Answer:
        user_id = js_trim(body["user_id"]) if isinstance(body.get("user_id"), str) else ""
        if not user_id:
            raise HttpError(422, "VALIDATION.INVALID_INPUT", "user_id is required")
        account = self.account(params["billing_account_id"])
        # The server provisions with reactivateExisting: an existing user comes back (active again).
        user = self.accounts.ensure_user(account, user_id)
        self._apply_user_fields(user, body)
        self._set_status(user, "active")
        return self._user_answer(op, user)

    def _update_user(self, op: EmulatorOperation, params: Dict[str, str], body: Dict[str, Any]) -> Answer:
        user = self.user(params["billing_user_id"])
        if "status" in body and body["status"] not in USER_STATUSES:
            raise HttpError(422, "VALIDATION.INVALID_INPUT", "status is invalid")
        self._apply_user_fields(user, body)
        if "status" in body:
            self._set_status(user, str(body["status"]))
        return self._user_answer(op, user)

    def _disable_user(self, op: EmulatorOperation, params: Dict[str, str], body: Dict[str, Any]) -> Answer:
        user = self.user(params["billing_user_id"])
        self._set_status(user, "disabled")
        return self._user_answer(op, user)

    def _restore_user(self, op: EmulatorOperation, params: Dict[str, str], body: Dict[str, Any]) -> Answer:
        user = self.user(params["billing_user_id"])
        self._set_status(user, "active")
        return self._user_answer(op, user)

    def _user_summary(self, op: EmulatorOperation, params: Dict[str, str], body: Dict[str, Any]) -> Answer:
        user = self.user(params["billing_user_id"])
        record = user_record(user, self.realm.started_at)
        wallet = {
            "billing_user_id": user.billing_user_id,
            "billing_account_id": user.account.billing_account_id,
            "as_of": iso_ms(self.realm.now()),
        }
        return op["status"], self._build(op["data"], {"user": record, "wallet": wallet}), None
