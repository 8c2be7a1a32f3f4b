"""The emulator's in-memory records: accounts and users, wallets, features, prices, leases, call context."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Optional, Set

from ._errors import HttpError

Hint = Dict[str, Any]


@dataclass
class Grant:
    """One funding grant of a wallet (the server's ``ledger_grants`` row, as its balance view reads it).

    ``kind`` is ``grant`` (a granted balance), ``cash`` (the wallet-cash anchor mirroring ledger top-ups) or
    ``fallback`` (the billing period's overage bucket, which goes negative when usage outruns the funds).
    """

    grant_id: str
    kind: str
    program_code: Optional[str]
    name: Optional[str]
    origin: str
    priority: int
    amount: int = 0
    posted_consumed: int = 0
    pending_reserved: int = 0
    window_start: Optional[datetime] = None
    window_end: Optional[datetime] = None
    metadata: Dict[str, Any] = field(default_factory=dict)
    created_at: Optional[datetime] = None

    @property
    def remaining(self) -> int:
        """Amount minus what was posted or is pending (negative for an overdrawn fallback grant)."""
        return self.amount - self.posted_consumed - self.pending_reserved

    @property
    def available(self) -> int:
        """What is left to spend (never below zero)."""
        return max(0, self.remaining)


@dataclass
class Wallet:
    """An account's wallet: the signed ledger balance, the grants that fund usage, and applied entry keys."""

    ledger_balance: int = 0
    grants: List[Grant] = field(default_factory=list)
    entry_keys: Set[str] = field(default_factory=set)
    entries: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def available(self) -> int:
        """The grant balance authorize checks (sum of every grant's available amount)."""
        return sum(grant.available for grant in self.grants)


@dataclass
class Account:
    """A billing account: the one record the gate, the wallet and the billing-accounts routes all use."""

    billing_account_id: str
    principal_id: str
    users: Dict[str, User] = field(default_factory=dict)
    wallet: Wallet = field(default_factory=lambda: Wallet())
    prepaid: Optional[bool] = None
    created_at: Optional[datetime] = None
    seat_limit: Optional[int] = None
    seat_limit_source: Optional[str] = None
    seat_limit_updated_at: Optional[datetime] = None
    metadata: Dict[str, Any] = field(default_factory=dict)
    billing_details: Optional[Dict[str, Any]] = None


@dataclass
class User:
    """A billing user inside its account (the gate's runtime user and the billing-users routes' resource)."""

    billing_user_id: str
    user_id: str
    account: Account
    status: str = "active"
    metadata: Dict[str, Any] = field(default_factory=dict)
    created_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None


@dataclass
class Feature:
    """A gate feature: its family and the activity meters it allows (prices belong to the meters)."""

    code: str
    family_code: str
    meters: List[str]

    @property
    def primary_meter(self) -> Optional[str]:
        """The meter charged when a commit names none: the one sharing the feature's code, else the first."""
        if self.code in self.meters:
            return self.code
        return self.meters[0] if self.meters else None


@dataclass
class Price:
    """One meter's price row (the server's ``meter_prices``): xusd per block of ``unit_quantity_minor`` units."""

    unit_price_xusd: int
    unit_cost_xusd: int
    effective_at: datetime
    unit_quantity_minor: int = 1
    rounding: str = "nearest"
    cost_unit_quantity_minor: int = 1
    cost_rounding: str = "nearest"
    unit_price_base_xusd: int = -1
    unit_price_dynamic_xusd: int = 0
    residual_mode: str = "postpaid"

    def __post_init__(self) -> None:
        if self.unit_price_base_xusd < 0:
            self.unit_price_base_xusd = self.unit_price_xusd


@dataclass
class Lease:
    lease_id: str
    token: str
    feature_code: str
    family_code: str
    user: User
    idempotency_key: str
    request_hash: str
    hints: List[Hint]
    window_start: datetime
    window_end: datetime
    quota_limit: int
    created_at: datetime
    expires_at: datetime
    estimated: Optional[int]
    state: str = "active"
    budget_id: Optional[str] = None


@dataclass
class CallContext:
    """Who is calling, as established by the auth guards of the request pipeline.

    Attributes:
        scheme: ``"service"`` (SVC-AUTH) or ``"bearer"`` (platform token).
        sub: idempotency-cache subject (empty for SVC-AUTH, the token ``sub`` for bearer).
        key_id: the service key id (SVC-AUTH only).
        user: the resolved runtime billing user (runtime routes; account routes when X-User-Id is sent).
        account: the resolved billing account (runtime and account-scoped routes, and bearer calls).
        idempotency_key: trimmed ``Idempotency-Key`` (write routes only).
        bootstrap_token: the DAT bootstrap token sent as the bearer (DAT session routes only).
    """

    scheme: str
    sub: str = ""
    key_id: Optional[str] = None
    user: Optional[User] = None
    account: Optional[Account] = None
    idempotency_key: str = ""
    bootstrap_token: Optional[str] = None

    def runtime_user(self) -> User:
        """The resolved billing user; the pipeline guarantees it on runtime routes."""
        if self.user is None:
            raise HttpError(401, "AUTH.UNAUTHORIZED", "missing context")
        return self.user


@dataclass
class Computation:
    """One priced meter line: amounts, blocks, and the snapshots the commit answer shows."""

    meter_code: str
    quantity: int
    unit_price: int
    unit_cost: int
    amount: int
    cost: int
    effective_at: datetime
    source: str
    blocks: int = 0
    cost_blocks: int = 0
    snapshot: Dict[str, Any] = field(default_factory=dict)
    cost_snapshot: Dict[str, Any] = field(default_factory=dict)
    price: Optional[Price] = None


@dataclass
class NormalizedItem:
    meter_code: str
    quantity: int
    unit: Optional[str] = None
    etag: Optional[str] = None
    client_price: Optional[int] = None
