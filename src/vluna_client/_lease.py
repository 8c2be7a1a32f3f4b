"""The gate lease as a context manager: authorize, do the work, commit once or cancel."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional

from ._errors import (
    AuthenticationError,
    InputValidationError,
    InvalidRequestError,
    LeaseError,
    PermissionDeniedError,
    ResponseDecodeError,
)
from ._result import Hint, Result
from ._transport import Timeout, TimeoutTypes

if TYPE_CHECKING:
    from ._client import ServiceClient
    from ._generated.models.gate import AuthorizeResponse, CommitResponse

logger = logging.getLogger("vluna_client")

_OPEN, _COMMITTING, _UNKNOWN, _COMMITTED, _CANCELLED = "open", "committing", "unknown", "committed", "cancelled"
_CLEANUP_TIMEOUT = Timeout(connect=3.0, read=10.0)


class Lease:
    """One authorized piece of paid work. Create it with :meth:`ServiceClient.lease`.

    States: ``open`` after authorize; ``committed`` once a commit was accepted; ``cancelled`` after cancel;
    ``unknown`` when a commit's outcome could not be learned (connection lost, 5xx after retries). From
    ``unknown``, calling :meth:`commit` again with the same arguments re-sends the same Idempotency-Key, which is
    safe: the server answers a replay with the first result instead of charging again.
    """

    def __init__(
        self,
        client: ServiceClient,
        *,
        feature_code: str,
        principal_id: Optional[str],
        user_id: Optional[str],
        estimated_quantity_minor: Any,
        feature_family_code: Optional[str],
        budget_id: Optional[str],
        labels: Optional[Mapping[str, str]],
        idempotency_key: Optional[str],
        timeout: TimeoutTypes,
    ) -> None:
        self._client = client
        self._feature_code = feature_code
        self._bindings: dict[str, Any] = {"principal_id": principal_id, "user_id": user_id}
        self._authorize_args: dict[str, Any] = {
            "feature_code": feature_code,
            "estimated_quantity_minor": estimated_quantity_minor,
            "feature_family_code": feature_family_code,
            "budget_id": budget_id,
            "labels": labels,
            "idempotency_key": idempotency_key,
        }
        self._timeout = timeout
        self._lock = threading.Lock()
        self._state: Optional[str] = None
        self._authorization: Optional[Result[AuthorizeResponse]] = None
        self._commit_args: Optional[dict[str, Any]] = None
        self._commit_key: Optional[str] = None
        self._unknown_before = False
        self.commit_result: Optional[Result[CommitResponse]] = None
        """The accepted commit, once there is one."""

    # -- properties -----------------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``open``, ``committing``, ``unknown``, ``committed`` or ``cancelled`` (``None`` before enter)."""
        return self._state or "new"

    @property
    def authorization(self) -> Result[AuthorizeResponse]:
        """The authorize result (lease token, window, hints)."""
        if self._authorization is None:
            raise LeaseError("the lease is not authorized yet: use it in a `with` block")
        return self._authorization

    @property
    def token(self) -> str:
        """The lease token."""
        return self.authorization.data.lease_token

    @property
    def lease_id(self) -> Optional[str]:
        """The lease id."""
        return self.authorization.data.lease_id

    @property
    def hints(self) -> tuple[Hint, ...]:
        """Hints returned by authorize (quota left, shortfall...)."""
        return self.authorization.hints

    def __repr__(self) -> str:
        lease_id = self._authorization.data.lease_id if self._authorization else None
        return f"<Lease feature_code={self._feature_code!r} lease_id={lease_id!r} state={self.state!r}>"

    # -- lifecycle ------------------------------------------------------------------------------------------

    def __enter__(self) -> Lease:
        with self._lock:
            if self._state is not None:
                raise LeaseError("a Lease can be entered only once")
            self._state = _COMMITTING  # nobody may commit while authorize is in flight
        try:
            self._authorization = self._client.gate.authorize(
                **self._authorize_args, **self._bindings, timeout=self._timeout
            )
        except BaseException:
            self._state = _CANCELLED
            raise
        self._state = _OPEN
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._state == _OPEN:
            self._cancel_quietly(reason="an exception in the block" if exc_type else "no commit")
        elif self._state == _UNKNOWN:
            # The commit may have been recorded. Cancelling would not undo it, and if it was not, a later retry of
            # the same commit (same key) would land on a closed lease. Leave the lease for that retry.
            logger.warning(
                "vluna lease %s: the commit's outcome is unknown; retry it with idempotency key %s",
                self.lease_id,
                self._commit_key,
            )

    def _cancel_quietly(self, *, reason: str) -> None:
        try:
            # On the way out of a failure, do not hold the caller for a full read timeout per attempt.
            self.cancel(timeout=self._timeout if self._timeout is not None else _CLEANUP_TIMEOUT)
        except Exception as cancel_error:  # noqa: BLE001 - best effort: never hide the caller's exception
            logger.warning("vluna lease %s: cancel after %s failed: %s", self.lease_id, reason, cancel_error)

    def commit(
        self,
        *,
        quantity_minor: Any,
        meters: Optional[Sequence[Any]] = None,
        labels: Optional[Mapping[str, str]] = None,
        idempotency_key: Optional[str] = None,
        timeout: TimeoutTypes = None,
    ) -> Result[CommitResponse]:
        """Commit the measured usage, once. Returns the priced result (``data.amount_xusd``, ``data.lines``).

        Raises:
            LeaseError: the lease is already committed or cancelled, or a different commit is attempted after one
                whose outcome is unknown.
        """
        args: dict[str, Any] = {"quantity_minor": quantity_minor, "meters": meters, "labels": labels}
        with self._lock:
            if self._state == _UNKNOWN:
                if args != self._commit_args or (idempotency_key not in (None, self._commit_key)):
                    raise LeaseError(
                        "the previous commit's outcome is unknown; only the identical commit may be retried "
                        f"(idempotency key {self._commit_key})"
                    )
            elif self._state == _COMMITTED:
                raise LeaseError("this lease is already committed; a second commit would be charged again")
            elif self._state != _OPEN:
                raise LeaseError(f"cannot commit a lease that is {self.state}")
            else:
                self._commit_args = args
                # Fixed before sending, so whatever interrupts the call, its retry replays instead of charging.
                self._commit_key = idempotency_key or str(uuid.uuid4())
            self._state = _COMMITTING
        try:
            result = self._client.gate.commit(
                lease_token=self.token,
                feature_code=self._feature_code,
                **args,
                **self._bindings,
                idempotency_key=self._commit_key,
                timeout=timeout if timeout is not None else self._timeout,
            )
        except ResponseDecodeError:
            self._state = _COMMITTED  # accepted by the server: the charge happened
            raise
        except (InputValidationError, InvalidRequestError, AuthenticationError, PermissionDeniedError) as exc:
            # Refused before it was sent, or refused by the server: nothing was recorded, so the lease stays usable
            # (unless an earlier attempt of this same commit has an unknown outcome).
            self._state = _UNKNOWN if self._unknown_before else _OPEN
            if self._state == _OPEN and isinstance(exc, InputValidationError):
                self._commit_args, self._commit_key = None, None
            raise
        except BaseException:
            # Connection lost, 5xx after retries, or interrupted mid-call: the commit may have been applied.
            # Keep its key so the identical retry is a safe replay.
            self._state = _UNKNOWN
            self._unknown_before = True
            raise
        self._state = _COMMITTED
        self.commit_result = result
        return result

    def cancel(self, *, timeout: TimeoutTypes = None) -> Optional[bool]:
        """Give the lease back. Returns the server's ``cancelled`` flag; no-op once committed or cancelled."""
        with self._lock:
            if self._state in (_COMMITTED, _CANCELLED) or self._authorization is None:
                return None
            if self._state == _COMMITTING:
                raise LeaseError("a commit of this lease is in flight; cancel after it returns")
            self._state = _CANCELLED
        result = self._client.gate.cancel(
            lease_token=self.token, **self._bindings, timeout=timeout if timeout is not None else self._timeout
        )
        return result.data.cancelled
