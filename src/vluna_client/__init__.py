"""vluna_client: a sync, typed client for the Vluna billing and usage-gate API.

Start with :class:`ServiceClient` (server-to-server, ``/mgt/v1``) or :class:`BearerClient` (end-user token,
``/api/v1``). API areas (``client.gate``, ``client.wallet``, ...) and their models load on first use, so this
import stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

if TYPE_CHECKING:
    from ._bulk import IngestOutcome, IngestProgress, IngestRow, InvalidRow
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
        LeaseRecoveredError,
        NotFoundError,
        OutcomeUnknownError,
        PaymentRequiredError,
        PendingWrite,
        PermissionDeniedError,
        RateLimitError,
        ResponseDecodeError,
        ServerError,
        ValidationError,
        VlunaError,
    )
    from ._keys import idempotency_key
    from ._lease import Lease, LeaseGate, LeaseState, LeaseTerms
    from ._open_enum import OpenEnum
    from ._page import Page
    from ._partition import PartitionCounts, ingest_partition
    from ._result import Hint, Result
    from ._retry import NO_RETRIES, Retrier, RetryPolicy
    from ._timeout import MAX_TIMEOUT, Timeout, parse_timeout
    from ._transport import RawResponse, RequestsTransport, Transport, TransportError

# Public names load on first access (PEP 562): importing vluna_client.testing, whose pytest plugin loads into
# every test run, must not pull in requests nor the client itself.
_LAZY = {
    "APIConnectionError": "._errors",
    "APIError": "._errors",
    "APITimeoutError": "._errors",
    "AuthenticationError": "._errors",
    "BearerClient": "._client",
    "ConfigurationError": "._errors",
    "ConflictError": "._errors",
    "Hint": "._result",
    "IngestOutcome": "._bulk",
    "IngestProgress": "._bulk",
    "IngestRow": "._bulk",
    "InputValidationError": "._errors",
    "InsufficientFundsError": "._errors",
    "InvalidRequestError": "._errors",
    "InvalidRow": "._bulk",
    "Lease": "._lease",
    "LeaseGate": "._lease",
    "LeaseState": "._lease",
    "LeaseTerms": "._lease",
    "MAX_TIMEOUT": "._timeout",
    "LeaseError": "._errors",
    "LeaseRecoveredError": "._errors",
    "NO_RETRIES": "._retry",
    "NotFoundError": "._errors",
    "OpenEnum": "._open_enum",
    "OutcomeUnknownError": "._errors",
    "Page": "._page",
    "PartitionCounts": "._partition",
    "PendingWrite": "._errors",
    "RawResponse": "._transport",
    "RequestsTransport": "._transport",
    "Retrier": "._retry",
    "PaymentRequiredError": "._errors",
    "PermissionDeniedError": "._errors",
    "RateLimitError": "._errors",
    "ResponseDecodeError": "._errors",
    "Result": "._result",
    "RetryPolicy": "._retry",
    "ServerError": "._errors",
    "ServiceClient": "._client",
    "Timeout": "._timeout",
    "Transport": "._transport",
    "TransportError": "._transport",
    "ValidationError": "._errors",
    "VlunaError": "._errors",
    "idempotency_key": "._keys",
    "ingest_partition": "._partition",
    "parse_timeout": "._timeout",
}

__all__ = [
    "MAX_TIMEOUT",
    "NO_RETRIES",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BearerClient",
    "ConfigurationError",
    "ConflictError",
    "Hint",
    "IngestOutcome",
    "IngestProgress",
    "IngestRow",
    "InputValidationError",
    "InsufficientFundsError",
    "InvalidRequestError",
    "InvalidRow",
    "Lease",
    "LeaseError",
    "LeaseGate",
    "LeaseRecoveredError",
    "LeaseState",
    "LeaseTerms",
    "NotFoundError",
    "OpenEnum",
    "OutcomeUnknownError",
    "Page",
    "PartitionCounts",
    "PaymentRequiredError",
    "PendingWrite",
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
    "ingest_partition",
    "parse_timeout",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
