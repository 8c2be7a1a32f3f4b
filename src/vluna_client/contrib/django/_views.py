"""Gated views (decorator and mixin) and the middleware that answers refusals as JSON (401, 402, 403, 429)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Optional, TypeVar, Union, cast

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse

from ..._errors import PaymentRequiredError, PermissionDeniedError, RateLimitError
from .._gating import Gate, run_gated
from .._glue import ANSWERED, Identity, check_identity, refusal_answer, refusal_body, retry_after_header
from ._client import get_client, identity_function, vluna_settings

if TYPE_CHECKING:
    from ..._client import ServiceClient
    from ..._lease import Lease

__all__ = [
    "GatedViewMixin",
    "VlunaMiddleware",
    "gated",
    "payment_required_response",
    "permission_denied_response",
    "rate_limited_response",
]

F = TypeVar("F", bound=Callable[..., Any])


def payment_required_response(exc: PaymentRequiredError) -> JsonResponse:
    """The JSON 402 answer for a refusal: ``{"ok": false, "code", "message", "hints": [{"type", ...}]}``."""
    return JsonResponse(refusal_body(exc), status=402)


def rate_limited_response(exc: RateLimitError) -> JsonResponse:
    """The JSON 429 answer for a rate limit, with ``Retry-After`` (whole seconds) when the wait is known."""
    response = JsonResponse(refusal_body(exc), status=429)
    for name, value in retry_after_header(exc).items():
        response[name] = value
    return response


def permission_denied_response(exc: PermissionDeniedError) -> JsonResponse:
    """The JSON 403 answer for a permission refusal (entitlement, quota, account), with the server's hints."""
    return JsonResponse(refusal_body(exc), status=403)


def _json(status: int, body: dict[str, Any], headers: dict[str, str]) -> JsonResponse:
    response = JsonResponse(body, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def refusal_response(exc: BaseException) -> Optional[JsonResponse]:
    """The JSON answer (401, 402, 403 or 429) for what the glue answers, ``None`` for any other exception."""
    answer = refusal_answer(exc)
    return None if answer is None else _json(*answer)


class DjangoHost:
    """One Django request, as :func:`~vluna_client.contrib._gating.run_gated` sees it.

    Refusals are answered here too (``answered``), so a gated view refuses cleanly without
    :class:`VlunaMiddleware`; the lease is cancelled first.
    """

    answered: tuple[type[BaseException], ...] = ANSWERED

    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    def identity(self) -> Optional[Identity]:
        """The payer ``settings.VLUNA["IDENTITY"]`` names for the request (checked)."""
        return check_identity(identity_function()(self.request), source='settings.VLUNA["IDENTITY"]')

    def client(self) -> ServiceClient:
        """The process-wide client."""
        return get_client()

    def attach(self, lease: Lease) -> None:
        """``request.vluna_lease``."""
        self.request.vluna_lease = lease

    def answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> JsonResponse:
        """A JSON response."""
        return _json(status, body, headers)


def _run_gated(
    request: HttpRequest,
    feature_code: str,
    estimated_quantity_minor: Optional[Union[int, str]],
    lease_options: dict[str, Any],
    view: Callable[[], Any],
    refuse_shortfall: Optional[bool] = None,
) -> Any:
    if refuse_shortfall is None:
        refuse_shortfall = bool(vluna_settings().get("REFUSE_SHORTFALL", False))
    gate = Gate(feature_code, estimated_quantity_minor, lease_options, refuse_shortfall)
    return run_gated(gate, DjangoHost(request), view)


def gated(
    feature_code: str,
    *,
    estimated_quantity_minor: Optional[Union[int, str]] = None,
    refuse_shortfall: Optional[bool] = None,
    **lease_options: Any,
) -> Callable[[F], F]:
    """Decorate a function view so it runs inside an authorized gate lease, exposed as ``request.vluna_lease``.

    The lease is authorized for the payer that ``settings.VLUNA["IDENTITY"]`` returns. Commit inside the view with
    ``request.vluna_lease.commit(quantity_minor=...)``. A view that raises, or returns without committing, has its
    lease cancelled (best effort). A refusal from authorize or from the view's own calls answers a JSON 402, 403 or
    429 (with ``Retry-After``); no signed-in payer (the identity function returned ``None``, or a gated model call
    in the view found no payer) answers a JSON 401. Other errors propagate.

    Works on methods of class-based views through ``django.utils.decorators.method_decorator``.

    Args:
        feature_code: The gated feature, e.g. ``"llm.chat"``.
        estimated_quantity_minor: Expected usage, so the server can check funding up front.
        refuse_shortfall: Answer 402 (lease given back, view not run) when authorize reports a
            ``funding.xusd_shortfall``; ``None`` follows ``settings.VLUNA["REFUSE_SHORTFALL"]`` (default false:
            the view runs, as the server lets it).
        **lease_options: Further :meth:`ServiceClient.lease` arguments (``budget_id``, ``labels``,
            ``feature_family_code``, ``timeout``).
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def gated_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            return _run_gated(
                request,
                feature_code,
                estimated_quantity_minor,
                lease_options,
                lambda: view(request, *args, **kwargs),
                refuse_shortfall,
            )

        return cast(F, gated_view)

    return decorate


class GatedViewMixin:
    """Mixin for class-based views: every request the view dispatches runs inside a lease.

    Put it first among the bases and set the class attributes::

        class SummarizeView(GatedViewMixin, View):
            vluna_feature_code = "llm.summarize"
            vluna_estimated_quantity_minor = 1000

            def post(self, request):
                ...
                request.vluna_lease.commit(quantity_minor=used)
                return JsonResponse({...})

    To gate only some methods, decorate them instead: ``@method_decorator(gated("llm.summarize"), name="post")``.
    """

    vluna_feature_code: ClassVar[Optional[str]] = None
    """The gated feature code (required)."""
    vluna_estimated_quantity_minor: ClassVar[Optional[Union[int, str]]] = None
    """Expected usage per request, or ``None``."""
    vluna_lease_options: ClassVar[dict[str, Any]] = {}
    """Further :meth:`ServiceClient.lease` arguments."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Run the view's handler inside an authorized lease (see :func:`gated`)."""
        feature_code = self.vluna_feature_code
        if not feature_code:
            raise ImproperlyConfigured(f"{type(self).__name__} must set vluna_feature_code")
        parent = super().dispatch  # type: ignore[misc]
        return _run_gated(
            request,
            feature_code,
            self.vluna_estimated_quantity_minor,
            dict(self.vluna_lease_options),
            lambda: parent(request, *args, **kwargs),
        )


class VlunaMiddleware:
    """Answers refusals raised by any view as JSON: 402 payment, 403 permission, 429 rate limit, 401 no payer.

    A :class:`~vluna_client.RateLimitError` answer carries ``Retry-After`` when the wait is known; a gated model
    call that found no payer (:class:`~vluna_client.contrib.llm.MissingGateContextError`) answers 401. Add
    ``"vluna_client.contrib.django.VlunaMiddleware"`` to ``MIDDLEWARE``. Every other exception is left to
    Django (and to the middleware after this one).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Pass the request on unchanged."""
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> Optional[HttpResponse]:
        """The JSON answer for a refusal (see the class); ``None`` (let Django handle it) otherwise."""
        return refusal_response(exception)
