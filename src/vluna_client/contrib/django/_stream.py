"""Django: gated *streamed* views, the lease handed to the ``StreamingHttpResponse`` body."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union, cast

from django.http import HttpRequest, StreamingHttpResponse

from .._gating import Gate, run_streamed
from ..streaming import LeasedBody
from ._views import DjangoHost

if TYPE_CHECKING:
    from ..._lease import Lease

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
            ask = functools.partial(estimate, request) if callable(estimate) else estimate
            gate = Gate(feature_code, ask, lease_options)
            return run_streamed(gate, DjangoHost(request), lambda: view(request, *args, **kwargs), _leased_response)

        return cast(F, gated_view)

    return decorate


def _leased_response(lease: Lease, result: Any) -> StreamingHttpResponse:
    """The view's streamed response (or its iterable, made one) with a body that settles ``lease`` when it ends."""
    if isinstance(result, StreamingHttpResponse):
        result.streaming_content = LeasedBody(lease, result.streaming_content)
        return result
    return StreamingHttpResponse(LeasedBody(lease, result))
