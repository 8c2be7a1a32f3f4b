"""Flask: gated *streamed* views, the lease handed to the response body.

::

    from vluna_client.contrib.flask_stream import gated_stream

    @app.post("/report")
    @gated_stream(vluna, "reports.render", estimate=lambda request: 10 * len(request.get_json()["pages"]))
    def report():
        def body():
            for page in render_pages():
                yield page
            g.vluna_lease.commit(quantity_minor=pages_rendered)
        return body()

The view returns an iterable (or a ``Response`` whose body is one). The lease, authorized before the view runs
(a refusal answers the app's JSON 402, 403 or 429, nobody signed in a JSON 401), is exposed as ``g.vluna_lease``
and settled by a :class:`~vluna_client.contrib.streaming.LeasedBody` when the stream ends, fails, is closed
(disconnect) or is dropped by a failing hook: cancelled unless the body committed. The body runs inside
``stream_with_context``, so ``g`` and ``request`` stay available in it.

For an LLM stream this decorator is not needed: a gated OpenAI or Anthropic stream owns its own lease (see
``docs/guides/openai.md``); ``Response(stream_with_context(stream.iter_text()))`` is enough.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union, cast

from flask import Request, Response, request, stream_with_context

from ._gating import Gate, run_streamed
from .flask import _FlaskHost
from .streaming import LeasedBody

if TYPE_CHECKING:
    from .._lease import Lease

__all__ = ["gated_stream"]

F = TypeVar("F", bound=Callable[..., Any])

Estimate = Union[int, Callable[[Request], Optional[int]], None]


def gated_stream(vluna: Any, feature_code: str, *, estimate: Estimate = None, **lease_options: Any) -> Callable[[F], F]:
    """Decorate a streaming view so its lease lives as long as its response body.

    Args:
        vluna: The app's ``vluna_client.contrib.flask.Vluna`` extension (client and identity).
        feature_code: The gated feature.
        estimate: ``estimated_quantity_minor``: a number, or ``fn(request)`` computing it from the request.
        **lease_options: Further lease arguments (``budget_id``, ``labels``, ``feature_family_code``, ``timeout``).
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def gated_view(*args: Any, **kwargs: Any) -> Any:
            gate = Gate(
                feature_code, functools.partial(estimate, request) if callable(estimate) else estimate, lease_options
            )
            # A refusal of the authorize raises from run_streamed: the app's 402/403/429 handlers answer it.
            return run_streamed(gate, _FlaskHost(vluna), lambda: view(*args, **kwargs), _leased_response)

        return cast(F, gated_view)

    return decorate


def _leased_response(lease: Lease, result: Any) -> Response:
    """The view's result with its body (a ``Response``'s, or the iterable itself) settling ``lease`` when it ends."""
    if isinstance(result, Response):
        result.response = stream_with_context(LeasedBody(lease, result.response))  # type: ignore[assignment,type-var]
        return result
    return Response(stream_with_context(LeasedBody(lease, result)))
