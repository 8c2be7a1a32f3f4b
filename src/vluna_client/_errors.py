"""One exception hierarchy for everything the client can raise.

Every error that came from the server carries what a person needs to act on it: HTTP status, Vluna error code,
message, hints, meta, the operation, the Idempotency-Key that was sent and the request id when the server gave one.
None of them ever carries a header, the service-key secret or a bearer token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from ._result import Hint


class VlunaError(Exception):
    """Base class of every exception raised by vluna_client.

    Attributes:
        may_have_applied: True when the call was a write that may have taken effect on the server although it
            raised (an answer was lost, the server failed mid-way, or it succeeded but its answer was unreadable).
            Replay it with the same ``idempotency_key``; never send it again with a new key.
    """

    may_have_applied: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (Celery result backends, multiprocessing): rebuild them field by field,
        # since most take keyword-only arguments that the default exception pickling cannot pass back.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class ConfigurationError(VlunaError, ValueError):
    """The client is set up wrongly (missing base URL, malformed secret, bad timeout...)."""


class ValidationError(VlunaError, ValueError):
    """Invalid input, refused locally or by the server; catch this to handle both.

    :class:`InputValidationError` is raised before any I/O; :class:`InvalidRequestError` is the server's 400/422.

    ``field`` names the offending argument as a dotted path when known.
    """

    field: Optional[str] = None
    message: str = ""


class InputValidationError(ValidationError):
    """A call's arguments were refused before anything was sent; nothing happened on the server."""

    def __init__(self, message: str, *, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class LeaseError(VlunaError):
    """A gate lease was used in a way that could charge twice or lose usage (e.g. a second commit)."""


class APIError(VlunaError):
    """The server answered with an error envelope (any non-2xx status).

    Attributes:
        status: HTTP status code.
        code: Vluna error code such as ``AUTH.INVALID_SERVICE_SIGNATURE`` (``None`` if the body had none).
        message: The server's message.
        hints: Machine-readable hints the error carried (e.g. ``rate.limit``).
        meta: The envelope's ``meta`` mapping.
        operation: The client operation, e.g. ``gate.authorize``.
        idempotency_key: The key sent with the write, to retry it safely later.
        request_id: The server's request id, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: Optional[str] = None,
        hints: Sequence[Hint] = (),
        meta: Optional[Mapping[str, Any]] = None,
        operation: Optional[str] = None,
        idempotency_key: Optional[str] = None,
        request_id: Optional[str] = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.hints = tuple(hints)
        self.meta: Mapping[str, Any] = dict(meta or {})
        self.operation = operation
        self.idempotency_key = idempotency_key
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        parts = [f"{self.status}"]
        if self.code:
            parts.append(self.code)
        text = " ".join(parts) + (f": {self.message}" if self.message else "")
        extra = [f"operation={self.operation}"] if self.operation else []
        if self.idempotency_key:
            extra.append(f"idempotency_key={self.idempotency_key}")
        if self.request_id:
            extra.append(f"request_id={self.request_id}")
        if self.hints:
            extra.append("hints=" + ",".join(h.type for h in self.hints))
        return text + (f" ({', '.join(extra)})" if extra else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class AuthenticationError(APIError):
    """401: the signature, key or bearer token was refused, or a runtime binding was missing."""


class PermissionDeniedError(APIError):
    """403: authenticated, but not allowed (realm, account, entitlement, seat limit...)."""


class PaymentRequiredError(APIError):
    """402: funding, quota or budget does not allow the work; see ``hints`` for the shortfall."""


InsufficientFundsError = PaymentRequiredError


class NotFoundError(APIError):
    """404: unknown route, realm or resource."""


class ConflictError(APIError):
    """409: the Idempotency-Key was reused with a different body, or the resource changed."""

    @property
    def is_idempotency_conflict(self) -> bool:
        """True when the server refused a key reuse with a different body."""
        return self.code == "WRITE.INVALID_PAYLOAD"


class InvalidRequestError(APIError, ValidationError):
    """400/422: the server refused the request as invalid."""


class RateLimitError(APIError):
    """429: too many requests; nothing was done. ``retry_after`` is the wait the server asked for, when known."""

    def __init__(self, message: str, *, retry_after: Optional[float] = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self._retry_after = retry_after

    @property
    def retry_after(self) -> Optional[float]:
        """Seconds to wait, from the ``Retry-After`` header or the ``rate.limit`` hint."""
        if self._retry_after is not None:
            return self._retry_after
        for hint in self.hints:
            seconds = hint.get("seconds")
            if hint.type == "rate.limit" and isinstance(seconds, (int, float)):
                return float(seconds)
        return None


class ServerError(APIError):
    """5xx: the server failed.

    Raised as such only for reads. For a write, a 5xx may come after the work was done, so the client raises
    :class:`OutcomeUnknownError` instead (with this error as ``last_error``).
    """


class APIConnectionError(VlunaError):
    """No answer: the connection could not be made, or broke, or timed out.

    For a write this is raised only when the request certainly never reached the server (nothing happened; calling
    again is safe). When it may have arrived, a write raises :class:`OutcomeUnknownError` instead. For reads it is
    raised either way.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: Optional[str] = None,
        idempotency_key: Optional[str] = None,
        unsent: bool = False,
    ):
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.idempotency_key = idempotency_key
        self.unsent = unsent

    def __str__(self) -> str:
        extra = [f"operation={self.operation}"] if self.operation else []
        if self.idempotency_key:
            extra.append(f"idempotency_key={self.idempotency_key}")
        return self.message + (f" ({', '.join(extra)})" if extra else "")


class APITimeoutError(APIConnectionError):
    """The server did not answer within the timeout."""


class ResponseDecodeError(VlunaError):
    """The server accepted the call (2xx) but its answer did not match the expected shape.

    The call took effect: do not retry it with a new key. ``raw`` holds the decoded JSON (or text).
    """

    may_have_applied = True

    def __init__(
        self,
        message: str,
        *,
        status: int,
        raw: Any,
        operation: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.raw = raw
        self.operation = operation
        self.idempotency_key = idempotency_key


class OutcomeUnknownError(VlunaError):
    """A write may have taken effect, but the client could not learn whether it did.

    Raised instead of the last attempt's error when some attempt reached the server and its answer was lost (reset,
    read timeout), was a 5xx, or could not be trusted, and no later attempt succeeded. A later 429 or 4xx does not
    make the outcome known: the first attempt may have been applied all the same.

    What to do: replay the same call with ``idempotency_key`` (the server answers a replay of an applied write with
    its first result instead of applying it again), or look the resource up. Never call again with a new key.

    Attributes:
        operation: The client operation, e.g. ``gate.commit``.
        idempotency_key: The key every attempt carried; replay with it.
        last_error: The typed error of the final attempt (e.g. a :class:`RateLimitError`), or ``None``.
        attempts: How many attempts were sent.
    """

    may_have_applied = True

    def __init__(
        self,
        message: str,
        *,
        operation: Optional[str] = None,
        idempotency_key: Optional[str] = None,
        last_error: Optional[VlunaError] = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.idempotency_key = idempotency_key
        self.last_error = last_error
        self.attempts = attempts

    def __str__(self) -> str:
        extra = [f"operation={self.operation}"] if self.operation else []
        if self.idempotency_key:
            extra.append(f"idempotency_key={self.idempotency_key}")
        extra.append(f"attempts={self.attempts}")
        return self.message + f" ({', '.join(extra)})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(operation={self.operation!r}, idempotency_key={self.idempotency_key!r})"


class LeaseRecoveredError(VlunaError):
    """Authorize's answer was lost, and the client settled it: nothing was applied, no lease is held.

    Raised by :meth:`ServiceClient.lease` (on entering the block) when authorize may have opened a lease but its
    answer never arrived, and the client then replayed authorize with the same key, found the lease and gave it
    back. The outcome is known: nothing was charged and no quota is held, so ``may_have_applied`` is false and the
    work may be tried again (with a new lease). The lease's state is ``cancelled``.

    Attributes:
        operation: ``gate.authorize``.
        idempotency_key: The authorize's key (the replay used it too).
        lease_id: The lease that was found and given back, when the server named it.
        last_error: The error that left the first authorize's outcome unknown (an :class:`OutcomeUnknownError`).
    """

    def __init__(
        self,
        message: str,
        *,
        operation: Optional[str] = None,
        idempotency_key: Optional[str] = None,
        lease_id: Optional[str] = None,
        last_error: Optional[VlunaError] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.idempotency_key = idempotency_key
        self.lease_id = lease_id
        self.last_error = last_error

    def __str__(self) -> str:
        extra = [f"operation={self.operation}"] if self.operation else []
        if self.idempotency_key:
            extra.append(f"idempotency_key={self.idempotency_key}")
        if self.lease_id:
            extra.append(f"lease_id={self.lease_id}")
        return self.message + (f" ({', '.join(extra)})" if extra else "")


def _rebuild(cls: type[VlunaError], args: tuple[Any, ...], state: dict[str, Any]) -> VlunaError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidRequestError,
    429: RateLimitError,
}


def error_class(status: int) -> type[APIError]:
    """The exception class for an HTTP error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIError)
