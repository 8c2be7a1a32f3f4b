"""Wallets as the server keeps them: a signed ledger balance, funding grants, and the balance view over both.

Following ``wallet.service.ts``, ``grant-balance.service.ts`` and the gate's ``planFundingAllocations``:

- ``wallet.adjust`` / ``wallet.consume`` write a ledger entry (once per Idempotency-Key) and move the wallet-cash
  grant with it: a credit raises its amount, a debit its posted consumption.
- Priced usage is funded from the grants in order (soonest window end first, then higher priority, then grant id),
  each up to what it has left; the rest goes to the billing period's fallback grant, whose remaining amount goes
  negative. Allocations are pending (no settlement run posts them), so ``consumed_xusd`` stays as it was.
- ``wallet.get_balance`` answers ``balances`` = ledger balance + every grant's available amount and
  ``outstanding_balances`` = ledger balance + every grant's remaining amount. The wallet-cash grant is not on the
  ledger, so a top-up counts twice (a server quirk kept on purpose: 100 granted shows as 200).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Dict, List, Tuple

from .._errors import HttpError, invalid_input
from .._inputs import as_object, currency_amounts, month_window
from .._jsutil import JsonValue, iso_ms, js_trim
from .._state import Account, CallContext, Grant, Wallet
from .realm import Realm, locked

__all__ = ["Wallets"]

_INTEGER = re.compile(r"^-?\d+$")
FALLBACK_PRIORITY = -100000


def _minor_units(value: JsonValue, field: str) -> int:
    if isinstance(value, bool):
        raise invalid_input(f"{field} must be an integer string")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.match(js_trim(value)):
        return int(js_trim(value))
    raise invalid_input(f"{field} must be an integer string")


def _check_unit(value: JsonValue) -> None:
    if not (isinstance(value, str) and js_trim(value).lower() == "xusd"):
        raise invalid_input("unit must be xusd")


def _order(grant: Grant) -> Tuple[float, int, str]:
    end = grant.window_end.timestamp() if grant.window_end is not None else float("inf")
    return end, -grant.priority, grant.grant_id


class Wallets:
    """The ledger, the grants and the balance view of every account's wallet."""

    def __init__(self, realm: Realm) -> None:
        self.realm = realm

    # ----------------------------------------------------------------- emulator API

    @locked
    def set_granted_balance(self, account: Account, xusd: int) -> None:
        """Make the account prepaid with one grant of ``xusd`` (replacing its grants; the ledger is kept)."""
        account.prepaid = True
        account.wallet.grants = [
            Grant(
                grant_id=str(uuid.uuid4()),
                kind="grant",
                program_code=None,
                name=None,
                origin="adjustment",
                priority=100,
                amount=int(xusd),
                window_start=self.realm.now(),
                created_at=self.realm.now(),
            )
        ]

    @locked
    def prepaid(self, account: Account) -> bool:
        """Whether authorize enforces funds for this account (the emulator-wide billing mode unless set)."""
        if account.prepaid is not None:
            return account.prepaid
        return self.realm.billing_mode == "prepaid"

    # ----------------------------------------------------------------- funding (called by the gate)

    @locked
    def fund(self, account: Account, amount: int) -> List[Dict[str, Any]]:
        """Allocate ``amount`` xusd of usage to the grants, overflowing into the fallback grant; the allocations."""
        allocations: List[Dict[str, Any]] = []
        remaining = max(0, amount)
        if remaining == 0:
            return allocations
        wallet = account.wallet
        for grant in sorted((g for g in self.live(wallet) if g.kind != "fallback"), key=_order):
            if remaining <= 0:
                break
            use = min(grant.available, remaining)
            if use <= 0:
                continue
            grant.pending_reserved += use
            remaining -= use
            allocations.append({"grant_id": grant.grant_id, "allocated_xusd": use, "fallback": False})
        if remaining > 0:
            fallback = self._fallback(wallet)
            fallback.pending_reserved += remaining
            allocations.append({"grant_id": fallback.grant_id, "allocated_xusd": remaining, "fallback": True})
        return allocations

    @locked
    def available(self, account: Account) -> int:
        """The grant balance authorize and coverage use (grants live now, their available amounts summed)."""
        return sum(grant.available for grant in self.live(account.wallet))

    @locked
    def live(self, wallet: Wallet) -> List[Grant]:
        """The wallet's grants whose window contains the emulator's now."""
        now = self.realm.now()
        return [
            g
            for g in wallet.grants
            if (g.window_start is None or g.window_start <= now) and (g.window_end is None or g.window_end > now)
        ]

    def _fallback(self, wallet: Wallet) -> Grant:
        start, end = month_window(self.realm.now())
        for grant in wallet.grants:
            if grant.kind == "fallback" and grant.window_start == start and grant.window_end == end:
                return grant
        grant = Grant(
            grant_id=str(uuid.uuid4()),
            kind="fallback",
            program_code="fallback-cash",
            name="Fallback Cash Anchor",
            origin="fallback",
            priority=FALLBACK_PRIORITY,
            window_start=start,
            window_end=end,
            metadata={"system": "fallback", "period_end": iso_ms(end), "period_start": iso_ms(start)},
            created_at=self.realm.now(),
        )
        wallet.grants.append(grant)
        return grant

    def _cash(self, wallet: Wallet) -> Grant:
        for grant in wallet.grants:
            if grant.kind == "cash":
                return grant
        grant = Grant(
            grant_id=str(uuid.uuid4()),
            kind="cash",
            program_code="wallet-cash",
            name="Wallet Cash",
            origin="cash",
            priority=0,
            metadata={"system": "wallet-cash"},
            created_at=self.realm.now(),
        )
        wallet.grants.append(grant)
        return grant

    # ----------------------------------------------------------------- the wallet routes

    def _ledger_delta(
        self, account: Account, key: str, delta: int, non_negative: bool, reason: str, source_ref: Any
    ) -> Tuple[int, bool]:
        wallet = account.wallet
        if key in wallet.entry_keys:
            return wallet.ledger_balance, True
        after = wallet.ledger_balance + delta
        if non_negative and after < 0:
            raise HttpError(402, "SERVER.CONFIG", "insufficient balance")
        wallet.entry_keys.add(key)
        wallet.ledger_balance = after
        wallet.entries.append(
            {
                "entry_id": str(uuid.uuid4()),
                "amount_xusd": delta,
                "reason": reason,
                "source_ref": source_ref if isinstance(source_ref, str) else None,
                "created_at": iso_ms(self.realm.now()),
            }
        )
        cash = self._cash(wallet)
        if delta > 0:
            cash.amount += delta
        else:
            cash.posted_consumed += -delta
        cash.amount = max(cash.amount, cash.posted_consumed)
        return after, False

    @locked
    def adjust(self, ctx: CallContext, body: JsonValue) -> Dict[str, Any]:
        """``POST /mgt/v1/wallet/adjustments``: a signed ledger entry that may take the balance below zero."""
        user = ctx.runtime_user()
        data = as_object(body)
        delta = _minor_units(data.get("delta"), "delta")
        if delta == 0:
            raise invalid_input("delta must be non-zero")
        _check_unit(data.get("unit"))
        reason = "consumption" if data.get("kind") == "debit" else "adjustment"
        origin = data.get("origin")
        source_ref = (origin.get("ref") if isinstance(origin, dict) else None) or data.get("request_id")
        balance, _replay = self._ledger_delta(
            user.account, ctx.idempotency_key, delta, non_negative=False, reason=reason, source_ref=source_ref
        )
        return {
            "billing_account_id": user.account.billing_account_id,
            "billing_user_id": user.billing_user_id,
            "unit": "xusd",
            "balance": str(balance),
        }

    @locked
    def consume(self, ctx: CallContext, body: JsonValue) -> Dict[str, Any]:
        """``POST /mgt/v1/wallet/consume``: a debit that must leave the ledger non-negative (else 402)."""
        user = ctx.runtime_user()
        data = as_object(body)
        amount = _minor_units(data.get("amount"), "amount")
        if amount <= 0:
            raise invalid_input("amount must be positive")
        _check_unit(data.get("unit"))
        balance, replay = self._ledger_delta(
            user.account, ctx.idempotency_key, -amount, non_negative=True, reason="consumption",
            source_ref=data.get("source_ref"),
        )  # fmt: skip
        return {
            "billing_account_id": user.account.billing_account_id,
            "billing_user_id": user.billing_user_id,
            "unit": "xusd",
            "balance": str(balance),
            "replay": replay,
        }

    @locked
    def balance(self, ctx: CallContext) -> Dict[str, Any]:
        """``GET /mgt/v1/wallet/balance`` and ``GET /api/v1/wallet/balance``."""
        user = ctx.runtime_user()
        wallet = user.account.wallet
        now = self.realm.now()
        total = outstanding = wallet.ledger_balance
        grants: List[Dict[str, Any]] = []
        for grant in sorted(self.live(wallet), key=_order):
            total += grant.available
            outstanding += grant.remaining
            grants.append(self._grant_view(grant, now))
        return {
            "billing_account_id": user.account.billing_account_id,
            "billing_user_id": user.billing_user_id,
            "balances": currency_amounts(max(0, total)),
            "outstanding_balances": currency_amounts(outstanding),
            "conversion": {"as_of": iso_ms(now), "usd_per_xusd": "0.000001"},
            "grants": grants,
        }

    @staticmethod
    def _grant_view(grant: Grant, now: datetime) -> Dict[str, Any]:
        view: Dict[str, Any] = {"grant_id": grant.grant_id}
        if grant.program_code is not None:
            view["grant_program_code"] = grant.program_code
        if grant.name is not None:
            view["name"] = grant.name
        view.update({"origin": grant.origin, "on_ledger": False, "priority": grant.priority})
        expired = grant.window_end is not None and grant.window_end <= now
        view["status"] = "expired" if expired else "active"
        if grant.window_start is not None:
            view["window_start"] = iso_ms(grant.window_start)
        if grant.window_end is not None:
            view["window_end"] = iso_ms(grant.window_end)
        view["issued"] = currency_amounts(max(0, grant.amount))
        view["remaining"] = currency_amounts(grant.remaining)
        view["consumed_xusd"] = str(grant.posted_consumed)
        view["metadata"] = dict(grant.metadata)
        return view
