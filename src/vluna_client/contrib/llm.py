"""The provider-neutral runtime of the LLM adapters: per-call gate context, one lease per model call, strict money.

The OpenAI, Anthropic and LangChain adapters (``vluna_client.contrib.openai`` / ``.anthropic`` / ``.langchain``)
all go through :class:`LLMGate`: authorize before the provider is called (a refusal raises and the provider sees
nothing), commit the usage the provider reported (``quantity_minor`` = total tokens, ``meters[]`` per kind of
token, see :mod:`vluna_client.contrib.llm_usage`), cancel on failure. This module imports no provider SDK.

Context (who pays, for which feature) is resolved per call, first match wins:

1. the ``vluna_context=`` keyword of the call (a :class:`GateContext` or a mapping of its fields);
2. the innermost ``with gate_context(...)`` block of the current thread or task (a :mod:`contextvars` variable,
   so threads, asyncio tasks and Celery tasks never see each other's context; nested blocks merge, inner wins);
3. the gate's ``context=`` callable (e.g. the Flask extension's identity function);

and the feature code comes from the context, else from the gate's ``features`` mapping of model names, else from
its ``feature_code``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union, cast

import attrs

from .._errors import ConfigurationError, InputValidationError, VlunaError
from .llm_usage import MeterCodes, TokenUsage

if TYPE_CHECKING:
    from .._client import ServiceClient
    from .._generated.models.gate import CommitResponse
    from .._lease import Lease
    from .._result import Hint, Result

__all__ = [
    "GateContext",
    "LLMGate",
    "MissingGateContextError",
    "UnappliedChargeError",
    "check_commit",
    "default_estimate",
    "gate_context",
]

logger = logging.getLogger("vluna_client")

F = TypeVar("F", bound=Callable[..., Any])

#: Hints with which the server says a commit was recorded but not applied (nothing, or not all, was charged).
UNAPPLIED_HINTS = frozenset({"feature.meter_not_allowed", "pricing.not_configured", "lease.closed_at_commit"})

_CONTEXT: contextvars.ContextVar[Optional[GateContext]] = contextvars.ContextVar("vluna_gate_context", default=None)


class MissingGateContextError(ConfigurationError):
    """A gated call found no payer: no ``vluna_context=``, no ``gate_context`` block, no context callable answer.

    Raised before anything is sent to Vluna or to the provider.
    """


class UnappliedChargeError(VlunaError):
    """Strict money: the commit was recorded but the server did not charge it (or not all of it).

    The usual causes are a meter code the feature does not allow (``feature.meter_not_allowed``), a meter without a
    price (``pricing.not_configured``) or a lease that was already closed. The commit itself happened: do not send
    it again; fix the feature's meters or prices. ``result`` is the commit's result, ``hints`` its hints.
    """

    may_have_applied = True

    def __init__(self, message: str, *, result: Result[CommitResponse], reasons: tuple[str, ...]) -> None:
        super().__init__(message)
        self.result = result
        self.reasons = reasons

    @property
    def hints(self) -> tuple[Hint, ...]:
        """The commit's hints."""
        return self.result.hints

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "commit not applied"


@attrs.frozen
class GateContext:
    """Who pays for a model call and how it is filed; every field is optional until the call resolves it.

    Attributes:
        principal_id: the paying customer (org, team).
        user_id: the end user.
        feature_code: overrides the gate's model-to-feature mapping.
        feature_family_code: sent with authorize.
        budget_id: a budget to charge.
        labels: extra labels for authorize and commit (request id, tenant...); merged over the gate's own.
    """

    principal_id: Optional[str] = None
    user_id: Optional[str] = None
    feature_code: Optional[str] = None
    feature_family_code: Optional[str] = None
    budget_id: Optional[str] = None
    labels: Optional[Mapping[str, str]] = None

    def merged(self, inner: Optional[GateContext]) -> GateContext:
        """This context with ``inner``'s set fields on top (labels are merged key by key)."""
        if inner is None:
            return self
        fields = {name: getattr(inner, name) for name in _CONTEXT_FIELDS if getattr(inner, name) is not None}
        if self.labels and inner.labels:
            fields["labels"] = {**self.labels, **inner.labels}
        return attrs.evolve(self, **fields)


_CONTEXT_FIELDS = tuple(a.name for a in attrs.fields(GateContext))

ContextLike = Union[GateContext, Mapping[str, Any], tuple[str, str], None]


def _as_context(value: ContextLike, *, where: str) -> Optional[GateContext]:
    if value is None or isinstance(value, GateContext):
        return value
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(_CONTEXT_FIELDS))
        if unknown:
            raise InputValidationError(f"{where}: unknown gate context field(s) {', '.join(unknown)}", field=where)
        return GateContext(**value)
    if isinstance(value, tuple) and len(value) == 2:  # an identity function's (principal_id, user_id)
        return GateContext(principal_id=value[0], user_id=value[1])
    raise InputValidationError(f"{where} must be a GateContext or a mapping of its fields", field=where)


