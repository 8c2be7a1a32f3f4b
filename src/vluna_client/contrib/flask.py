"""Flask glue: one shared client per app, ``@vluna.gated`` views, and JSON 402 answers.

::

    vluna = Vluna(app, identity=current_payer)      # current_payer() -> (principal_id, user_id) or None

    @app.post("/summarize")
    @vluna.gated("llm.summarize", estimated_quantity_minor=1000)
    def summarize():
        ...                                          # the paid work
        g.vluna_lease.commit(quantity_minor=used)
        return {...}

Configuration comes from ``app.config`` (``VLUNA_SERVICE_BASE_URL``, ``VLUNA_REALM_ID``, ``VLUNA_SERVICE_KEY_ID``,
``VLUNA_SERVICE_KEY_SECRET``, optional ``VLUNA_TIMEOUT`` in seconds), each falling back to the environment variable
of the same name; ``Vluna(retry=..., transport=...)`` configure the client built from it. Or hand the extension
your own client (``Vluna(app, client=client)``) or a factory for it (``client=make_client``): then no setting is
read.

What reaches the client of your app:

- a refusal (:class:`~vluna_client.PaymentRequiredError`, 402), from authorize or from any call your view makes,
  becomes ``402 {"ok": false, "code", "message", "hints"}`` through an error handler that :meth:`Vluna.init_app`
  registers for the whole app (register your own handler for ``PaymentRequiredError`` to change it);
- a :class:`~vluna_client.RateLimitError` becomes ``429`` with the same body and a ``Retry-After`` header (whole
  seconds) when the server said how long to wait;
- a :class:`~vluna_client.PermissionDeniedError` (403: an entitlement, quota or account refusal) becomes ``403``
  with the same body;
- a gated model call (``vluna_client.contrib.openai`` / ``.anthropic`` / ``.langchain``) that finds no payer
  (:class:`~vluna_client.contrib.llm.MissingGateContextError`, e.g. nobody signed in) becomes the same ``401`` as a
  gated view without a signed-in payer;
- an authorize that passes with a ``funding.xusd_shortfall`` hint (the payer's balance does not cover the
  estimate; the server lets it through and records the debt) runs the view as usual, unless the extension or the
  view says ``refuse_shortfall=True``: then the lease is given back and the view answers ``402`` with the hints;
- a gated view reached while the identity callable returns ``None`` answers ``401`` with the same body shape;
- every other error propagates to your app's handlers unchanged (a 500 unless you handle it). In particular
  :class:`~vluna_client.OutcomeUnknownError` (a commit whose outcome was lost) is never turned into a refusal:
  the work may have been charged.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union, cast

from flask import Flask, Response, current_app, g, has_app_context, jsonify

from .._client import ServiceClient
from .._errors import ConfigurationError, PaymentRequiredError, PermissionDeniedError, RateLimitError
from .._retry import Retrier, RetryPolicy
from .._timeout import parse_timeout
from .._transport import Transport
from ._gating import Gate, run_gated
from ._glue import (
    ClientHolder,
    ClientSource,
    Identity,
    build_client,
    check_identity,
    client_factory,
    refusal_answer,
    refusal_body,
    resolve_settings,
    retry_after_header,
)
from .llm import MissingGateContextError

if TYPE_CHECKING:
    from .._lease import Lease

__all__ = ["Vluna", "payment_required_response", "permission_denied_response", "rate_limited_response"]

logger = logging.getLogger("vluna_client")

F = TypeVar("F", bound=Callable[..., Any])
_Headers = dict[str, str]

_EXTENSION = "vluna"


def payment_required_response(exc: PaymentRequiredError) -> tuple[Response, int]:
    """The JSON 402 answer for a refusal: ``{"ok": false, "code", "message", "hints": [{"type", ...}]}``."""
    return jsonify(refusal_body(exc)), 402


def rate_limited_response(exc: RateLimitError) -> tuple[Response, int, dict[str, str]]:
    """The JSON 429 answer for a rate limit, with ``Retry-After`` (whole seconds) when the wait is known."""
    return jsonify(refusal_body(exc)), 429, retry_after_header(exc)


def permission_denied_response(exc: PermissionDeniedError) -> tuple[Response, int, dict[str, str]]:
    """The JSON 403 answer for a permission refusal (entitlement, quota, account), with the server's hints."""
    return _answer(exc)


def _answer(exc: Exception) -> tuple[Response, int, dict[str, str]]:
    answer = refusal_answer(exc)
    if answer is None:  # only registered for the classes refusal_answer knows
        raise exc
    status, body, headers = answer
    return jsonify(body), status, headers


