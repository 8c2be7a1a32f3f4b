"""The emulator's business model, one module per resource over one :class:`~.realm.Realm` state object.

Modules: ``accounts`` (billing accounts, users, wallets), ``features``, ``pricing``, ``limits`` (quota and rate
windows, the ``limits``/``meters`` views), ``tokens`` (platform bearer tokens), ``leases`` (authorize, cancel),
``usage`` (commit, batch, ingest), ``catalog`` (public products), ``idempotency`` (the HTTP replay cache) and
``resources`` (every other operation, driven by the shipped spec data). Every public method takes the realm lock
itself. The gate modules follow the real server closely (validation order, messages, hint shapes, database
idempotency scopes) with an in-memory model: one realm, one default policy with an unlimited monthly quota window,
and flat per-meter prices.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping, Optional

from .._jsutil import JsonValue
from .._records import Ledger
from .._schema import Schemas
from .._spec_data import load
from .accounts import Accounts
from .budgets import Budgets
from .catalog import Catalog
from .events import Events
from .features import Features, FeatureSpec, PriceSpec, split_spec
from .idempotency import IdempotencyCache
from .leases import Leases
from .limits import Limits
from .meter_catalog import MeterCatalog
from .ops_views import OpsViews
from .pricing import Pricing
from .realm import Realm
from .resources import Resources
from .rules import PRODUCTS
from .tokens import Tokens
from .usage import Usage
from .wallets import Wallets

__all__ = ["Engine", "FeatureSpec", "PriceSpec"]


class Engine:
    """All resource modules of one realm, wired together.

    Attributes:
        realm: the shared state (and its lock).
    """

    def __init__(
        self,
        *,
        realm_id: str,
        price_per_unit_xusd: Optional[int],
        lease_ttl_seconds: float,
        billing_mode: str = "postpaid",
        features: Optional[FeatureSpec],
        ledger: Ledger,
        clock: Callable[[], datetime],
    ) -> None:
        self.realm = Realm(
            realm_id=realm_id,
            price_per_unit_xusd=price_per_unit_xusd,
            lease_ttl_seconds=lease_ttl_seconds,
            billing_mode=billing_mode,
            ledger=ledger,
            clock=clock,
        )
        self.accounts = Accounts(self.realm)
        self.wallets = Wallets(self.realm)
        self.features = Features(self.realm)
        self.pricing = Pricing(self.realm)
        self.limits = Limits(self.realm, self.features, self.pricing, self.wallets)
        self.tokens = Tokens(self.realm, self.accounts)
        self.idempotency = IdempotencyCache(self.realm)
        self.schemas = Schemas(load()["schemas"], clock)
        self.resources = Resources(self.realm, self.accounts, self.schemas)
        self.catalog = Catalog(self.realm, self.resources.families.setdefault(PRODUCTS, {}))
        self.budgets = Budgets(self.realm, self.resources.families)
        self.limits.budgets = self.budgets
        self.leases = Leases(self.realm, self.features, self.pricing, self.limits, self.wallets, self.budgets)
        self.events = Events(self.realm, self.resources.families)
        self.ops = OpsViews(self.realm, self.resources.families, self.accounts)
        self.usage = Usage(self.realm, self.features, self.pricing, self.limits, self.wallets, self.budgets, self.ops)
        self.meter_catalog = MeterCatalog(self.realm, self.features, self.pricing)
        if features is not None:
            self.set_features(features)

    def after_spec_write(self, operation_id: str, body: Mapping[str, Any], answer: JsonValue) -> None:
        """Let the gate's model follow a spec-driven write it depends on (features, meters and their prices)."""
        self.meter_catalog.apply(operation_id, body, answer)

    def set_features(self, features: FeatureSpec) -> None:
        """Replace the features (and price the meters a spec prices); auto-registration goes off."""
        with self.realm.lock:
            meters, prices = split_spec(features)
            self.features.set_features(meters)
            for meter, fields in prices.items():
                self.pricing.set_meter_price(meter, fields)
