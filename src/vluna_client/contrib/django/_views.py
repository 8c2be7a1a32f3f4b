"""Gated views (decorator and mixin) and the middleware that answers refusals as JSON (401, 402, 403, 429)."""

from __future__ import annotations

import functools
from typing import Any, Callable, ClassVar, Optional, TypeVar, Union, cast

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse

from ..._errors import PaymentRequiredError, PermissionDeniedError, RateLimitError
from .._glue import (
    ANSWERED,
    NO_IDENTITY_BODY,
    check_identity,
    refusal_answer,
    refusal_body,
    retry_after_header,
    shortfall_body,
)
from ._client import get_client, identity_function, vluna_settings

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


def refusal_response(exc: BaseException) -> Optional[JsonResponse]:
    """The JSON answer (401, 402, 403 or 429) for what the glue answers, ``None`` for any other exception."""
    answer = refusal_answer(exc)
    if answer is None:
        return None
    status, body, headers = answer
    response = JsonResponse(body, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def _run_gated(
    request: HttpRequest,
    feature_code: str,
    estimated_quantity_minor: Optional[Union[int, str]],
    lease_options: dict[str, Any],
    view: Callable[[], Any],
    refuse_shortfall: Optional[bool] = None,
) -> Any:
    who = check_identity(identity_function()(request), source='settings.VLUNA["IDENTITY"]')
    if who is None:
        return JsonResponse(NO_IDENTITY_BODY, status=401)
    principal_id, user_id = who
    lease = get_client().lease(
        feature_code=feature_code,
        principal_id=principal_id,
        user_id=user_id,
        estimated_quantity_minor=estimated_quantity_minor,
        **lease_options,
    )
    if refuse_shortfall is None:
        refuse_shortfall = bool(vluna_settings().get("REFUSE_SHORTFALL", False))
    try:
        with lease:
            short = shortfall_body(lease.hints) if refuse_shortfall else None
            if short is not None:
                return JsonResponse(short, status=402)  # leaving the block without a commit gives the lease back
            request.vluna_lease = lease
            return view()
    except ANSWERED as exc:
        # Answered here too, so a gated view refuses cleanly without VlunaMiddleware; the lease is cancelled.
        return refusal_response(exc)


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