class Vluna:
    """The Flask extension: ``Vluna(app, identity=fn)`` or ``vluna = Vluna(identity=fn)`` then ``init_app(app)``.

    Args:
        app: The app to set up now; omit it with the application-factory pattern and call :meth:`init_app`.
        identity: Called inside a request with no arguments; returns ``(principal_id, user_id)`` of the signed-in
            payer, or ``None`` when nobody is signed in. Take it from your session or login system, never from a
            header the caller controls. There is no default: a gated view without one raises ConfigurationError.
        client: A :class:`ServiceClient` to use, or a callable building one on first use (per app); the app's
            configuration is then not read. Tests pass an emulator's client with fast retries this way.
        retry: The retry policy (or :class:`~vluna_client.Retrier`) of the client built from the configuration.
        transport: The transport of the client built from the configuration.
        refuse_shortfall: Refuse (402, with the hints) an authorize that reports a ``funding.xusd_shortfall``
            instead of running the view; each :meth:`gated` view may say otherwise.

    Raises:
        ConfigurationError: ``client`` is given with ``retry`` or ``transport``, or is not a client or a callable.
    """

    def __init__(
        self,
        app: Optional[Flask] = None,
        *,
        identity: Optional[Callable[[], Optional[Identity]]] = None,
        client: Optional[ClientSource] = None,
        retry: Union[RetryPolicy, Retrier, None] = None,
        transport: Optional[Transport] = None,
        refuse_shortfall: bool = False,
    ):
        self.identity = identity
        self.refuse_shortfall = refuse_shortfall
        self._app = app
        self._retry = retry
        self._transport = transport
        self._client_source = client
        client_factory(client, ServiceClient.from_env, retry=retry, transport=transport, where="Vluna")  # refuse now
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Attach to ``app``: register the JSON 401/402/403/429 error handlers and a lazily built client for this app.

        Raises:
            ConfigurationError: ``VLUNA_TIMEOUT`` is already set and is not a usable timeout (see
                :func:`vluna_client.parse_timeout`), so a bad value fails at start-up, not on the first request.
        """
        timeout = app.config.get("VLUNA_TIMEOUT")
        if timeout is not None and timeout != "":
            parse_timeout(timeout, name="VLUNA_TIMEOUT")
        from_config = functools.partial(_client_for, app, self._retry, self._transport)
        factory = client_factory(
            self._client_source, from_config, retry=self._retry, transport=self._transport, where="Vluna"
        )
        app.extensions[_EXTENSION] = ClientHolder(factory)
        app.register_error_handler(PaymentRequiredError, payment_required_response)
        app.register_error_handler(RateLimitError, rate_limited_response)
        app.register_error_handler(PermissionDeniedError, permission_denied_response)
        app.register_error_handler(MissingGateContextError, _answer)

    @property
    def client(self) -> ServiceClient:
        """The app's one :class:`ServiceClient`, built on first use from its configuration (thread-safe)."""
        app = current_app._get_current_object() if has_app_context() else self._app  # type: ignore[attr-defined]
        if app is None:
            raise RuntimeError("vluna.client needs an app: use it inside an app context or pass the app to Vluna()")
        holder = cast(Optional[ClientHolder], app.extensions.get(_EXTENSION))
        if holder is None:
            raise RuntimeError("this Flask app was not set up with Vluna.init_app(app)")
        return holder.get()

    def gated(
        self,
        feature_code: str,
        *,
        estimated_quantity_minor: Optional[Union[int, str]] = None,
        refuse_shortfall: Optional[bool] = None,
        **lease_options: Any,
    ) -> Callable[[F], F]:
        """Decorate a view so it runs inside an authorized gate lease, exposed as ``flask.g.vluna_lease``.

        The lease is authorized for the identity's payer before the view runs. Commit the measured usage with
        ``g.vluna_lease.commit(quantity_minor=...)`` inside the view. If the view raises, or returns without
        committing, the lease is cancelled (best effort) and nothing is charged. A refusal becomes a JSON 402.

        Args:
            feature_code: The gated feature, e.g. ``"llm.chat"``.
            estimated_quantity_minor: Expected usage, so the server can check funding up front.
            refuse_shortfall: Answer 402 (lease given back, view not run) when authorize reports a
                ``funding.xusd_shortfall``; ``None`` follows the extension's setting.
            **lease_options: Further :meth:`ServiceClient.lease` arguments (``budget_id``, ``labels``,
                ``feature_family_code``, ``timeout``).
        """
        refuse = self.refuse_shortfall if refuse_shortfall is None else refuse_shortfall

        gate = Gate(feature_code, estimated_quantity_minor, lease_options, refuse)

        def decorate(view: F) -> F:
            @functools.wraps(view)
            def gated_view(*args: Any, **kwargs: Any) -> Any:
                return run_gated(gate, _FlaskHost(self), lambda: view(*args, **kwargs))

            return cast(F, gated_view)

        return decorate

    def _current_identity(self) -> Optional[Identity]:
        if self.identity is None:
            raise ConfigurationError(
                "a @vluna.gated view ran but no identity is set: pass Vluna(identity=fn), where fn() returns "
                "(principal_id, user_id) of the signed-in payer from your session or login system"
            )
        return check_identity(self.identity(), source="the Vluna identity function")


def _client_for(app: Flask, retry: Union[RetryPolicy, Retrier, None], transport: Optional[Transport]) -> ServiceClient:
    settings = resolve_settings(lambda name: app.config.get("VLUNA_" + name), where="app.config")
    return build_client(settings, retry=retry, transport=transport)


class _FlaskHost:
    """The current Flask request, as :func:`~vluna_client.contrib._gating.run_gated` sees it.

    Refusals are left to the error handlers :meth:`Vluna.init_app` registers (``answered`` is empty).
    """

    answered: tuple[type[BaseException], ...] = ()

    def __init__(self, vluna: Vluna) -> None:
        self._vluna = vluna

    def identity(self) -> Optional[Identity]:
        """The payer the extension's identity function names (checked)."""
        return self._vluna._current_identity()

    def client(self) -> ServiceClient:
        """The app's client."""
        return self._vluna.client

    def attach(self, lease: Lease) -> None:
        """``flask.g.vluna_lease``."""
        g.vluna_lease = lease

    def answer(
        self, status: int, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[Response, int, dict[str, str]]:
        """A JSON response."""
        return jsonify(body), status, headers