@contextlib.contextmanager
def gate_context(
    *,
    principal_id: Optional[str] = None,
    user_id: Optional[str] = None,
    feature_code: Optional[str] = None,
    feature_family_code: Optional[str] = None,
    budget_id: Optional[str] = None,
    labels: Optional[Mapping[str, str]] = None,
) -> Iterator[GateContext]:
    """Set the gate context of every gated model call made inside the block (this thread or task only).

    ::

        with gate_context(principal_id=org.id, user_id=user.id, labels={"request_id": rid}):
            client.chat.completions.create(...)     # authorized and committed for org.id / user.id

    Blocks nest: an inner block's fields win, labels merge. Yields the effective context.
    """
    inner = GateContext(principal_id, user_id, feature_code, feature_family_code, budget_id, labels)
    outer = _CONTEXT.get()
    effective = outer.merged(inner) if outer is not None else inner
    token = _CONTEXT.set(effective)
    try:
        yield effective
    finally:
        _CONTEXT.reset(token)


def current_context() -> Optional[GateContext]:
    """The context set by the innermost :func:`gate_context` block, if any."""
    return _CONTEXT.get()


def _text_size(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    try:
        return len(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return len(str(value))


#: Output tokens assumed for an estimate when the request sets no maximum.
DEFAULT_OUTPUT_ESTIMATE = 1024


def default_estimate(api: str, request: Mapping[str, Any]) -> Optional[int]:
    """The estimate sent with authorize: about 4 characters per prompt token plus the requested output maximum.

    Reads ``messages`` / ``input`` / ``system`` / ``instructions`` for the prompt and ``max_tokens``,
    ``max_completion_tokens`` or ``max_output_tokens`` for the output (:data:`DEFAULT_OUTPUT_ESTIMATE` if none),
    times ``n``. Pass ``estimate=`` to :class:`LLMGate` to replace it, or ``estimate=None`` to send none.
    """
    prompt = sum(_text_size(request.get(name)) for name in ("messages", "input", "system", "instructions", "prompt"))
    output = None
    for name in ("max_completion_tokens", "max_output_tokens", "max_tokens"):
        value = request.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            output = value
            break
    n = request.get("n")
    count = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
    return max(1, (prompt + 3) // 4 + (output or DEFAULT_OUTPUT_ESTIMATE) * count)


def check_commit(result: Result[CommitResponse], *, strict: bool) -> None:
    """Strict money: raise :class:`UnappliedChargeError` when the server recorded the commit without charging it.

    Looks for the hints that mark a quarantined commit and for lines priced from a missing price. With
    ``strict=False`` the same finding is logged at ERROR level instead (nothing is raised).
    """
    reasons = [h.type for h in result.hints if h.type in UNAPPLIED_HINTS]
    reasons += (
        ["lease.expired"] if any(h.type == "lease.expired" and h.get("exceeded_grace") for h in result.hints) else []
    )
    for line in () if reasons else result.data.lines or ():  # a line priced from no price, without a hint
        snapshot = line.pricing_snapshot
        provenance = snapshot.provenance if snapshot is not None else None
        if provenance is not None and str(provenance.source) == "missing" and not reasons:
            reasons.append("pricing.not_configured")
    if not reasons:
        return
    message = (
        f"vluna commit {result.data.commit_id} was recorded but not charged ({', '.join(reasons)}): "
        "check the feature's meters and prices"
    )
    if strict:
        raise UnappliedChargeError(message, result=result, reasons=tuple(reasons))
    logger.error(message)


def _check_meters(quantity_minor: int, meters: list[dict[str, Any]]) -> None:
    total = sum(int(m["quantity_minor"]) for m in meters)
    if meters and total != quantity_minor:
        raise InputValidationError(
            f"quantity_minor {quantity_minor} differs from the meters' sum {total}", field="quantity_minor"
        )


def _client_source(vluna: Any) -> Callable[[], ServiceClient]:
    from .._client import ServiceClient

    if isinstance(vluna, ServiceClient):
        return lambda: vluna
    if hasattr(vluna, "client") and not callable(vluna):  # the Flask extension: its per-app client
        return lambda: cast("ServiceClient", vluna.client)
    if callable(vluna):  # e.g. the Django glue's get_client
        return cast("Callable[[], ServiceClient]", vluna)
    raise ConfigurationError("vluna= must be a ServiceClient, the Flask Vluna extension or a callable returning one")


def _identity_source(vluna: Any) -> Optional[Callable[[], ContextLike]]:
    identity = getattr(vluna, "identity", None)
    if identity is None or not callable(identity):
        return None

    def from_identity() -> ContextLike:
        return cast(ContextLike, vluna._current_identity() if hasattr(vluna, "_current_identity") else identity())

    return from_identity


class LLMGate:
    """One gate policy for model calls: where to find Vluna, which feature each model maps to, how to meter.

    Build one per process (it is thread-safe) and hand it to an adapter, or let ``gate_openai(...)`` /
    ``gate_anthropic(...)`` build it from the same keyword arguments.

    Args:
        vluna: A :class:`~vluna_client.ServiceClient`, a callable returning one (``contrib.django.get_client``),
            or the Flask ``Vluna`` extension (its client, and its identity function as the context).
        feature_code: The feature of every model call unless ``features`` or the context says otherwise.
        features: Model name -> feature code (exact names; a key ending in ``*`` matches a prefix), or a
            callable ``(model) -> feature code``.
        meters: Meter codes per kind of token (:class:`~vluna_client.contrib.llm_usage.MeterCodes`).
        context: A callable returning the current payer (a :class:`GateContext`, a mapping of its fields, or an
            identity tuple ``(principal_id, user_id)``), used when no call or block sets one.
        estimate: ``(api, request kwargs) -> tokens`` for authorize's ``estimated_quantity_minor``
            (:func:`default_estimate`); ``None`` sends no estimate.
        on_early_close: What a stream closed before its usage arrived does: ``"drain"`` (default) reads the
            provider's stream to its end without passing it on, then commits the usage the provider bills;
            ``"cancel"`` gives the lease back at once (nothing is charged for what the provider generated).
        strict: Strict money (default on): a commit the server recorded without charging it raises
            :class:`UnappliedChargeError` (off: it is logged at ERROR level).
        labels: Labels sent with every authorize and commit (the context's labels are merged over them).
    """

    def __init__(
        self,
        vluna: Any,
        *,
        feature_code: Optional[str] = None,
        features: Union[Mapping[str, str], Callable[[str], Optional[str]], None] = None,
        meters: Optional[MeterCodes] = None,
        context: Optional[Callable[[], ContextLike]] = None,
        estimate: Optional[Callable[[str, Mapping[str, Any]], Optional[int]]] = default_estimate,
        on_early_close: str = "drain",
        strict: bool = True,
        labels: Optional[Mapping[str, str]] = None,
    ) -> None:
        if on_early_close not in ("drain", "cancel"):
            raise ConfigurationError('on_early_close must be "drain" or "cancel"')
        if feature_code is None and features is None:
            raise ConfigurationError("an LLM gate needs feature_code= or features= (model -> feature code)")
        self._client = _client_source(vluna)
        self._context = context if context is not None else _identity_source(vluna)
        self.feature_code = feature_code
        self.features = features
        self.meters = meters if meters is not None else MeterCodes()
        self.estimate = estimate
        self.on_early_close = on_early_close
        self.strict = strict
        self.labels = dict(labels or {})

    @property
    def client(self) -> ServiceClient:
        """The Vluna service client in use."""
        return self._client()

    def context(self, **fields: Any) -> contextlib.AbstractContextManager[GateContext]:
        """The same as :func:`gate_context`: ``with gate.context(principal_id=..., user_id=...):``."""
        return gate_context(**fields)

    # -- resolution ------------------------------------------------------------------------------------------

    def resolve_context(self, call_context: ContextLike = None) -> GateContext:
        """The effective context of a call (see the module docstring for the order).

        Raises:
            MissingGateContextError: no principal and user could be found.
        """
        found = _CONTEXT.get()
        if found is None and self._context is not None:
            found = _as_context(self._context(), where="the gate's context callable")
        explicit = _as_context(call_context, where="vluna_context")
        effective = found.merged(explicit) if found is not None else explicit
        if effective is None or not effective.principal_id or not effective.user_id:
            raise MissingGateContextError(
                "no payer for this gated model call: pass vluna_context={'principal_id': ..., 'user_id': ...}, "
                "wrap the call in `with gate_context(principal_id=..., user_id=...)`, or give the gate a context="
            )
        return effective

    def feature_for(self, model: Optional[str], context: GateContext) -> str:
        """The feature code of a call to ``model``."""
        if context.feature_code:
            return context.feature_code
        if self.features is not None and model:
            if callable(self.features):
                code = self.features(model)
                if code:
                    return code
            else:
                if model in self.features:
                    return self.features[model]
                prefixes = [k for k in self.features if k.endswith("*") and model.startswith(k[:-1])]
                if prefixes:
                    return self.features[max(prefixes, key=len)]
        if self.feature_code:
            return self.feature_code
        raise ConfigurationError(f"no feature code for model {model!r}: add it to features= or set feature_code=")

    # -- one call --------------------------------------------------------------------------------------------

    def begin(self, api: str, request: Mapping[str, Any], *, call_context: ContextLike = None) -> GatedCall:
        """Authorize one model call (before anything reaches the provider) and return its :class:`GatedCall`.

        A refusal (402, 403, 429...) raises here, so the provider is never called.
        """
        ctx = self.resolve_context(call_context)
        model = request.get("model")
        model_name = str(model) if model is not None else None
        feature = self.feature_for(model_name, ctx)
        labels = {**self.labels, **({"model": model_name} if model_name else {}), **dict(ctx.labels or {})}
        estimate = self.estimate(api, request) if self.estimate is not None else None
        lease = self.client.lease(
            feature_code=feature,
            principal_id=ctx.principal_id,
            user_id=ctx.user_id,
            estimated_quantity_minor=estimate,
            feature_family_code=ctx.feature_family_code,
            budget_id=ctx.budget_id,
            labels=labels or None,
        )
        lease.open()
        return GatedCall(self, lease, feature, labels)


class GatedCall:
    """One authorized model call: commit its usage once, or cancel it. Thread-safe; settling twice is a no-op."""

    def __init__(self, gate: LLMGate, lease: Lease, feature_code: str, labels: Mapping[str, str]) -> None:
        self.gate = gate
        self.lease = lease
        self.feature_code = feature_code
        self.labels = dict(labels)
        self._lock = threading.Lock()
        self._settled = False
        self.usage: Optional[TokenUsage] = None
        """The usage committed, once committed."""

    @property
    def settled(self) -> bool:
        """True once committed or cancelled (or once either was attempted)."""
        return self._settled

    def commit(self, usage: TokenUsage) -> Optional[Result[CommitResponse]]:
        """Commit ``usage`` (total as ``quantity_minor``, one meter per kind), then apply strict money.

        Returns ``None`` when the call was already settled.
        """
        with self._lock:
            if self._settled:
                return None
            self._settled = True
        meters = self.gate.meters.meters(usage, self.feature_code)
        _check_meters(usage.total, meters)
        self.usage = usage
        try:
            result = self.lease.commit(quantity_minor=usage.total, meters=meters, labels=self.labels or None)
        except BaseException:
            self.lease.close()  # refused before anything was recorded: give the lease back; unknown: keep it
            raise
        check_commit(result, strict=self.gate.strict)
        return result

    def commit_response(self, usage: Optional[TokenUsage], response: Any) -> None:
        """Commit a provider answer's usage; no usage cancels loudly. A commit error carries ``provider_response``."""
        if usage is None:
            self.no_usage("the provider's answer carried no usage")
            return
        try:
            self.commit(usage)
        except VlunaError as exc:
            exc.provider_response = response  # type: ignore[attr-defined]
            raise

    def cancel(self, reason: str) -> None:
        """Give the lease back (best effort, never raises)."""
        with self._lock:
            if self._settled:
                return
            self._settled = True
        logger.debug("vluna lease %s: cancelled (%s)", self.lease.lease_id, reason)
        self.lease.close()

    def no_usage(self, reason: str) -> None:
        """The provider returned no usage to commit: cancel, and say so loudly (the provider may bill it)."""
        if not self._settled:
            logger.warning(
                "vluna lease %s: %s; the lease is cancelled and nothing is charged for tokens the provider may bill",
                self.lease.lease_id,
                reason,
            )
        self.cancel(reason)


def billable_tool(
    gate: LLMGate,
    feature_code: str,
    *,
    quantity_minor: Union[int, Callable[[Any], int]] = 1,
    estimated_quantity_minor: Optional[int] = None,
) -> Callable[[F], F]:
    """Decorate a tool function so each call is gated under its own feature code (separately from model calls).

    The payer comes from the same context as model calls. Each call authorizes, runs the tool, commits
    ``quantity_minor`` (an int, or a function of the tool's return value), or cancels if the tool raises; a
    refusal raises before the tool runs, so a function-calling loop can hand the error back to the model.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def gated_tool(*args: Any, **kwargs: Any) -> Any:
            ctx = gate.resolve_context()
            labels = {**gate.labels, "tool": fn.__name__, **dict(ctx.labels or {})}
            lease = gate.client.lease(
                feature_code=feature_code,
                principal_id=ctx.principal_id,
                user_id=ctx.user_id,
                estimated_quantity_minor=estimated_quantity_minor,
                feature_family_code=ctx.feature_family_code,
                budget_id=ctx.budget_id,
                labels=labels,
            )
            with lease:
                value = fn(*args, **kwargs)
                used = quantity_minor(value) if callable(quantity_minor) else quantity_minor
                check_commit(lease.commit(quantity_minor=used, labels=labels), strict=gate.strict)
            return value

        return cast(F, gated_tool)

    return decorate
