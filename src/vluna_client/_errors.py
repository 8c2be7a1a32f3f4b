"""One exception hierarchy for everything the client can raise.

Every error that came from the server carries what a person needs to act on it: HTTP status, Vluna error code,
message, hints, meta, the operation, the Idempotency-Key that was sent and the request id when the server gave one.
None of them ever carries a header, the service-key secret or a bearer token.

:class:`PendingWrite`, the record of a write whose outcome is unknown, is defined here too: an
:class:`OutcomeUnknownError` carries one, and rebuilding an error from its JSON form rebuilds its record. Records
are made from sent calls by :mod:`._pending`, which imports this module (never the other way round).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

import attrs

from ._attrs_methods import shared_methods

if TYPE_CHECKING:
    from ._result import Hint


# Marks the field dictionary that an error's ``args`` carry after its message (see VlunaError).
_WIRE_MARK = "vluna_error"
_OWN_ARGS: Any = BaseException.__dict__["args"]  # the C-level slot, behind the ``args`` property below


class VlunaError(Exception):
    """Base class of every exception raised by vluna_client.

    Errors cross process boundaries whole. Pickled (multiprocessing, Celery's pickle serializer), every field comes
    back. Through JSON (Celery's default JSON result serializer, which sends only the class's module and name and
    ``args``), ``args`` is ``(message, fields)``: the fields that are plain JSON travel in the second item, and
    ``type(exc)(*exc.args)`` rebuilds an error of the same class with them (hints become :class:`Hint` objects
    again; a nested ``last_error`` and a ``pending`` record are rebuilt too). An error with no such field keeps
    ``args == (message,)``.

    Attributes:
        may_have_applied: True when the call was a write that may have taken effect on the server although it
            raised (an answer was lost, the server failed mid-way, or it succeeded but its answer was unreadable).
            Replay it with the same ``idempotency_key``; never send it again with a new key.
    """

    may_have_applied: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A subclass's own constructor takes keyword arguments; let it also take the (message, fields) form that
        # Celery's JSON result backend calls it with. functools.wraps keeps the signature users and docs see.
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def __init__(self: VlunaError, *args: Any, **kwargs: Any) -> None:
            if kwargs or not _restored(self, args):
                init(self, *args, **kwargs)

        setattr(cls, "__init__", __init__)  # noqa: B010 - assigning the attribute directly upsets mypy

    @property
    def args(self) -> tuple[Any, ...]:
        """``(message,)``, followed by the JSON-safe fields of the error when it has any."""
        own: tuple[Any, ...] = _OWN_ARGS.__get__(self)
        fields = _wire_fields(self)
        return (*own[:1], fields) if fields and len(own) == 1 else own

    @args.setter
    def args(self, value: tuple[Any, ...]) -> None:
        _OWN_ARGS.__set__(self, value)

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (Celery result backends, multiprocessing): rebuild them field by field,
        # since most take keyword-only arguments that the default exception pickling cannot pass back.
        return (_rebuild, (type(self), _OWN_ARGS.__get__(self), dict(self.__dict__)))


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
        pending: The write as it was sent (operation, arguments, key, bindings; no credentials), as a
            :class:`~vluna_client.PendingWrite`: ``client.replay(exc.pending)`` settles it, here or in another
            process (``exc.pending.to_dict()`` is plain JSON for a task queue). ``None`` for a call sent without an
            Idempotency-Key (the server does not deduplicate it, so a replay could apply it twice) or raised by hand.
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
        pending: Optional[PendingWrite] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.idempotency_key = idempotency_key
        self.last_error = last_error
        self.attempts = attempts
        self.pending = pending

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


#: The version of :class:`PendingWrite`'s dictionary form; :meth:`PendingWrite.from_dict` refuses any other.
RECORD_VERSION = 1


@shared_methods(frozen=True)
@attrs.frozen(repr=False, eq=False)
class PendingWrite:
    """A write that may or may not have been applied, with everything needed to send it again identically.

    Build one from ``exc.pending`` of an :class:`~vluna_client.OutcomeUnknownError`, or from its dictionary form
    with :meth:`from_dict`; settle it with :meth:`ServiceClient.replay` (or :meth:`BearerClient.replay`).

    Attributes:
        operation: The client operation, e.g. ``gate.commit``.
        surface: ``service`` or ``bearer``: the client that can replay it.
        realm_id: The realm it was sent to.
        idempotency_key: The key every attempt carried; the replay carries it too.
        path: Path parameters by wire name.
        query: Query parameters by wire name, as given to the call.
        body: The JSON body exactly as it was sent (``None`` for a body-less request).
        bindings: The context values that were sent (``principal_id``, ``user_id``, ...), bound ones included.
    """

    operation: str
    surface: str
    realm_id: str
    idempotency_key: str
    path: Mapping[str, Any] = attrs.field(factory=dict)
    query: Mapping[str, Any] = attrs.field(factory=dict)
    body: Any = None
    bindings: Mapping[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON types (what a task queue or a database column can hold)."""
        return {
            "version": RECORD_VERSION,
            "operation": self.operation,
            "surface": self.surface,
            "realm_id": self.realm_id,
            "idempotency_key": self.idempotency_key,
            "path": dict(self.path),
            "query": dict(self.query),
            "body": self.body,
            "bindings": dict(self.bindings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingWrite:
        """Rebuild a record from :meth:`to_dict`'s form (e.g. after JSON went through a queue).

        Raises:
            InputValidationError: ``data`` is not such a record (wrong version, a field missing or of the wrong
                type).
        """
        if not isinstance(data, Mapping):
            raise InputValidationError("pending write: expected a mapping from PendingWrite.to_dict()", field="record")
        if data.get("version") != RECORD_VERSION:
            raise InputValidationError(
                f"pending write: unknown record version {data.get('version')!r} (this client reads {RECORD_VERSION})",
                field="version",
            )
        for name in ("operation", "surface", "realm_id", "idempotency_key"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise InputValidationError(f"pending write: {name} must be a non-empty string", field=name)
        parts: dict[str, Mapping[str, Any]] = {}
        for name in ("path", "query", "bindings"):
            value = data.get(name) or {}
            if not isinstance(value, Mapping):
                raise InputValidationError(f"pending write: {name} must be a mapping", field=name)
            parts[name] = dict(value)
        return cls(
            operation=data["operation"],
            surface=data["surface"],
            realm_id=data["realm_id"],
            idempotency_key=data["idempotency_key"],
            path=parts["path"],
            query=parts["query"],
            body=data.get("body"),
            bindings=parts["bindings"],
        )


def _rebuild(cls: type[VlunaError], args: tuple[Any, ...], state: dict[str, Any]) -> VlunaError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


def _plain(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _wire_fields(error: VlunaError) -> dict[str, Any]:
    """The error's fields as plain JSON (one that cannot be is sent as ``None``), marked for :func:`_from_wire`."""
    from ._result import Hint

    fields: dict[str, Any] = {}
    for name, value in vars(error).items():
        if name.startswith("__"):
            continue
        if isinstance(value, VlunaError):
            own = _OWN_ARGS.__get__(value)
            value = {"class": type(value).__name__, "message": own[0] if own else "", "fields": _wire_fields(value)}
        elif isinstance(value, PendingWrite):
            value = value.to_dict()
        elif isinstance(value, tuple) and value and all(isinstance(item, Hint) for item in value):
            value = [{"type": hint.type, **dict(hint.fields)} for hint in value]
        elif isinstance(value, Mapping):
            value = dict(value)
        fields[name] = value if _plain(value) else None  # kept as a name, so the rebuilt error has every field
    return {_WIRE_MARK: 1, **fields} if fields else {}


def _restored(error: VlunaError, args: tuple[Any, ...]) -> bool:
    """Fill ``error`` from the ``(message, fields)`` form of its ``args``; False when ``args`` are not that form."""
    if len(args) != 2 or not isinstance(args[1], Mapping) or _WIRE_MARK not in args[1]:
        return False
    _fill(error, args[0], args[1])
    return True


def _from_wire(cls: type[VlunaError], message: Any, fields: Mapping[str, Any]) -> VlunaError:
    """A new error of ``cls`` from ``(message, fields)``."""
    error: VlunaError = cls.__new__(cls)
    _fill(error, message, fields)
    return error


def _fill(error: VlunaError, message: Any, fields: Mapping[str, Any]) -> None:
    """Set the message and the fields; each field is restored to the type it had (hints, records...)."""
    from ._result import Hint

    error.args = (message,)
    for name, value in fields.items():
        if name in (_WIRE_MARK, "may_have_applied") or not name.isidentifier() or name.startswith("__"):
            continue  # what the class decides (may_have_applied) never comes from the wire
        if name == "hints" and isinstance(value, list):
            value = tuple(Hint.from_wire(item) for item in value)
        elif name == "last_error" and isinstance(value, Mapping):
            nested = value.get("fields")
            nested = nested if isinstance(nested, Mapping) else {}
            value = _from_wire(_error_class_named(value.get("class")), value.get("message", ""), nested)
        elif name == "pending" and isinstance(value, Mapping):
            try:
                value = PendingWrite.from_dict(value)
            except ValidationError:
                continue
        error.__dict__[name] = value


def _error_class_named(name: Any) -> type[VlunaError]:
    """One of this module's error classes by name (never anything else); VlunaError for an unknown name."""
    found = globals().get(name) if isinstance(name, str) else None
    return found if isinstance(found, type) and issubclass(found, VlunaError) else VlunaError


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
