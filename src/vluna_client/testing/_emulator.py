"""The :class:`Emulator`: a local, in-process Vluna server for tests."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets
import string
import threading
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Tuple, Type

from ._admin import ADMIN_PREFIX, LEDGER_PATH
from ._app import App
from ._catalog_file import CatalogSource, apply_catalog
from ._engine import Engine, FeatureSpec, PriceSpec
from ._engine.features import price_fields, split_spec
from ._faults import Faults
from ._records import Ledger
from ._server import DEFAULT_HEADER_TIMEOUT, EmulatorHTTPServer
from ._spec_routes import build_routes
from ._svcauth import ServiceKey

if TYPE_CHECKING:
    import vluna_client

__all__ = ["Emulator"]

_ALPHANUMERIC = string.ascii_letters + string.digits


def _check_options(host: str, allow_remote: bool, header_timeout_seconds: float, billing_mode: str) -> None:
    """Refuse the constructor options that cannot work (see :class:`Emulator`'s Raises)."""
    if not allow_remote and not is_loopback(host):
        raise ValueError(f"host {host!r} is not a loopback address; pass allow_remote=True to bind it anyway")
    if header_timeout_seconds <= 0:
        raise ValueError("header_timeout_seconds must be positive")
    if billing_mode not in ("postpaid", "prepaid"):
        raise ValueError("billing_mode must be 'postpaid' or 'prepaid'")


def _secret_bytes(key_secret: str) -> bytes:
    """The service key's secret, which is given as standard base64."""
    try:
        return base64.b64decode(key_secret, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("key_secret must be standard base64") from exc


def _random_key_id() -> str:
    return "pk-" + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(16))


def is_loopback(host: str) -> bool:
    """Whether ``host`` names a loopback interface (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _client_options(retry: Any, timeout: Any) -> Dict[str, Any]:
    options: Dict[str, Any] = {}
    if retry is not None:
        options["retry"] = retry
    if timeout is not None:
        options["timeout"] = timeout
    return options


class Emulator:
    """A local Vluna server on 127.0.0.1 that speaks the real wire protocol (think stripe-mock or moto).

    Use it as a context manager (or call :meth:`start`/:meth:`stop`)::

        with Emulator() as emu:
            client = emu.service_client()
            ...

    It verifies SVC-AUTH signatures with its own implementation (sharing nothing with ``vluna_client``), mints and
    checks platform bearer tokens, applies HTTP and database idempotency like the server, and models the gate
    (authorize, commit, batch, cancel, ingest, limits, meters), wallet balances and a small product catalog. Every
    other operation of the specs is answered from the shipped spec data (see :mod:`vluna_client.testing`).
    Tests can inject faults through :attr:`faults` and inspect what happened through :attr:`ledger`.

    Deliberate differences from the real server: ``/api/v1`` refuses SVC-AUTH outright (the server lets an
    unverified ``SVC-AUTH`` header through there); ``Retry-After`` is sent on 429 answers (the server sends none);
    accounts are postpaid unless :meth:`set_wallet_balance` or ``billing_mode="prepaid"`` makes them prepaid (a
    default server realm is prepaid); a wallet belongs to the account, not to each billing user;
    every feature has an unlimited monthly quota window unless :meth:`set_quota` sets one; and with ``strict=True``
    stale timestamps and reused nonces are refused (the server checks neither).

    Args:
        host: interface to bind; a loopback address unless ``allow_remote`` (this is a test server with
            throwaway credentials).
        port: TCP port, 0 for an ephemeral one.
        realm_id: realm the service key is bound to (random when omitted).
        key_id: service key id (``pk-`` + 16 alphanumerics when omitted).
        key_secret: base64 of the HMAC key bytes (32 random bytes when omitted).
        price_per_unit_xusd: price of one unit of any meter that has no price of its own (``None``: such meters are
            unpriced, as on the server, and commits on them are quarantined with ``pricing.not_configured``).
        strict: refuse timestamps older/newer than ``strict_window_seconds`` and reused nonces (401).
        strict_window_seconds: allowed clock skew in strict mode.
        lease_ttl_seconds: lease lifetime (the server's default is 12 hours).
        billing_mode: ``"postpaid"`` (accounts are not refused for lack of funds unless :meth:`set_wallet_balance`
            makes them prepaid) or ``"prepaid"`` (every account, as on a default server realm: authorize answers 402
            "grant balance exhausted" on a priced feature once the grants are used up, with funding hints before).
        features: explicit features; turns feature auto-registration off. Codes (each with one meter of the same
            code), code -> meter codes, or code -> {meter code: price}, where a price is xusd per unit, a
            ``meter_prices`` mapping (``unit_price_xusd``, ``unit_cost_xusd``, ``unit_quantity_minor``, ``rounding``,
            ``cost_unit_quantity_minor``, ``cost_rounding``, ``residual_mode``) or ``None`` (unpriced), e.g.
            ``{"llm.chat": {"llm.chat.in": 3, "llm.chat.out": {"unit_price_xusd": 5, "unit_cost_xusd": 2}}}``.
        other_realms: further realms that exist but that the service key is not bound to (for 403 paths).
        replay_hang_seconds: on routes whose server handler writes its own reply (``x-vluna-retry: answered``), a
            replayed Idempotency-Key gets no answer, as on the server: the connection is held this long (or until
            the client gives up) and then closed. 0 answers the replay instead.
        header_timeout_seconds: a request's line and headers must arrive within this long of its first byte,
            else 408 and the connection closes (Node's ``headersTimeout``, 60 s by default).
        allow_remote: allow a non-loopback ``host`` (anyone who can reach it can then use the emulator).
        catalog: a catalog file (YAML or JSON) or mapping to seed features, families, meters with prices, plans,
            policies, wallets and quotas from (see :meth:`load_catalog`).

    Raises:
        ValueError: a non-loopback ``host`` without ``allow_remote``, an invalid ``key_secret``, or a catalog the
            emulator refuses.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        realm_id: Optional[str] = None,
        key_id: Optional[str] = None,
        key_secret: Optional[str] = None,
        price_per_unit_xusd: Optional[int] = 10,
        strict: bool = False,
        strict_window_seconds: float = 300.0,
        lease_ttl_seconds: float = 12 * 60 * 60,
        billing_mode: str = "postpaid",
        features: Optional[FeatureSpec] = None,
        other_realms: Iterable[str] = (),
        replay_hang_seconds: float = 30.0,
        header_timeout_seconds: float = DEFAULT_HEADER_TIMEOUT,
        allow_remote: bool = False,
        catalog: Optional[CatalogSource] = None,
    ) -> None:
        _check_options(host, allow_remote, header_timeout_seconds, billing_mode)
        self.host = host
        self.header_timeout_seconds = header_timeout_seconds
        self.port = port
        self.realm_id: str = realm_id or "realm_" + secrets.token_hex(6)
        self.key_id: str = key_id or _random_key_id()
        self.key_secret: str = key_secret or base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        secret_bytes = _secret_bytes(self.key_secret)
        self._clock_offset = timedelta(0)
        self._stopping = threading.Event()
        self.faults = Faults()
        """Scriptable faults (see :class:`~vluna_client.testing.Faults`)."""
        self._engine = Engine(
            realm_id=self.realm_id,
            price_per_unit_xusd=price_per_unit_xusd,
            lease_ttl_seconds=lease_ttl_seconds,
            billing_mode=billing_mode,
            features=features,
            ledger=Ledger(lambda: self._engine.leases.snapshots()),
            clock=self.now,
        )
        self.ledger: Ledger = self._engine.realm.ledger
        """What the emulator recorded (requests, commits, cancels, leases)."""
        self._app = App(
            engine=self._engine,
            routes=build_routes(self._engine),
            replay_hang_seconds=replay_hang_seconds,
            faults=self.faults,
            ledger=self.ledger,
            key=ServiceKey(key_id=self.key_id, secret=secret_bytes, realm_id=self.realm_id),
            other_realms=set(other_realms),
            strict=strict,
            strict_window_seconds=strict_window_seconds,
            stopping=self._stopping,
        )
        self._server: Optional[EmulatorHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._lifecycle = threading.Lock()
        if catalog is not None:
            self.load_catalog(catalog)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Emulator:
        """Bind and serve on a daemon thread; a no-op when already running. Returns ``self``."""
        with self._lifecycle:
            if self._server is not None:
                return self
            self._stopping.clear()
            server = EmulatorHTTPServer((self.host, self.port), self._app, self.header_timeout_seconds)
            self.port = int(server.server_address[1])
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"vluna-emulator-{self.port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and join all server threads; a no-op when not running."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            if server is None:
                return
            self._stopping.set()  # wakes requests sleeping in an injected delay
            server.shutdown()
            server.close_connections()
            server.server_close()
            if thread is not None:
                thread.join(5.0)
            self._server, self._thread = None, None

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._server is not None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------- addresses and credentials

    @property
    def url(self) -> str:
        """Origin of the server, e.g. ``http://127.0.0.1:54321``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def service_base_url(self) -> str:
        """Base URL of the service surface (``<url>/mgt/v1``)."""
        return self.url + "/mgt/v1"

    @property
    def bearer_base_url(self) -> str:
        """Base URL of the bearer surface (``<url>/api/v1``)."""
        return self.url + "/api/v1"

    def env(self) -> Dict[str, str]:
        """The ``VLUNA_*`` variables that point a client at this emulator (the secret is a throwaway key)."""
        return {
            "VLUNA_SERVICE_BASE_URL": self.service_base_url,
            "VLUNA_BEARER_BASE_URL": self.bearer_base_url,
            "VLUNA_REALM_ID": self.realm_id,
            "VLUNA_SERVICE_KEY_ID": self.key_id,
            "VLUNA_SERVICE_KEY_SECRET": self.key_secret,
        }

    def service_client(
        self,
        *,
        retry: Optional[vluna_client.RetryPolicy] = None,
        timeout: Optional[Any] = None,
        **kwargs: Any,
    ) -> vluna_client.ServiceClient:
        """A ``vluna_client.ServiceClient`` configured for this emulator.

        Args:
            retry: the client's ``RetryPolicy`` (the client's default when omitted).
            timeout: the client's timeout (seconds, a ``(connect, read)`` pair or a ``vluna_client.Timeout``).
            **kwargs: passed on to ``ServiceClient`` as they are.
        """
        import vluna_client

        return vluna_client.ServiceClient(
            base_url=self.service_base_url,
            realm_id=self.realm_id,
            key_id=self.key_id,
            key_secret=self.key_secret,
            **_client_options(retry, timeout),
            **kwargs,
        )

    def bearer_client(
        self,
        access_token: str,
        *,
        retry: Optional[vluna_client.RetryPolicy] = None,
        timeout: Optional[Any] = None,
        **kwargs: Any,
    ) -> vluna_client.BearerClient:
        """A ``vluna_client.BearerClient`` for this emulator using ``access_token``.

        ``retry``, ``timeout`` and further keyword arguments work as in :meth:`service_client`.
        """
        import vluna_client

        return vluna_client.BearerClient(
            base_url=self.bearer_base_url,
            realm_id=self.realm_id,
            access_token=access_token,
            **_client_options(retry, timeout),
            **kwargs,
        )

    def seed(self, path: str, principal_id: Optional[str] = None, **fields: Any) -> Dict[str, Any]:
        """Store a resource the API can only read (an invoice, a payment, an ops event...) and return it.

        Args:
            path: the path of the operation that lists such resources, e.g. ``"/mgt/v1/invoices"``.
            principal_id: owner of the resource (sets ``billing_account_id``; account-scoped reads see only their
                own account's resources).
            **fields: resource fields; the id and every other required field are filled in when missing.

        Raises:
            ValueError: ``path`` is not a list operation the emulator serves from the specs.
        """
        route = self._app.routes.get("GET", path)
        operation = route.operation if route is not None else None
        if operation is None or operation["kind"] != "list" or not operation["family"]:
            raise ValueError(f"{path!r} is not a spec-driven list operation")
        values = dict(fields)
        if principal_id is not None:
            values.setdefault("billing_account_id", self.billing_ids(principal_id)["billing_account_id"])
        return self._engine.resources.seed(operation, values)

    def routes(self) -> List[Tuple[str, str]]:
        """Every ``(method, path template)`` of the API the emulator serves, sorted (``{name}`` marks a parameter).

        The read-only admin route ``GET /_emulator/ledger`` (see :meth:`ledger_url`) is not listed.
        """
        return sorted(
            (route.method, route.path) for route in self._app.routes if not route.path.startswith(ADMIN_PREFIX)
        )

    @property
    def ledger_url(self) -> str:
        """URL of the read-only admin route that answers :meth:`Ledger.snapshot` to SVC-AUTH signed GETs.

        Another process reads it with ``vluna emulator ledger --json`` (given the ``VLUNA_*`` variables).
        """
        return self.url + LEDGER_PATH

    # ----------------------------------------------------------------- time

    def now(self) -> datetime:
        """The emulator's clock: wall-clock UTC plus whatever :meth:`advance_clock` added."""
        return datetime.now(timezone.utc) + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward (lease expiry, token expiry, rate and quota windows) without sleeping.

        Strict-mode timestamp checks keep using the real clock, since clients sign with it.
        """
        with self._engine.realm.lock:
            self._clock_offset += timedelta(seconds=seconds)

    # ----------------------------------------------------------------- scenario configuration

    def set_features(self, features: FeatureSpec) -> None:
        """Replace the known features and turn auto-registration off (``features`` as in the constructor).

        Unknown features then answer 422 ``RESOURCE.NOT_FOUND`` "feature not found", and meters outside a
        feature's list quarantine a commit with a ``feature.meter_not_allowed`` hint (as the server does). Meters
        given with a price get that price; the others keep theirs (or the emulator-wide default).
        """
        self._engine.set_features(features)

    def set_feature(
        self,
        feature_code: str,
        meters: Optional[Mapping[str, PriceSpec]] = None,
        *,
        family_code: str = "default",
    ) -> None:
        """Add or replace one feature with its meters and their prices, leaving the other features as they are.

        Args:
            feature_code: the feature's code.
            meters: meter code -> price (xusd per unit, a ``meter_prices`` mapping, or ``None`` for unpriced);
                omitted: one meter of the feature's own code at its current price.
            family_code: the feature's family.

        Example: ``emu.set_feature("llm.chat", {"llm.chat.in": 3, "llm.chat.out": 5})`` prices a commit of 10 input
        and 20 output units at 130 xusd, as the server does.
        """
        spec: Dict[str, Any] = {feature_code: dict(meters) if meters is not None else [feature_code]}
        with self._engine.realm.lock:
            codes, prices = split_spec(spec)
            for code, meter_codes in codes.items():
                self._engine.features.put_feature(code, meter_codes, family_code)
            for meter, fields in prices.items():
                self._engine.pricing.set_meter_price(meter, fields)

    def load_catalog(self, catalog: CatalogSource) -> Dict[str, int]:
        """Seed the emulator from a catalog file (YAML or JSON) or an already parsed mapping.

        Sections: ``feature_families``, ``features`` (with ``meters`` and their ``meter_prices``), ``meters``,
        ``plans`` (with ``entitlements``), ``policy_bundles``, ``gate_policies``, ``rating_policies`` (with
        ``versions``): each entry is the body of the management API's create/upsert call and goes through the same
        handler an HTTP call would reach; then ``prices`` (meter -> xusd per unit), ``wallets`` (principal -> xusd)
        and ``quotas`` (feature -> monthly limit). Returns how many entries each section had.

        Raises:
            ValueError: an unknown section, a malformed entry, or an entry the API refuses (named in the message).
        """
        return apply_catalog(self, self._app, catalog)

    def set_price(
        self,
        meter_code: str,
        unit_price_xusd: Optional[int],
        *,
        unit_cost_xusd: int = 0,
        unit_quantity_minor: int = 1,
        rounding: str = "nearest",
        cost_unit_quantity_minor: Optional[int] = None,
        cost_rounding: Optional[str] = None,
        residual_mode: str = "postpaid",
    ) -> None:
        """Price a meter: ``unit_price_xusd`` per block of ``unit_quantity_minor`` units; ``None`` unprices it.

        Prices belong to meters, realm-wide, as the server's ``meter_prices``: every feature allowing the meter
        charges it. A quantity that is not a whole number of blocks is rounded by ``rounding`` (``floor``,
        ``nearest``, ``ceil``); with ``floor``/``nearest`` the uncharged rest is carried to the user's next commit
        (the server's residual buckets). ``residual_mode="prepaid"`` charges every started block at once and uses
        its unused rest first next time. The cost side defaults to the price's block size and rounding.

        Raises:
            ValueError: a negative price or cost, a block size below 1 or an unknown rounding mode.
        """
        if unit_price_xusd is None:
            self._engine.pricing.set_meter_price(meter_code, None)
            return
        fields = price_fields(
            {
                "unit_price_xusd": unit_price_xusd,
                "unit_cost_xusd": unit_cost_xusd,
                "unit_quantity_minor": unit_quantity_minor,
                "rounding": rounding,
                "cost_unit_quantity_minor": cost_unit_quantity_minor,
                "cost_rounding": cost_rounding,
                "residual_mode": residual_mode,
            }
        )
        self._engine.pricing.set_meter_price(meter_code, fields)

    def set_wallet_balance(self, principal_id: str, xusd: int) -> None:
        """Make the principal's account prepaid with ``xusd`` available.

        Authorize then answers 402 ``SERVER.CONFIG`` "grant balance exhausted" once nothing is left, estimates
        beyond the balance get ``funding.xusd_shortfall`` and ``quota.remaining`` hints, and applied commits and
        ingests debit the balance.
        """
        self._engine.wallets.set_granted_balance(self._engine.accounts.ensure_account(principal_id), xusd)

    def wallet_balance(self, principal_id: str) -> Optional[int]:
        """Available prepaid balance of a principal in xusd, or ``None`` for a postpaid (or unknown) account."""
        with self._engine.realm.lock:
            account = self._engine.realm.accounts.get(principal_id)
            if account is None or not self._engine.wallets.prepaid(account):
                return None
            return self._engine.wallets.available(account)

    def set_rate_limit(self, feature_code: str, limit: Optional[int], window_seconds: int = 60) -> None:
        """Allow ``limit`` authorizations per user within fixed ``window_seconds`` windows (``None`` removes it).

        Beyond the limit authorize answers 429 ``LIMIT.RATE_EXCEEDED`` with a ``rate.limit`` hint, plus a
        ``Retry-After`` header that the real server does not send.
        """
        self._engine.limits.set_rate_limit(feature_code, limit, window_seconds)

    def set_quota(self, feature_code: str, limit_minor: Optional[int]) -> None:
        """Cap a feature's monthly quantity per user (``None``: unlimited). Exhausted: 402 "quota limit exhausted"."""
        self._engine.limits.set_quota(feature_code, limit_minor)

    def issue_token(self, principal_id: str, user_id: str, *, ttl_seconds: int = 900) -> str:
        """Mint a platform bearer token directly (no HTTP call), creating the account and user as needed."""
        user = self._engine.accounts.ensure_runtime_user(principal_id, user_id)
        token, _expires_in, _expires_at = self._engine.tokens.mint(user, ttl=ttl_seconds)
        return token

    def billing_ids(self, principal_id: str, user_id: Optional[str] = None) -> Dict[str, str]:
        """The emulator's ``billing_account_id`` (and ``billing_user_id``) for a principal (and user)."""
        return self._engine.accounts.billing_ids(principal_id, user_id)
