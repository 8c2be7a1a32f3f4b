"""The emulator's business state: accounts, features, leases, commits, wallets, tokens and catalog.

Every public method here runs with the engine lock held by the caller (the request pipeline serialises requests
through one lock), so the code below reads like a single-threaded program. It follows the gate service of the real
server closely (validation order, messages, hint shapes, database idempotency scopes) but keeps only an in-memory
model: one realm, one default policy with an unlimited monthly quota window, and flat per-meter prices.
"""

from __future__ import annotations

import math
import re
import secrets
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from ._errors import HttpError, UnexpectedError, invalid_input
from ._inputs import (
    as_object,
    base36,
    currency_amounts,
    feature_code_of,
    month_window,
    normalize_identifier,
    normalize_labels,
    parse_lease_token,
    parse_optional_non_negative_int,
    parse_positive_int,
    trimmed_lease_token,
    uuid_key,
)
from ._jsutil import (
    JsonValue,
    iso_ms,
    js_json,
    js_number,
    js_string,
    js_trim,
    js_truthy,
    parse_js_date,
    sha256_hex,
    string_list,
)
from ._jwt import TokenError, decode_hs256, encode_hs256
from ._records import CancelRecord, CommitLineRecord, CommitRecord, LeaseRecord, Ledger
from ._state import (
    Account,
    CallContext,
    Computation,
    Feature,
    Lease,
    NormalizedItem,
    Price,
    User,
    Wallet,
)

__all__ = ["CallContext", "Engine", "FeatureSpec"]

Hint = Dict[str, Any]
FeatureSpec = Union[Iterable[str], Mapping[str, Iterable[str]]]
"""Explicit features: codes (each with a primary meter of the same code) or a mapping code -> meter codes."""

UNLIMITED = -1
FALLBACK_FAMILY = "auto.registry"
LATE_COMMIT_GRACE_MS = 60_000
TOKEN_AUDIENCE = "oss.vluna.ai"  # noqa: S105 - a JWT audience, not a secret
PRODUCT_PAGE_MAX = 200
ISSUER_BASE = "https://api.vluna.ai"

_BUDGET_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TOKEN_KID = re.compile(r"^(plt|apt):v(\d+):realm:(.+)$")


