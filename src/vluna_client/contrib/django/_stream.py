"""Django: gated *streamed* views, the lease handed to the ``StreamingHttpResponse`` body."""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, TypeVar, Union, cast

from django.http import HttpRequest, JsonResponse, StreamingHttpResponse

from .._glue import ANSWERED, NO_IDENTITY_BODY, check_identity
from ..streaming import LeasedBody
from ._client import get_client, identity_function
from ._views import refusal_response

__all__ = ["gated_stream"]

F = TypeVar("F", bound=Callable[..., Any])

Estimate = Union[int, Callable[[HttpRequest], Optional[int]], None]


def gated_stream(feature_code: str, *, estimate: Estimate = None, **lease_options: Any) -> Callable[[F], F]:
    """Decorate a streaming function view so its lease lives as long as its response body.

    The view returns an iterable or a ``StreamingHttpResponse``; the lease (authorized before the view runs, as
    ``request.vluna_lease``) is settled by a :class:`~vluna_client.contrib.streaming.LeasedBody` when the body
    ends, fails, or Django closes the response (finished or disconnected): cancelled unless the body committed.
    A refusal from authorize answers a JSON 402, 403 or 429, nobody signed in a JSON 401.

    Args:
        feature_code: The gated feature.
        estimate: ``estimated_quantity_minor``: a number, or ``fn(request)`` computing it from the request.
        **lease_options: Further lease arguments (``budget_id``, ``labels``, ``feature_family_code``, ``timeout``).
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def gated_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            who = check_identity(identity_function()(request), source='settings.VLUNA["IDENTITY"]')
            if who is None:
                return JsonResponse(NO_IDENTITY_BODY, status=401)
            lease = get_client().lease(
                feature_code=feature_code,
                principal_id=who[0],
                user_id=who[1],
                estimated_quantity_minor=estimate(request) if callable(estimate) else estimate,
                **lease_options,
            )
            try:
                lease.open()
            except ANSWERED as exc:
                return refusal_response(exc)
            request.vluna_lease = lease
            try:
                result = view(request, *args, **kwargs)
            except BaseException as exc:
                lease.close(exc)
                raise
            if isinstance(result, StreamingHttpResponse):
                result.streaming_content = LeasedBody(lease, result.streaming_content)
                return result
            return StreamingHttpResponse(LeasedBody(lease, result))

        return cast(F, gated_view)

    return decorate
