"""The one state object every resource module works on, and the lock discipline around it."""

from __future__ import annotations

import functools
import secrets
import threading
from datetime import datetime
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar, cast

from .._records import Ledger
from .._state import Account, Feature, Lease, Price

__all__ = ["Realm", "locked"]

F = TypeVar("F", bound=Callable[..., Any])


class Realm:
    """Everything the emulator knows about its one realm; resource modules read and change it.

    Attributes:
        lock: re-entrant lock guarding every field; public methods of the resource modules take it themselves
            (see :func:`locked`), so callers never need to.
        realm_id: the realm's id.
        ledger: where processed work is recorded for tests.
        now: the emulator's clock.
    """

    def __init__(
        self,
        *,
        realm_id: str,
        price_per_unit_xusd: Optional[int],
        lease_ttl_seconds: float,
        ledger: Ledger,
        billing_mode: str = "postpaid",
        clock: Callable[[], datetime],
    ) -> None:
        self.lock = threading.RLock()
        self.realm_id = realm_id
        self.price_per_unit_xusd = price_per_unit_xusd
        self.lease_ttl_seconds = lease_ttl_seconds
        self.billing_mode = billing_mode
        self.ledger = ledger
        self.now = clock
        self.started_at = clock()
        self.token_secret = secrets.token_bytes(32)
        # accounts and users (by principal id)
        self.accounts: Dict[str, Account] = {}
        # features, prices and the gate's windows
        self.features: Dict[str, Feature] = {}
        self.auto_register = True
        self.prices: Dict[str, Optional[Price]] = {}
        # the server's residual buckets: (billing user, meter, price identity) -> (block size, rounding, rest)
        self.residuals: Dict[Tuple[str, str, str], Tuple[int, str, int]] = {}
        self.rate_limits: Dict[str, Tuple[int, int]] = {}
        self.rate_counters: Dict[Tuple[str, str, int], int] = {}
        self.quotas: Dict[str, int] = {}
        self.quota_counters: Dict[Tuple[str, str, str], int] = {}
        # leases and the gate's database idempotency envelopes
        self.leases: Dict[str, Lease] = {}
        self.leases_by_user_key: Dict[Tuple[str, str], str] = {}
        self.envelopes: Dict[Tuple[str, ...], Tuple[str, Dict[str, Any]]] = {}


def locked(method: F) -> F:
    """Run a resource method with the realm lock held (the object must have a ``realm`` attribute).

    The lock is re-entrant, so a locked method may call others; each request thus sees a consistent realm.
    """

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self.realm.lock:
            return method(self, *args, **kwargs)

    return cast(F, wrapper)
