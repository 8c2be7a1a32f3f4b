"""Django glue: add ``"vluna_client.contrib.django"`` to ``INSTALLED_APPS``.

Settings (each key falls back to the ``VLUNA_<KEY>`` environment variable)::

    VLUNA = {
        "SERVICE_BASE_URL": "https://<your-vluna>/mgt/v1",
        "REALM_ID": "...",
        "SERVICE_KEY_ID": "pk-...",
        "SERVICE_KEY_SECRET": "...",            # base64, as issued; better left to the environment
        "IDENTITY": "myapp.billing.current_payer",
        "TIMEOUT": 10,                           # optional, seconds
    }

``IDENTITY`` names a function ``current_payer(request)`` returning ``(principal_id, user_id)`` of the signed-in
payer, or ``None`` when nobody is signed in. ``manage.py check`` reports missing or malformed settings as
``vluna.E001``... (the secret is never shown).

- :func:`get_client` returns the process-wide :class:`~vluna_client.ServiceClient`;
- :func:`gated` (function views) and :class:`GatedViewMixin` (class-based views) run a view inside a lease exposed
  as ``request.vluna_lease``; a view that raises or returns without committing has its lease cancelled;
- :func:`gated_stream` does the same for streamed views, handing the lease to the ``StreamingHttpResponse`` body
  (settled when the body ends, fails or is closed);
- a refusal (:class:`~vluna_client.PaymentRequiredError`) in a gated view answers a JSON 402, a
  :class:`~vluna_client.RateLimitError` a JSON 429 with ``Retry-After``, a
  :class:`~vluna_client.PermissionDeniedError` a JSON 403, a gated model call that finds no payer
  (:class:`~vluna_client.contrib.llm.MissingGateContextError`) a JSON 401; add :class:`VlunaMiddleware` to
  ``MIDDLEWARE`` to answer the same for those raised by any other view. ``REFUSE_SHORTFALL`` (or
  ``gated(refuse_shortfall=True)``) answers 402 when authorize reports a ``funding.xusd_shortfall``;
- ``CLIENT``, ``RETRY`` and ``TRANSPORT`` keys hand over the client (or a factory), or shape the one built from
  the credentials; ``TEST_RUNNER = "vluna_client.contrib.django.testing.EmulatorTestRunner"`` runs
  ``manage.py test`` against the emulator;
- other errors propagate to Django's handlers unchanged; an :class:`~vluna_client.OutcomeUnknownError` is never
  turned into a refusal, since the work may have been charged.
"""

from __future__ import annotations

from ._client import get_client
from ._stream import gated_stream
from ._views import (
    GatedViewMixin,
    VlunaMiddleware,
    gated,
    payment_required_response,
    permission_denied_response,
    rate_limited_response,
)

__all__ = [
    "GatedViewMixin",
    "VlunaMiddleware",
    "gated",
    "gated_stream",
    "get_client",
    "payment_required_response",
    "permission_denied_response",
    "rate_limited_response",
]