class Engine:
    """In-memory model of one Vluna realm (see the module docstring)."""

    def __init__(
        self,
        *,
        realm_id: str,
        price_per_unit_xusd: int,
        lease_ttl_seconds: float,
        features: Optional[FeatureSpec],
        ledger: Ledger,
        clock: Callable[[], datetime],
    ) -> None:
        self.lock = threading.RLock()
        self.realm_id = realm_id
        self.price_per_unit_xusd = price_per_unit_xusd
        self.lease_ttl_seconds = lease_ttl_seconds
        self.ledger = ledger
        self.now = clock
        self.token_secret = secrets.token_bytes(32)
        self.started_at = clock()
        self.accounts: Dict[str, Account] = {}
        self.features: Dict[str, Feature] = {}
        self.auto_register = True
        self.prices: Dict[str, Optional[Price]] = {}
        self.leases: Dict[str, Lease] = {}
        self.leases_by_user_key: Dict[Tuple[str, str], str] = {}
        self.envelopes: Dict[Tuple[str, ...], Tuple[str, Dict[str, Any]]] = {}
        self.rate_limits: Dict[str, Tuple[int, int]] = {}
        self.rate_counters: Dict[Tuple[str, str, int], int] = {}
        self.quotas: Dict[str, int] = {}
        self.quota_counters: Dict[Tuple[str, str, str], int] = {}
        self.products = self._seed_products()
        if features is not None:
            self.set_features(features)

    # ----------------------------------------------------------------- configuration

    def set_features(self, features: FeatureSpec, family_code: str = "default") -> None:
        """Replace the feature list and turn auto-registration off."""
        self.features = {}
        self.auto_register = False
        if isinstance(features, Mapping):
            for code, meters in features.items():
                normalized = normalize_identifier(code, "feature_code")
                meter_codes = [normalize_identifier(m, "meter_code") for m in meters]
                self.features[normalized] = Feature(normalized, family_code, meter_codes)
        else:
            for code in features:
                normalized = normalize_identifier(code, "feature_code")
                self.features[normalized] = Feature(normalized, family_code, [normalized])

    def set_price(self, meter_code: str, unit_price_xusd: Optional[int], unit_cost_xusd: int = 0) -> None:
        """Price a meter per unit (``None`` makes it unpriced: commits then get ``pricing.not_configured``)."""
        code = normalize_identifier(meter_code, "meter_code")
        if unit_price_xusd is None:
            self.prices[code] = None
        else:
            self.prices[code] = Price(int(unit_price_xusd), int(unit_cost_xusd), self.now())

    def price_of(self, meter_code: str) -> Optional[Price]:
        """The price of a meter (the emulator-wide default unless configured)."""
        if meter_code in self.prices:
            return self.prices[meter_code]
        return Price(self.price_per_unit_xusd, 0, self.started_at)

    def set_wallet_balance(self, principal_id: str, xusd: int) -> None:
        """Give the principal's account a prepaid grant of ``xusd`` (replacing any previous one)."""
        account = self.ensure_account(principal_id)
        account.wallet = Wallet(grant_id=str(uuid.uuid4()), issued=int(xusd), created_at=self.now())

    def ensure_account(self, principal_id: str) -> Account:
        """Find or auto-create the billing account of a principal."""
        account = self.accounts.get(principal_id)
        if account is None:
            account = Account(billing_account_id=str(uuid.uuid4()), principal_id=principal_id)
            self.accounts[principal_id] = account
        return account

    def ensure_user(self, account: Account, user_id: str) -> User:
        """Find or auto-create a billing user inside an account."""
        user = account.users.get(user_id)
        if user is None:
            user = User(billing_user_id=str(uuid.uuid4()), user_id=user_id, account=account)
            account.users[user_id] = user
        return user

    def lease_snapshots(self) -> List[LeaseRecord]:
        """Frozen copies of every lease (for :meth:`Ledger.leases`)."""
        with self.lock:
            return [
                LeaseRecord(
                    lease_id=lease.lease_id,
                    lease_token=lease.token,
                    feature_code=lease.feature_code,
                    feature_family_code=lease.family_code,
                    state=lease.state,
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
                for lease in self.leases.values()
            ]

    # ----------------------------------------------------------------- features and pricing

    def _load_feature(self, code: str, family_input: JsonValue = None) -> Feature:
        feature = self.features.get(code)
        if feature is not None:
            return feature
        if not self.auto_register:
            raise HttpError(422, "RESOURCE.NOT_FOUND", "feature not found")
        family = js_trim(family_input) if isinstance(family_input, str) else ""
        feature = Feature(code=code, family_code=family or FALLBACK_FAMILY, meters=[code])
        self.features[code] = feature
        return feature

    def _is_zero_cost(self, feature: Feature) -> bool:
        if not feature.meters:
            return False
        for meter in feature.meters:
            price = self.price_of(meter)
            if price is not None and (price.unit_price_xusd != 0 or price.unit_cost_xusd != 0):
                return False
        return True

    def _compute(self, feature_code: str, item: NormalizedItem, price: Optional[Price]) -> Computation:
        if price is None:
            return Computation(item.meter_code, item.quantity, 0, 0, 0, 0, self.now(), "missing")
        return Computation(
            meter_code=item.meter_code,
            quantity=item.quantity,
            unit_price=price.unit_price_xusd,
            unit_cost=price.unit_cost_xusd,
            amount=item.quantity * price.unit_price_xusd,
            cost=item.quantity * price.unit_cost_xusd,
            effective_at=price.effective_at,
            source="live",
        )

    def _snapshot(self, feature_code: str, comp: Computation, kind: str, computed_at: str) -> Dict[str, Any]:
        unit_price = comp.unit_price if kind == "revenue" else comp.unit_cost
        fingerprint = sha256_hex(
            js_json(
                {
                    "schema": "gate/pricing:v2" if comp.source == "live" else "gate/pricing-missing:v1",
                    "pricing_kind": kind,
                    "feature_code": feature_code,
                    "meter_code": comp.meter_code,
                    "unit": "unit",
                    "quantity_minor": str(comp.quantity),
                    "unit_price_xusd": str(unit_price),
                    "unit_quantity_minor": "1",
                    "rounding": "floor",
                    "effective_at": iso_ms(comp.effective_at),
                    "computed_at": computed_at,
                }
            )
        )
        return {
            "computed_at": computed_at,
            "unit": "unit",
            "fingerprint": fingerprint,
            "unit_price_xusd": str(unit_price),
            "unit_quantity_minor": "1",
            "rounding": "floor",
            "effective_at": iso_ms(comp.effective_at),
            "provenance": {
                "source": comp.source,
                "inputs": {"feature_code": feature_code, "meter_code": comp.meter_code},
            },
        }

    def _price_identity(self, feature_code: str, meter_code: str, price: Price) -> str:
        return sha256_hex(
            js_json(
                {
                    "schema": "gate/price-identity:v2",
                    "kind": "revenue",
                    "feature_code": feature_code,
                    "meterCode": meter_code,
                    "unit_price_xusd": str(price.unit_price_xusd),
                    "unit_quantity_minor": "1",
                    "rounding": "floor",
                    "effective_at": iso_ms(price.effective_at),
                }
            )
        )

    def _normalize_items(self, raw: JsonValue, label: str) -> List[NormalizedItem]:
        items: List[NormalizedItem] = []
        for entry in raw if isinstance(raw, list) else []:
            entry_obj = as_object(entry)
            meter_raw = entry_obj.get("meter_code")
            meter_text = js_trim(meter_raw) if isinstance(meter_raw, str) else ""
            quantity = parse_positive_int(entry_obj.get("quantity_minor"), f"{label}[].quantity_minor")
            if not meter_text:
                raise invalid_input(f"{label}[].meter_code is required")
            try:
                meter_code = normalize_identifier(meter_text, "meter_code")
            except ValueError as exc:
                raise invalid_input(str(exc)) from exc
            item = NormalizedItem(meter_code=meter_code, quantity=quantity)
            unit = entry_obj.get("unit")
            if isinstance(unit, str) and js_trim(unit):
                item.unit = js_trim(unit)
            etag = entry_obj.get("client_pricing_etag")
            if isinstance(etag, str):
                item.etag = js_trim(etag)
            item.client_price = parse_optional_non_negative_int(
                entry_obj.get("client_unit_price_xusd"), f"{label}[].client_unit_price_xusd"
            )
            items.append(item)
        return items

    @staticmethod
    def _items_for_hash(items: List[NormalizedItem]) -> List[Dict[str, Any]]:
        return [
            {
                "meter_code": item.meter_code,
                "quantity_minor": item.quantity,
                "client_pricing_etag": item.etag,
                "client_unit_price_xusd": item.client_price,
            }
            for item in items
        ]

    # ----------------------------------------------------------------- quota and rate windows

    def set_rate_limit(self, feature_code: str, limit: Optional[int], window_seconds: int) -> None:
        """Limit authorizations per user and feature within fixed windows (``None`` removes the limit)."""
        code = normalize_identifier(feature_code, "feature_code")
        if limit is None:
            self.rate_limits.pop(code, None)
        else:
            if window_seconds <= 0:
                raise ValueError("window_seconds must be positive")
            self.rate_limits[code] = (int(limit), int(window_seconds))

    def set_quota(self, feature_code: str, limit_minor: Optional[int]) -> None:
        """Cap a feature's monthly quantity per user (``None`` restores the unlimited default)."""
        code = normalize_identifier(feature_code, "feature_code")
        if limit_minor is None:
            self.quotas.pop(code, None)
        else:
            self.quotas[code] = int(limit_minor)

    def _rate_window(self, code: str, now: datetime) -> Optional[Tuple[int, int, datetime, datetime]]:
        config = self.rate_limits.get(code)
        if config is None:
            return None
        limit, seconds = config
        epoch = int(now.timestamp())
        start_epoch = epoch - epoch % seconds
        start = datetime.fromtimestamp(start_epoch, tz=timezone.utc)
        return limit, start_epoch, start, start + timedelta(seconds=seconds)

    def _quota_used(self, user: User, code: str, window_start: datetime) -> int:
        return self.quota_counters.get((user.billing_user_id, code, iso_ms(window_start)), 0)

    def _quota_window_view(self, user: User, code: str, now: datetime) -> Dict[str, Any]:
        start, end = month_window(now)
        return {
            "subject_scope": "user",
            "window_start": iso_ms(start),
            "window_end": iso_ms(end),
            "limit_minor": str(self.quotas.get(code, UNLIMITED)),
            "used_minor": str(self._quota_used(user, code, start)),
        }

    def _rate_window_view(self, user: User, code: str, now: datetime) -> List[Dict[str, Any]]:
        window = self._rate_window(code, now)
        if window is None:
            return []
        limit, start_epoch, start, end = window
        used = self.rate_counters.get((user.billing_user_id, code, start_epoch), 0)
        return [
            {
                "subject_scope": "user",
                "window_start": iso_ms(start),
                "window_end": iso_ms(end),
                "limit_minor": str(limit),
                "used_minor": str(used),
            }
        ]

    # ----------------------------------------------------------------- tokens

    def issuer(self) -> str:
        """JWT issuer for this realm: the server's default public URL + ``/realms/<realm>``.

        A constant base (not the emulator's own URL) keeps tokens valid whatever port the emulator gets.
        """
        return f"{ISSUER_BASE}/realms/{self.realm_id}"

    def mint_token(
        self,
        user: User,
        *,
        ttl: int = 900,
        platform_scopes: Optional[List[str]] = None,
        traits: Optional[Dict[str, Any]] = None,
        nonce: Optional[str] = None,
        key_id: Optional[str] = None,
    ) -> Tuple[str, int, datetime]:
        """Mint a platform bearer token; returns ``(token, expires_in, expires_at)``."""
        scopes = platform_scopes if platform_scopes is not None else ["checkout", "portal"]
        issued_at = int(self.now().timestamp())
        expires = issued_at + ttl
        scope_text = "billing:read billing:write" if "checkout" in scopes else "billing:read"
        payload: Dict[str, Any] = {
            "scope": scope_text,
            "realm_id": self.realm_id,
            "billing_account_id": user.account.billing_account_id,
            "billing_user_id": user.billing_user_id,
            "billing_principal_id": user.account.principal_id,
            "business_user_id": user.user_id,
            "plt_scopes": scopes,
            "tu": "plt",
            "token_use": "platform",
            "tv": 1,
        }
        if traits:
            payload["plt_traits"] = traits
        if nonce:
            payload["nonce"] = nonce
        if key_id:
            payload["ib"] = key_id
        payload.update(
            {
                "iat": issued_at,
                "exp": expires,
                "aud": TOKEN_AUDIENCE,
                "iss": self.issuer(),
                "sub": user.user_id,
                "jti": str(uuid.uuid4()),
            }
        )
        header = {"alg": "HS256", "kid": f"plt:v1:realm:{self.realm_id}", "typ": "JWT"}
        token = encode_hs256(header, payload, self.token_secret)
        return token, ttl, datetime.fromtimestamp(expires, tz=timezone.utc)

    def verify_token(self, token: str, realm_header: str) -> User:
        """Verify a platform token for the request's realm and return its billing user.

        Raises:
            HttpError: 401 ``invalid_token`` or 403 ``realm_mismatch`` like the server's token guard.
        """
        invalid = HttpError(401, "AUTH.UNAUTHORIZED", "invalid_token")
        try:
            header, claims = decode_hs256(token, self.token_secret)
        except TokenError:
            raise invalid from None
        kid = header.get("kid")
        kid_match = _TOKEN_KID.match(kid) if isinstance(kid, str) else None
        if kid_match is None or kid_match.group(3) != self.realm_id:
            raise invalid
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        now = self.now().timestamp()
        expires = claims.get("exp")
        not_before = claims.get("nbf")
        if (
            claims.get("iss") != self.issuer()
            or TOKEN_AUDIENCE not in audiences
            or not isinstance(expires, (int, float))
            or expires <= now
            or (isinstance(not_before, (int, float)) and not_before > now)
        ):
            raise invalid
        token_use = claims.get("tu") or claims.get("token_use")
        if not isinstance(token_use, str) or token_use.lower() not in ("plt", "platform"):
            raise invalid
        claim_realm = js_trim(js_string(claims.get("realm_id") or ""))
        if claim_realm and claim_realm != realm_header:
            raise HttpError(403, "AUTH.INSUFFICIENT_SCOPE", "realm_mismatch")
        principal_id = js_trim(js_string(claims.get("billing_principal_id") or ""))
        user_id = js_trim(js_string(claims.get("business_user_id") or claims.get("sub") or ""))
        account = self.accounts.get(principal_id)
        user = account.users.get(user_id) if account else None
        if user is None or user.billing_user_id != claims.get("billing_user_id"):
            raise invalid
        return user

    def issue_token(self, ctx: CallContext, body: JsonValue) -> Dict[str, Any]:
        """``POST /mgt/v1/token/issue``."""
        data = as_object(body)
        principal_id = js_trim(js_string(data.get("principal_id"))) if js_truthy(data.get("principal_id")) else ""
        user_id = js_trim(js_string(data.get("user_id"))) if js_truthy(data.get("user_id")) else ""
        if not principal_id:
            raise HttpError(422, "VALIDATION.INVALID_INPUT", "missing_principal")
        if not user_id:
            raise HttpError(422, "VALIDATION.INVALID_INPUT", "missing_user_id")
        scopes = self._platform_scopes(data.get("scopes"))
        ttl_raw = data.get("session_ttl_sec")
        ttl_input = ttl_raw if isinstance(ttl_raw, (int, float)) and not isinstance(ttl_raw, bool) else 900
        ttl = 900 if not math.isfinite(ttl_input) or math.floor(ttl_input) <= 0 else math.floor(ttl_input)
        ttl = min(max(ttl, 60), 3600)
        traits = self._traits(data.get("traits"))
        nonce = data.get("nonce") if isinstance(data.get("nonce"), str) else None
        user = self.ensure_user(self.ensure_account(principal_id), user_id)
        token, expires_in, expires_at = self.mint_token(
            user, ttl=ttl, platform_scopes=scopes, traits=traits, nonce=nonce, key_id=ctx.key_id
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "expires_at": iso_ms(expires_at),
            "billing_account_id": user.account.billing_account_id,
            "billing_user_id": user.billing_user_id,
        }

    @staticmethod
    def _platform_scopes(value: JsonValue) -> List[str]:
        default = ["checkout", "portal"]
        if not isinstance(value, list):
            return default
        cleaned = [js_trim(js_string(item)) if js_truthy(item) else "" for item in value]
        cleaned = [item for item in cleaned if item]
        if not cleaned:
            return default
        kept: List[str] = []
        for item in cleaned:
            if item in ("checkout", "portal") and item not in kept:
                kept.append(item)
        return kept or default

    @staticmethod
    def _traits(value: JsonValue) -> Optional[Dict[str, Any]]:
        if isinstance(value, dict):
            pairs = list(value.items())[:20]
        elif isinstance(value, list):
            pairs = [(str(index), item) for index, item in enumerate(value)][:20]
        else:
            return None
        traits = {key: item for key, item in pairs if key}
        return traits or None

    # ----------------------------------------------------------------- authorize

    def authorize(self, ctx: CallContext, body: JsonValue) -> Tuple[Dict[str, Any], List[Hint]]:
        """``POST /mgt/v1/gate/authorize``."""
        user = ctx.runtime_user()
        data = as_object(body)
        code = feature_code_of(data.get("feature_code"))
        subject = user.user_id
        estimated = parse_optional_non_negative_int(data.get("estimated_quantity_minor"), "estimated_quantity_minor")
        labels = normalize_labels(data.get("labels"))
        request_hash = sha256_hex(
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
        feature = self._load_feature(code, data.get("feature_family_code"))
        now = self.now()
        wallet = user.account.wallet
        prepaid = wallet is not None
        available = wallet.available if wallet is not None else 0
        if prepaid and available <= 0 and not self._is_zero_cost(feature):
            raise HttpError(402, "SERVER.CONFIG", "grant balance exhausted")

        existing_id = self.leases_by_user_key.get((user.billing_user_id, ctx.idempotency_key))
        if existing_id is not None:
            existing = self.leases[existing_id]
            if existing.request_hash != request_hash:
                raise HttpError(409, "WRITE.INVALID_PAYLOAD", "idempotency conflict")
            replay_hints = list(existing.hints)
            if prepaid and available <= 0:
                replay_hints.append({"type": "funding.xusd_shortfall", "shortfall_xusd": 1})
            return self._authorize_data(existing, code), replay_hints

        window_start, window_end = month_window(now)
        quota_limit = self.quotas.get(code, UNLIMITED)
        if quota_limit != UNLIMITED and quota_limit - self._quota_used(user, code, window_start) <= 0:
            raise HttpError(402, "SERVER.CONFIG", "quota limit exhausted")

        hints: List[Hint] = []
        rate_commit = self._check_rate(user, code, now, hints)
        if js_truthy(data.get("budget_id")):
            # The emulator has no budgets; the server answers this for an unknown budget.
            raise HttpError(422, "RESOURCE.NOT_FOUND", "budget not found or inactive")
        if rate_commit is not None:
            self.rate_counters[rate_commit] = self.rate_counters.get(rate_commit, 0) + 1

        if estimated is not None and estimated > 0 and feature.meters:
            self._coverage_hints(feature, estimated, available, prepaid, hints)
        if not prepaid:
            # Funding and budget hints are muted outside prepaid billing, as on the server.
            hints = [h for h in hints if not str(h.get("type", "")).startswith(("funding.", "budget."))]

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
            expires_at=now + timedelta(seconds=self.lease_ttl_seconds),
            estimated=estimated,
        )
        self.leases[lease_id] = lease
        self.leases_by_user_key[(user.billing_user_id, ctx.idempotency_key)] = lease_id
        if prepaid and available <= 0:
            hints.append({"type": "funding.xusd_shortfall", "shortfall_xusd": 1})
        return self._authorize_data(lease, code), hints

    @staticmethod
    def _authorize_data(lease: Lease, code: str) -> Dict[str, Any]:
        return {
            "lease_token": lease.token,
            "lease_id": lease.lease_id,
            "feature_code": code,
            "feature_family_code": lease.family_code,
            "window_start": iso_ms(lease.window_start),
            "window_end": iso_ms(lease.window_end),
        }

    def _check_rate(self, user: User, code: str, now: datetime, hints: List[Hint]) -> Optional[Tuple[str, str, int]]:
        window = self._rate_window(code, now)
        if window is None:
            return None
        limit, start_epoch, _start, end = window
        key = (user.billing_user_id, code, start_epoch)
        used = self.rate_counters.get(key, 0)
        seconds = max(0, math.ceil((end - now).total_seconds()))
        if used + 1 > limit:
            hint = {"type": "rate.limit", "seconds": seconds, "remaining": max(0, limit - used), "until": iso_ms(end)}
            raise HttpError(
                429,
                "LIMIT.RATE_EXCEEDED",
                "rate limit exceeded",
                hints=[hint],
                # Beyond the real server, which never sends Retry-After: lets clients exercise that path.
                headers={"Retry-After": str(max(1, seconds))},
            )
        if used + 1 + 3 >= limit:
            remaining = limit - used - 1
            hints.append({"type": "rate.limit", "seconds": seconds, "remaining": remaining, "until": iso_ms(end)})
        return key

    def _coverage_hints(
        self, feature: Feature, estimated: int, available: int, prepaid: bool, hints: List[Hint]
    ) -> None:
        priced: List[Tuple[str, Price]] = []
        missing: List[str] = []
        for meter in feature.meters:
            price = self.price_of(meter)
            if price is None:
                missing.append(meter)
            else:
                priced.append((meter, price))
        if missing:
            hints.append({"type": "pricing.not_configured", "feature_code": feature.code, "meters": missing})
        if not priced:
            return
        balance = max(0, available)
        coverage = [
            (balance // price.unit_price_xusd if price.unit_price_xusd > 0 else 0, price) for _, price in priced
        ]
        best_available, best_price = 0, priced[0][1]
        for covered, price in coverage:
            if covered > best_available:
                best_available, best_price = covered, price
        if any(covered >= estimated for covered, _ in coverage):
            return
        shortfall_quantity = estimated - best_available if estimated > best_available else estimated
        shortfall_xusd = shortfall_quantity * best_price.unit_price_xusd
        if prepaid and shortfall_xusd > 0:
            hints.append({"type": "funding.xusd_shortfall", "shortfall_xusd": shortfall_xusd})
        if prepaid:
            hints.append(
                {
                    "type": "quota.remaining",
                    "max_quantity_minor": best_available,
                    "message": "insufficient credits to cover estimated usage",
                }
            )

    # ----------------------------------------------------------------- commit

    def commit(self, ctx: CallContext, body: JsonValue) -> Tuple[Dict[str, Any], List[Hint]]:
        """``POST /mgt/v1/gate/commits``."""
        response, hints, _lease = self._execute_commit(ctx, as_object(body), ctx.idempotency_key, kind="commit")
        return response, hints

    def _execute_commit(
        self, ctx: CallContext, data: Dict[str, Any], key: str, *, kind: str
    ) -> Tuple[Dict[str, Any], List[Hint], Optional[Lease]]:
        user = ctx.runtime_user()
        token = trimmed_lease_token(data)
        code = feature_code_of(data.get("feature_code"))
        quantity = parse_positive_int(data.get("quantity_minor"), "quantity_minor")
        if not token:
            raise invalid_input("lease_token is required")
        lease_ref = parse_lease_token(token)
        labels = normalize_labels(data.get("labels"))
        items = self._normalize_items(data.get("meters"), "items")
        request_hash = sha256_hex(
            js_json(
                {
                    "schema": "gate.commit.request.v3",
                    "lease_token": token,
                    "feature_code": code,
                    "quantity_minor": quantity,
                    "labels": labels,
                    "items": self._items_for_hash(items),
                }
            )
        )
        feature = self._load_feature(code)
        envelope_key = ("commit", lease_ref, user.billing_user_id, user.account.billing_account_id, key)
        stored = self.envelopes.get(envelope_key)
        if stored is not None:
            if stored[0] != request_hash:
                raise HttpError(409, "WRITE.INVALID_PAYLOAD", "idempotency conflict")
            snapshot = stored[1]
            return snapshot["data"], list(snapshot["hints"]), None

        lease = self.leases.get(uuid_key(lease_ref))
        if lease is None or lease.user is not user:
            raise HttpError(422, "RESOURCE.NOT_FOUND", "lease not found")
        if lease.feature_code != code:
            raise HttpError(422, "WRITE.INVALID_PAYLOAD", "feature mismatch for lease")
        if lease.token != token:
            raise HttpError(422, "WRITE.INVALID_PAYLOAD", "invalid lease token")

        now = self.now()
        hints: List[Hint] = []
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
        remaining: Optional[int] = None
        if lease.quota_limit != UNLIMITED:
            remaining = max(0, lease.quota_limit - self._quota_used(user, code, lease.window_start))
            if quantity > remaining:
                hints.append({"type": "quota.remaining", "max_quantity_minor": remaining})

        commit_items = list(items)
        if not commit_items and feature.meters:
            commit_items = [NormalizedItem(meter_code=feature.meters[0], quantity=quantity)]
        if not commit_items:
            raise invalid_input("meters[] is required")
        invalid = self._invalid_meters(feature, commit_items)
        if invalid:
            quarantined = True
            hints.append({"type": "feature.meter_not_allowed", "feature_code": code, "meters": invalid})

        computations: List[Computation] = []
        missing: List[str] = []
        for item in commit_items:
            price = None if item.meter_code in invalid else self.price_of(item.meter_code)
            if price is None and item.meter_code not in invalid:
                missing.append(item.meter_code)
            computations.append(self._compute(code, item, price))
        if missing:
            quarantined = True
            hints.append({"type": "pricing.not_configured", "feature_code": code, "meters": _unique(missing)})

        total = sum(c.amount for c in computations)
        applied_quantity = 0 if quarantined else quantity
        settled = 0 if quarantined else total
        if applied_quantity > 0:
            clipped = applied_quantity if remaining is None else min(remaining, applied_quantity)
            counter = (user.billing_user_id, code, iso_ms(lease.window_start))
            self.quota_counters[counter] = self.quota_counters.get(counter, 0) + clipped
        if settled > 0 and user.account.wallet is not None:
            user.account.wallet.debit(settled)

        response = self._commit_response(code, computations, budget_id=None)
        hints.extend(self._pricing_changed_hints(commit_items, response["lines"]))
        self.envelopes[envelope_key] = (request_hash, {"data": response, "hints": list(hints)})
        self._record_commit(
            response, kind=kind, lease_id=lease.lease_id, key=key, code=code, quantity=quantity, settled=settled,
            quarantined=quarantined, hints=hints, user=user, labels=labels, now=now,
        )  # fmt: skip
        if kind != "batch":
            lease.state = "closed"
        return response, hints, lease

    def _invalid_meters(self, feature: Feature, items: List[NormalizedItem]) -> List[str]:
        unknown = [item.meter_code for item in items if item.meter_code not in feature.meters]
        if unknown and self.auto_register:
            # Auto-registry attaches unknown meters to the feature instead of rejecting them.
            for meter in _unique(unknown):
                feature.meters.append(meter)
            return []
        return _unique(unknown)

    def _commit_response(self, code: str, computations: List[Computation], budget_id: Optional[str]) -> Dict[str, Any]:
        computed_at = iso_ms(self.now())
        lines = []
        for comp in computations:
            snapshot = self._snapshot(code, comp, "revenue", computed_at)
            cost_snapshot = self._snapshot(code, comp, "cost", computed_at)
            lines.append(
                {
                    "line_id": str(uuid.uuid4()),
                    "meter_code": comp.meter_code,
                    "quantity_minor": str(comp.quantity),
                    "unit_price_xusd": str(comp.unit_price),
                    "amount_xusd": str(comp.amount),
                    "pricing_snapshot": snapshot,
                    "pricing_fingerprint": snapshot["fingerprint"],
                    "cost_xusd": str(comp.cost),
                    "unit_cost_xusd": str(comp.unit_cost),
                    "cost_unit_quantity_minor": "1",
                    "cost_rounding": "floor",
                    "cost_snapshot": cost_snapshot,
                    "cost_fingerprint": cost_snapshot["fingerprint"],
                }
            )
        response: Dict[str, Any] = {"commit_id": str(uuid.uuid4())}
        if budget_id is not None:
            response["budget_id"] = budget_id
        response["amount_xusd"] = str(sum(c.amount for c in computations))
        response["cost_xusd"] = str(sum(c.cost for c in computations))
        response["lines"] = lines
        return response

    @staticmethod
    def _pricing_changed_hints(items: List[NormalizedItem], lines: List[Dict[str, Any]]) -> List[Hint]:
        by_meter = {line["meter_code"]: line for line in lines}
        hints: List[Hint] = []
        for item in items:
            if not item.etag and item.client_price is None:
                continue
            line = by_meter.get(item.meter_code)
            if line is None:
                continue
            fingerprint = line["pricing_fingerprint"]
            changed_etag = bool(item.etag) and item.etag != fingerprint
            changed_price = item.client_price is not None and str(item.client_price) != line["unit_price_xusd"]
            if changed_etag or changed_price:
                hints.append(
                    {
                        "type": "pricing.changed",
                        "previous_fingerprint": item.etag or "client",
                        "current_fingerprint": fingerprint or "server",
                    }
                )
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
        self.ledger._append_commit(
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

    def cancel(self, ctx: CallContext, body: JsonValue) -> Dict[str, Any]:
        """``POST /mgt/v1/gate/cancel``: naturally idempotent (``cancelled`` false once not active)."""
        user = ctx.runtime_user()
        token = trimmed_lease_token(as_object(body))
        if not token:
            raise invalid_input("lease_token is required")
        lease_ref = parse_lease_token(token)
        now = self.now()
        trace_id = "cancel_" + base36(int(now.timestamp() * 1000))
        lease = self.leases.get(uuid_key(lease_ref))
        if lease is None or lease.user is not user:
            raise HttpError(422, "RESOURCE.NOT_FOUND", "lease not found")
        cancelled = lease.state == "active"
        if cancelled:
            lease.state = "canceled"
        self.ledger._append_cancel(
            CancelRecord(
                lease_id=lease.lease_id,
                idempotency_key=ctx.idempotency_key,
                cancelled=cancelled,
                trace_id=trace_id,
                cancelled_at=now,
            )
        )
        return {"cancelled": cancelled, "released_cap": "0", "trace_id": trace_id}

    def ingest(self, ctx: CallContext, body: JsonValue) -> Tuple[Dict[str, Any], List[Hint]]:
        """``POST /mgt/v1/gate/ingest``: priced usage without a lease (no quota, rate or balance checks)."""
        user = ctx.runtime_user()
        data = as_object(body)
        code = feature_code_of(data.get("feature_code"))
        budget_raw = data.get("budget_id")
        budget_id = js_trim(budget_raw) if isinstance(budget_raw, str) else ""
        if budget_id and not _BUDGET_UUID.match(budget_id):
            raise invalid_input("invalid budget_id")
        labels = normalize_labels(data.get("labels"))
        occurred_at = self._occurred_at(data.get("occurred_at"))
        quantity = parse_optional_non_negative_int(data.get("quantity_minor"), "quantity_minor")
        items = self._normalize_items(data.get("meters"), "meters")
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
                    "items": self._items_for_hash(items),
                }
            )
        )
        feature = self._load_feature(code)
        envelope_key = ("ingest", user.billing_user_id, user.account.billing_account_id, ctx.idempotency_key)
        stored = self.envelopes.get(envelope_key)
        if stored is not None:
            if stored[0] != request_hash:
                raise HttpError(409, "WRITE.INVALID_PAYLOAD", "idempotency conflict")
            return stored[1]["data"], list(stored[1]["hints"])

        if not items:
            if not feature.meters:
                raise invalid_input("meters[] is required")
            items = [NormalizedItem(meter_code=feature.meters[0], quantity=quantity or 0)]
        invalid = self._invalid_meters(feature, items)
        if invalid:
            raise invalid_input("meter_not_allowed_for_feature: " + ",".join(invalid))
        hints: List[Hint] = []
        computations = [self._compute(code, item, self.price_of(item.meter_code)) for item in items]
        missing = [c.meter_code for c in computations if c.source == "missing"]
        if missing:
            hints.append({"type": "pricing.not_configured", "feature_code": code, "meters": _unique(missing)})
        response = self._commit_response(code, computations, budget_id=budget_id or None)
        hints.extend(self._pricing_changed_hints(items, response["lines"]))
        total = sum(c.amount for c in computations)
        if total > 0 and user.account.wallet is not None:
            user.account.wallet.debit(total)
        self.envelopes[envelope_key] = (request_hash, {"data": response, "hints": list(hints)})
        canonical_quantity = quantity if quantity is not None else sum(item.quantity for item in items)
        self._record_commit(
            response, kind="ingest", lease_id=None, key=ctx.idempotency_key, code=code, quantity=canonical_quantity,
            settled=total, quarantined=False, hints=hints, user=user, labels=labels, now=occurred_at or self.now(),
        )  # fmt: skip
        return response, hints

    @staticmethod
    def _occurred_at(value: JsonValue) -> Optional[datetime]:
        if value is None or value == "":
            return None
        text = js_trim(value) if isinstance(value, str) else ""
        parsed = parse_js_date(text) if text else None
        if parsed is None:
            raise invalid_input("occurred_at must be a valid date-time")
        return parsed

    # ----------------------------------------------------------------- limits, meters, wallet, catalog

    def _entitled(self, query: Mapping[str, JsonValue]) -> List[Feature]:
        codes = string_list(query.get("feature_code"))
        families = string_list(query.get("feature_family_code"))
        return sorted(
            (
                feature
                for feature in self.features.values()
                if (not codes or feature.code in codes) and (not families or feature.family_code in families)
            ),
            key=lambda feature: feature.code,
        )

    def limits(self, ctx: CallContext, query: Mapping[str, JsonValue]) -> List[Dict[str, Any]]:
        """``GET /mgt/v1/gate/limits`` (``expand=quotas,rates``)."""
        user = ctx.runtime_user()
        expand = {value.lower() for value in string_list(query.get("expand"))}
        now = self.now()
        results = []
        for feature in self._entitled(query):
            entry: Dict[str, Any] = {
                "feature_code": feature.code,
                "feature_family_code": feature.family_code,
                "unit": "unit",
            }
            if "quotas" in expand:
                entry["quotas"] = [self._quota_window_view(user, feature.code, now)]
            if "rates" in expand:
                entry["rates"] = self._rate_window_view(user, feature.code, now)
            if feature.meters:
                entry["meters"] = list(feature.meters)
            results.append(entry)
        return results

    def meters(self, ctx: CallContext, query: Mapping[str, JsonValue]) -> List[Dict[str, Any]]:
        """``GET /mgt/v1/gate/meters`` (``expand=limits|limits.quotas|limits.rates|pricing|coverage``)."""
        user = ctx.runtime_user()
        expand = {value.lower() for value in string_list(query.get("expand"))}
        with_quotas = "limits" in expand or "limits.quotas" in expand
        with_rates = "limits" in expand or "limits.rates" in expand
        basis = "budget" if js_string(query.get("coverage_basis") or "").lower() == "budget" else "xusd"
        optimistic = js_string(query.get("coverage_profile") or "").lower() == "optimistic"
        budget_id = query.get("coverage_budget_id")
        if basis == "budget" and not isinstance(budget_id, str):
            raise invalid_input("coverage.budget_id is required when basis=budget")
        as_of_raw = query.get("coverage_as_of")
        now = (parse_js_date(as_of_raw) if isinstance(as_of_raw, str) else None) or self.now()
        meter_filter = string_list(query.get("meter_code"))
        aggregated: Dict[str, Dict[str, Any]] = {}
        for feature in self._entitled(query):
            for meter in feature.meters:
                if meter_filter and meter not in meter_filter:
                    continue
                entry = aggregated.setdefault(meter, {"features": set(), "families": set(), "quotas": {}, "rates": {}})
                entry["features"].add(feature.code)
                entry["families"].add(feature.family_code)
                if with_quotas:
                    view = self._quota_window_view(user, feature.code, now)
                    entry["quotas"].setdefault((view["window_start"], view["window_end"]), view)
                if with_rates:
                    for view in self._rate_window_view(user, feature.code, now):
                        entry["rates"].setdefault((view["window_start"], view["window_end"]), view)
        wallet = user.account.wallet
        results = []
        for meter in sorted(aggregated):
            entry = aggregated[meter]
            features = sorted(entry["features"])
            item: Dict[str, Any] = {
                "meter_code": meter,
                "unit": "unit",
                "features": features,
                "feature_family_codes": sorted(entry["families"]),
            }
            if with_quotas:
                item["quotas"] = list(entry["quotas"].values())
            if with_rates:
                item["rates"] = list(entry["rates"].values())
            price = self.price_of(meter)
            if "pricing" in expand and price is not None:
                item["pricing"] = {
                    "unit_price_xusd": str(price.unit_price_xusd),
                    "unit_quantity_minor": "1",
                    "rounding": "floor",
                    "effective_at": iso_ms(price.effective_at),
                    "fingerprint": self._price_identity(features[0], meter, price),
                    "unit": "unit",
                }
            if "coverage" in expand and price is not None:
                if basis == "budget":
                    raise HttpError(404, "RESOURCE.NOT_FOUND", "budget not found")
                item["coverage"] = self._coverage(wallet, price, features[0], optimistic, now)
            results.append(item)
        return results

    @staticmethod
    def _coverage(
        wallet: Optional[Wallet], price: Price, feature_code: str, optimistic: bool, now: datetime
    ) -> Dict[str, Any]:
        balance = wallet.available if wallet is not None else 0
        notes = ([] if wallet is not None else ["no active grants"]) + [f"feature={feature_code}"]
        if price.unit_price_xusd <= 0:
            coverage: Dict[str, Any] = {
                "basis": "xusd",
                "balance_xusd": str(balance),
                "max_quantity_minor_estimated": "0",
            }
            if optimistic:
                coverage["optimistic_quantity_minor"] = "0"
            coverage["advisory"] = True
            coverage["as_of"] = iso_ms(now)
            coverage["notes"] = "; ".join([*notes, "pricing unavailable"])
            return coverage
        blocks, rest = divmod(balance, price.unit_price_xusd)
        coverage = {
            "basis": "xusd",
            "balance_xusd": str(balance),
            "max_quantity_minor_estimated": str(blocks),
            "advisory": True,
            "as_of": iso_ms(now),
            "notes": "; ".join(notes),
        }
        if optimistic:
            coverage["optimistic_quantity_minor"] = str(blocks + 1 if rest > 0 else blocks)
        return coverage

    def wallet_balance(self, ctx: CallContext) -> Dict[str, Any]:
        """``GET /mgt/v1/wallet/balance`` and ``GET /api/v1/wallet/balance``."""
        user = ctx.runtime_user()
        wallet = user.account.wallet
        grants: List[Dict[str, Any]] = []
        balance = outstanding = 0
        if wallet is not None:
            remaining = wallet.issued - wallet.consumed
            balance = wallet.available
            outstanding = remaining - wallet.overage
            grants.append(
                {
                    "grant_id": wallet.grant_id,
                    "origin": "adjustment",
                    "on_ledger": False,
                    "priority": 100,
                    "status": "active",
                    "window_start": iso_ms(wallet.created_at),
                    "issued": currency_amounts(max(0, wallet.issued)),
                    "remaining": currency_amounts(remaining),
                    "consumed_xusd": str(wallet.consumed),
                    "metadata": {},
                }
            )
        return {
            "billing_account_id": user.account.billing_account_id,
            "billing_user_id": user.billing_user_id,
            "balances": currency_amounts(max(0, balance)),
            "outstanding_balances": currency_amounts(outstanding),
            "conversion": {"as_of": iso_ms(self.now()), "usd_per_xusd": "0.000001"},
            "grants": grants,
        }

    def _seed_products(self) -> List[Dict[str, Any]]:
        # Ids ascend with display_priority so the server's "id > cursor" paging agrees with its sort order.
        ids = sorted(str(uuid.uuid4()) for _ in range(3))
        specs = [("subscription", "Starter"), ("subscription", "Pro"), ("credit", "Credit pack 10 USD")]
        return [
            {
                "catalog_product_id": product_id,
                "provider": "stripe",
                "kind": kind,
                "status": "active",
                "display_priority": (index + 1) * 10,
                "name": name,
                "default_currency": "USD",
                "presentation_config": {},
            }
            for index, (product_id, (kind, name)) in enumerate(zip(ids, specs))
        ]

    def catalog_products(self, query: Mapping[str, JsonValue]) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
        """``GET /api/v1/catalog/products``: ``(data, meta)`` with cursor pagination."""
        raw_limit = query.get("limit")
        limit_value = js_number(raw_limit if raw_limit is not None else 50) if not isinstance(raw_limit, list) else None
        page = int(limit_value) if limit_value else 50
        page = max(1, min(PRODUCT_PAGE_MAX, page))
        cursor = query.get("cursor")
        cursor_id = js_trim(cursor).lower() if isinstance(cursor, str) and _BUDGET_UUID.match(js_trim(cursor)) else None
        kind = query.get("kind")
        currency = query.get("currency")
        rows = [
            product
            for product in self.products
            if (cursor_id is None or product["catalog_product_id"] > cursor_id)
            and (kind in (None, "all") or product["kind"] == kind)
            and (currency is None or product["default_currency"] == currency)
        ]
        items = rows[:page]
        has_more = len(rows) > page
        raw_expand = query.get("expand")
        expand = set(raw_expand) if isinstance(raw_expand, list) else {raw_expand}
        data = []
        for product in items:
            entry = dict(product)
            if "prices" in expand or "prices.subscription_state" in expand:
                entry["prices"] = []
            if expand & {"prices", "prices.subscription_state", "default_price"}:
                entry["default_price"] = None
            if "feature_families" in expand:
                entry["feature_families"] = []
            data.append(entry)
        meta = {
            "next_cursor": items[-1]["catalog_product_id"] if has_more else None,
            "has_more": has_more,
            "limit": limit_value,
        }
        return data, meta


def _unique(values: List[str]) -> List[str]:
    seen: List[str] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen
