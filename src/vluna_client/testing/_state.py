"""The emulator's in-memory records: accounts and users, wallets, features, prices, leases, call context."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Optional

from ._errors import HttpError

Hint = Dict[str, Any]


@dataclass
class Wallet:
    grant_id: str
    issued: int
    created_at: datetime
    consumed: int = 0
    overage: int = 0

    @property
    def available(self) -> int:
        return max(0, self.issued - self.consumed)

    def debit(self, amount: int) -> None:
        taken = min(self.available, amount)
        self.consumed += taken
        self.overage += amount - taken


@dataclass
class Account:
    billing_account_id: str
    principal_id: str
    users: Dict[str, User] = field(default_factory=dict)
    wallet: Optional[Wallet] = None


@dataclass
class User:
    billing_user_id: str
    user_id: str
    account: Account


@dataclass
class Feature:
    code: str
    family_code: str
    meters: List[str]


@dataclass
class Price:
    unit_price_xusd: int
    unit_cost_xusd: int
    effective_at: datetime


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
    """

    scheme: str
    sub: str = ""
    key_id: Optional[str] = None
    user: Optional[User] = None
    account: Optional[Account] = None
    idempotency_key: str = ""

    def runtime_user(self) -> User:
        """The resolved billing user; the pipeline guarantees it on runtime routes."""
        if self.user is None:
            raise HttpError(401, "AUTH.UNAUTHORIZED", "missing context")
        return self.user


@dataclass
class Computation:
    meter_code: str
    quantity: int
    unit_price: int
    unit_cost: int
    amount: int
    cost: int
    effective_at: datetime
    source: str


@dataclass
class NormalizedItem:
    meter_code: str
    quantity: int
    unit: Optional[str] = None
    etag: Optional[str] = None
    client_price: Optional[int] = None
