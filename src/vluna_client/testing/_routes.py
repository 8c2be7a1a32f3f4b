"""The one route table: method + path template -> guards to apply -> handler.

The request pipeline (:mod:`._app`) is the wrapper every route goes through; a :class:`Route` only says which guards
apply (surface, authentication class, bindings, idempotency) and which handler produces the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ._engine import Engine
from ._jsutil import JsonValue
from ._spec_data.spec_types import Auth, Bindings, EmulatorOperation
from ._state import CallContext

__all__ = ["Call", "Handler", "Reply", "Route", "RouteAuth", "RouteBindings", "RouteTable", "hand_routes"]


@dataclass
class Call:
    """What a handler gets: the caller, the parsed body and query, and the path parameters."""

    ctx: CallContext
    body: JsonValue
    query: Dict[str, JsonValue]
    path_params: Dict[str, str]
    route: Route


@dataclass
class Reply:
    """A successful answer: ``data`` goes into the envelope, with optional ``meta`` and ``hints``."""

    data: JsonValue
    status: int = 200
    meta: Optional[Dict[str, Any]] = None
    hints: Optional[List[Any]] = None
    headers: List[Tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Engine, Call], Reply]
# The guards a route applies; see Route. They are the spec data's own (hand-modelled routes use the same values).
RouteAuth = Auth
RouteBindings = Bindings


@dataclass(frozen=True)
class Route:
    """One served operation.

    Attributes:
        method: HTTP method.
        path: full path template (``/mgt/v1/budgets/{budget_id}``).
        name: operation name (the spec's operationId for spec-driven routes).
        auth: ``none``, ``service`` (SVC-AUTH only), ``either`` (SVC-AUTH or bearer), ``bearer`` (bearer only) or
            ``bootstrap`` (a DAT bootstrap token as the bearer, no realm header needed).
        bindings: ``none``, ``runtime`` (X-Principal-Id + X-User-Id with SVC-AUTH), ``account`` (X-Principal-Id
            or X-Billing-Account-Id with SVC-AUTH) or ``optional`` (used when sent).
        idempotent: the HTTP idempotency interceptor runs (Idempotency-Key required on writes).
        handler: produces the answer.
        replay_hangs: the server never answers a replayed key on this route.
        operation: the spec's description of the operation (spec-driven routes only).
    """

    method: str
    path: str
    name: str
    auth: RouteAuth
    handler: Handler
    bindings: RouteBindings = "none"
    idempotent: bool = False
    replay_hangs: bool = False
    operation: Optional[EmulatorOperation] = None

    @property
    def segments(self) -> Tuple[str, ...]:
        """Path segments of the template."""
        return tuple(self.path.strip("/").split("/"))


class RouteTable:
    """Routes by method; a literal segment beats a ``{param}`` one (``/features/needs-config``)."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._routes: Dict[Tuple[str, int], List[Route]] = {}
        self._keys: Dict[Tuple[str, str], Route] = {}
        for route in routes:
            self.add(route)

    def add(self, route: Route) -> None:
        """Add a route, replacing one with the same method and template."""
        key = (route.method, route.path)
        bucket = self._routes.setdefault((route.method, len(route.segments)), [])
        previous = self._keys.get(key)
        if previous is not None:
            bucket.remove(previous)
        bucket.append(route)
        self._keys[key] = route

    def get(self, method: str, path: str) -> Optional[Route]:
        """The route declared for exactly this method and template."""
        return self._keys.get((method, path))

    def __iter__(self) -> Any:
        return iter(list(self._keys.values()))

    def __len__(self) -> int:
        return len(self._keys)

    def match(self, method: str, path: str) -> Optional[Tuple[Route, Dict[str, str]]]:
        """The best route for a concrete path and its path parameters, or ``None``."""
        parts = path.strip("/").split("/")
        best: Optional[Tuple[int, Route, Dict[str, str]]] = None
        for route in self._routes.get((method, len(parts)), []):
            params: Dict[str, str] = {}
            literal = 0
            for template, actual in zip(route.segments, parts):
                if template.startswith("{") and template.endswith("}"):
                    if not actual:
                        break
                    params[template[1:-1]] = actual
                elif template == actual:
                    literal += 1
                else:
                    break
            else:
                if best is None or literal > best[0]:
                    best = (literal, route, params)
        return (best[1], best[2]) if best is not None else None


# ----------------------------------------------------------------- the hand-modelled handlers


def _health(engine: Engine, call: Call) -> Reply:
    return Reply({"service": "vluna", "status": "healthy"})


def _token_issue(engine: Engine, call: Call) -> Reply:
    return Reply(engine.tokens.issue(call.ctx, call.body))


def _authorize(engine: Engine, call: Call) -> Reply:
    data, hints = engine.leases.authorize(call.ctx, call.body)
    return Reply(data, hints=hints)


def _commit(engine: Engine, call: Call) -> Reply:
    data, hints = engine.usage.commit(call.ctx, call.body)
    return Reply(data, hints=hints)


def _commit_batch(engine: Engine, call: Call) -> Reply:
    return Reply(engine.usage.commit_batch(call.ctx, call.body))


def _cancel(engine: Engine, call: Call) -> Reply:
    return Reply(engine.leases.cancel(call.ctx, call.body))


def _ingest(engine: Engine, call: Call) -> Reply:
    data, hints = engine.usage.ingest(call.ctx, call.body)
    return Reply(data, hints=hints)


def _limits(engine: Engine, call: Call) -> Reply:
    return Reply(engine.limits.limits(call.ctx, call.query))


def _meters(engine: Engine, call: Call) -> Reply:
    return Reply(engine.limits.meters(call.ctx, call.query))


def _wallet_balance(engine: Engine, call: Call) -> Reply:
    return Reply(engine.wallets.balance(call.ctx))


def _event_record(engine: Engine, call: Call) -> Reply:
    status, event = engine.events.record(call.ctx, call.body)
    return Reply(event, status=status)


def _event_batch(engine: Engine, call: Call) -> Reply:
    return Reply(engine.events.record_batch(call.ctx, call.body), status=207)


def _ops_rating(engine: Engine, call: Call) -> Reply:
    return Reply(engine.ops.get_rating(call.ctx, call.path_params["rating_id"], call.query))


def _user_activity(engine: Engine, call: Call) -> Reply:
    return Reply(engine.ops.activity(call.path_params["billing_user_id"], call.query))


def _budget_create(engine: Engine, call: Call) -> Reply:
    return Reply(engine.budgets.create(call.ctx, call.body), status=201)


def _wallet_adjust(engine: Engine, call: Call) -> Reply:
    return Reply(engine.wallets.adjust(call.ctx, call.body), status=201)


def _wallet_consume(engine: Engine, call: Call) -> Reply:
    return Reply(engine.wallets.consume(call.ctx, call.body), status=201)


def _catalog_products(engine: Engine, call: Call) -> Reply:
    data, meta = engine.catalog.products(call.query)
    return Reply(data, meta=meta)


def _gate(method: str, path: str, name: str, handler: Handler) -> Route:
    return Route(method, path, name, auth="either", bindings="runtime", idempotent=method != "GET", handler=handler)


def hand_routes() -> List[Route]:
    """The routes whose semantics are modelled by hand (gate, tokens, wallet balance, catalog products)."""
    return [
        Route("GET", "/health", "health", auth="none", handler=_health),
        Route("POST", "/mgt/v1/token/issue", "issueToken", auth="either", idempotent=True, handler=_token_issue),
        _gate("POST", "/mgt/v1/gate/authorize", "authorize", _authorize),
        _gate("POST", "/mgt/v1/gate/commits", "commit", _commit),
        _gate("POST", "/mgt/v1/gate/commits/batch", "commitBatch", _commit_batch),
        _gate("POST", "/mgt/v1/gate/cancel", "cancel", _cancel),
        _gate("POST", "/mgt/v1/gate/ingest", "ingest", _ingest),
        _gate("GET", "/mgt/v1/gate/limits", "limits", _limits),
        _gate("GET", "/mgt/v1/gate/meters", "meters", _meters),
        _gate("GET", "/mgt/v1/wallet/balance", "getWalletBalance", _wallet_balance),
        _gate("POST", "/mgt/v1/wallet/adjustments", "walletAdjustment", _wallet_adjust),
        _gate("POST", "/mgt/v1/wallet/consume", "walletConsume", _wallet_consume),
        _gate("POST", "/mgt/v1/budgets", "createBudget", _budget_create),
        _gate("POST", "/mgt/v1/events", "recordBillingEvent", _event_record),
        _gate("POST", "/mgt/v1/events/batch", "recordBillingEventBatch", _event_batch),
        Route("GET", "/mgt/v1/ops/ratings/{rating_id}", "getOpsRating", "either", _ops_rating, bindings="account"),
        Route(
            "GET",
            "/mgt/v1/billing-users/{billing_user_id}/activity",
            "listBillingUserActivity",
            "service",
            _user_activity,
        ),
        Route("POST", "/api/v1/budgets", "createBudget", "bearer", _budget_create, idempotent=True),
        Route("GET", "/api/v1/wallet/balance", "getWalletBalance", "bearer", _wallet_balance, bindings="runtime"),
        Route("GET", "/api/v1/catalog/products", "listCatalogProducts", auth="bearer", handler=_catalog_products),
        Route(
            "GET", "/mgt/v1/catalog/products", "listCatalogProducts", "either", _catalog_products, bindings="account"
        ),
    ]
