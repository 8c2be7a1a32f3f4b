"""vluna_client: a sync, typed client for the Vluna billing and usage-gate API.

Start with :class:`ServiceClient` (server-to-server, ``/mgt/v1``) or :class:`BearerClient` (end-user token,
``/api/v1``). API areas (``client.gate``, ``client.wallet``, ...) and their models load on first use, so this
import stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._client import BearerClient, ServiceClient
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    InputValidationError,
    InsufficientFundsError,
    InvalidRequestError,
    LeaseError,
    NotFoundError,
    OutcomeUnknownError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    ValidationError,
    VlunaError,
)
from ._keys import idempotency_key
from ._lease import Lease
from ._open_enum import OpenEnum
from ._result import Hint, Page, Result
from ._retry import NO_RETRIES, Retrier, RetryPolicy
from ._transport import RawResponse, RequestsTransport, Timeout, Transport, TransportError

__all__ = [
    "NO_RETRIES",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BearerClient",
    "ConfigurationError",
    "ConflictError",
    "Hint",
    "InputValidationError",
    "InsufficientFundsError",
    "InvalidRequestError",
    "Lease",
    "LeaseError",
    "NotFoundError",
    "OpenEnum",
    "OutcomeUnknownError",
    "Page",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "RawResponse",
    "RequestsTransport",
    "ResponseDecodeError",
    "Result",
    "Retrier",
    "RetryPolicy",
    "ServerError",
    "ServiceClient",
    "Timeout",
    "Transport",
    "TransportError",
    "ValidationError",
    "VlunaError",
    "__version__",
    "idempotency_key",
]
