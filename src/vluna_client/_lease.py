"""The gate lease as a context manager: authorize, do the work, commit once or cancel, and never lose track."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Optional, Protocol, Union

import attrs

from ._attrs_methods import shared_methods
from ._errors import (
    APIConnectionError,
    APIError,
    ConflictError,
    LeaseError,
    LeaseRecoveredError,
    RateLimitError,
    ResponseDecodeError,
    VlunaError,
)
from ._keys import mint_idempotency_key
from ._result import Hint, Result
from ._timeout import Timeout, TimeoutTypes

if TYPE_CHECKING:
    from ._generated.models.gate import AuthorizeResponse, CancelResponse, CommitResponse

logger = logging.getLogger("vluna_client")

LeaseState = Literal[
    "new", "authorizing", "open", "committing", "cancelling", "unknown", "conflict", "committed", "cancelled", "refused"
]
"""The type of :attr:`Lease.state`. The values are plain strings: ``lease.state == "open"`` works as ever."""

_NEW: LeaseState = "new"
_AUTHORIZING: LeaseState = "authorizing"
_OPEN: LeaseState = "open"
_COMMITTING: LeaseState = "committing"
_CANCELLING: LeaseState = "cancelling"
_UNKNOWN: LeaseState = "unknown"
_CONFLICT: LeaseState = "conflict"
_COMMITTED: LeaseState = "committed"
_CANCELLED: LeaseState = "cancelled"
_REFUSED: LeaseState = "refused"
_CLEANUP_TIMEOUT = Timeout(connect=3.0, read=10.0)
# Cleanup calls (recovering an authorize, cancelling on the way out) are each retried by the client already; these
# extra rounds make a lease left open on the server an event of several independent failures in a row.
_CLEANUP_ROUNDS = 3


class LeaseGate(Protocol):
    """The three gate calls a :class:`Lease` makes; ``client.gate`` of a :class:`ServiceClient` provides them.

    A lease needs nothing else from a client, so any object with these methods can drive one (a test's in-memory
    gate, for one). The lease picks the Idempotency-Keys of authorize and commit, and reuses them to replay either.
    """

    def authorize(
        self,
        *,
        feature_code: str,
        feature_family_code: Optional[str],
        estimated_quantity_minor: Optional[Union[int, str]],
        budget_id: Optional[str],
        labels: Optional[Mapping[str, str]],
        principal_id: Optional[str],
        user_id: Optional[str],
        idempotency_key: Optional[str],
        timeout: TimeoutTypes,
    ) -> Result[AuthorizeResponse]:
        """Open a lease (``gate.authorize``)."""
        ...

    def commit(
        self,
        *,
        lease_token: str,
        feature_code: str,
        quantity_minor: Any,
        labels: Optional[Mapping[str, str]],
        meters: Optional[Sequence[Any]],
        principal_id: Optional[str],
        user_id: Optional[str],
        idempotency_key: Optional[str],
        timeout: TimeoutTypes,
    ) -> Result[CommitResponse]:
        """Record a lease's measured usage (``gate.commit``)."""
        ...

    def cancel(
        self,
        *,
        lease_token: str,
        principal_id: Optional[str],
        user_id: Optional[str],
        timeout: TimeoutTypes,
    ) -> Result[CancelResponse]:
        """Give a lease back (``gate.cancel``)."""
        ...


@shared_methods(frozen=True)
@attrs.frozen(kw_only=True, repr=False, eq=False)
class LeaseTerms:
    """What a lease is opened for: the arguments of :meth:`ServiceClient.lease`, declared once.

    :meth:`ServiceClient.lease` and Celery's ``task_lease`` build one from their keywords and give it to
    :class:`Lease`, which sends it with each of the lease's calls.

    Attributes:
        feature_code: The gated feature (authorize and commit both name it).
        principal_id: The paying customer, sent with each of the lease's calls (``None``: the value bound with
            ``client.bind``, if any).
        user_id: The end user, likewise.
        estimated_quantity_minor: The expected usage, which authorize checks quota and funds against.
        feature_family_code: The feature family, when the feature is in one.
        budget_id: The budget to draw from.
        labels: The authorize's labels.
        idempotency_key: The authorize's key; without one, a new key is minted when the lease is entered.
        timeout: The timeout of each of the lease's calls (``commit`` and ``cancel`` may give their own).
    """

    feature_code: str
    principal_id: Optional[str] = None
    user_id: Optional[str] = None
    estimated_quantity_minor: Optional[Union[int, str]] = None
    feature_family_code: Optional[str] = None
    budget_id: Optional[str] = None
    labels: Optional[Mapping[str, str]] = None
    idempotency_key: Optional[str] = None
    timeout: TimeoutTypes = None


class Lease:
    """One authorized piece of paid work. Create it with :meth:`ServiceClient.lease` and use it in a ``with`` block.

    ``Lease(gate, terms)`` makes the lease's calls through ``gate`` (``client.gate``, or any :class:`LeaseGate`) with
    the arguments in ``terms`` (:class:`LeaseTerms`).

    States (:attr:`state`):

    - ``new``: not entered yet; ``authorizing`` while authorize is in flight.
    - ``open``: authorized; commit it, or leave the block (or call :meth:`cancel`) to give it back.
    - ``committing`` / ``cancelling``: a commit or cancel is in flight.
    - ``committed``: the server accepted the commit (:attr:`commit_result`).
    - ``cancelled``: given back. Also the state after an authorize whose answer was lost when the client replayed
      it, found the lease and gave it back: entering the block then raises :class:`LeaseRecoveredError`
      (``may_have_applied`` false: nothing charged, nothing held; try again with a new lease).
    - ``refused``: authorize was refused (402, 403, 429...): no lease was opened. When authorize's answer was lost
      and its replay was refused, the replay's refusal is raised (e.g. :class:`PaymentRequiredError`).
    - ``unknown``: a commit may have been recorded but its answer was lost. Only the identical commit may be sent
      again (it reuses the Idempotency-Key, so the server replays instead of charging twice); the lease is not
      cancelled on exit, since that cannot undo a charge and would quarantine the retry. After authorize, it means
      a lease may still be held on the server because recovering it failed (it expires at its TTL).
    - ``conflict``: the server refused the commit's key as used with another body (409). That is final: no other
      commit is allowed; leaving the block cancels (harmless if the earlier commit with that key went through).
    """

    def __init__(self, gate: LeaseGate, terms: LeaseTerms) -> None:
        self._gate = gate
        self._terms = terms
        self._authorize_key = terms.idempotency_key
        self._lock = threading.Lock()
        self._state: LeaseState = _NEW
        self._authorization: Optional[Result[AuthorizeResponse]] = None
        self._commit_args: Optional[dict[str, Any]] = None
        self._commit_key: Optional[str] = None
        self._unknown_before = False
        self.commit_result: Optional[Result[CommitResponse]] = None
        """The accepted commit, once there is one."""

    # -- properties -----------------------------------------------------------------------------------------

    @property
    def state(self) -> LeaseState:
        """Where the lease is in its life; see the class docstring."""
        return self._state

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

    @property
    def commit_idempotency_key(self) -> Optional[str]:
        """The key of the pending or last commit: replay an ``unknown`` commit with it."""
        return self._commit_key

    def __repr__(self) -> str:
        lease_id = self._authorization.data.lease_id if self._authorization else None
        return f"<Lease feature_code={self._terms.feature_code!r} lease_id={lease_id!r} state={self._state!r}>"

    def __getstate__(self) -> dict[str, Any]:
        # A lease travels with its gate (so with its client), its state and its keys (so an ``unknown`` commit can
        # be replayed in another process); its lock is rebuilt there. Mid-call, its state is about to change: refuse.
        with self._lock:
            if self._state in (_AUTHORIZING, _COMMITTING, _CANCELLING):
                raise TypeError(f"a Lease cannot be pickled while a call is in flight (state {self._state!r})")
            state = dict(vars(self))
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------------------

    def __enter__(self) -> Lease:
        with self._lock:
            if self._state != _NEW:
                raise LeaseError("a Lease can be entered only once")
            self._state = _AUTHORIZING  # nobody may commit or cancel while authorize is in flight
        # Fixed before sending, so a replay after a lost answer finds the lease the first attempt may have opened.
        key = self._authorize_key = self._authorize_key or mint_idempotency_key()
        try:
            self._authorization = self._authorize(key, self._terms.timeout)
        except VlunaError as exc:
            self._state = _REFUSED
            if exc.may_have_applied and self._recover_after(exc):
                settled = self._recover_authorization(key, exc)
                if settled is not None:
                    raise settled from exc
            raise
        except BaseException:
            # Interrupted mid-call (e.g. KeyboardInterrupt): a lease may exist; try to find and release it.
            self._state = _REFUSED
            self._recover_authorization(key, LeaseError("authorize was interrupted"))
            raise
        self._state = _OPEN
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._state in (_OPEN, _CONFLICT):
            self._cancel_on_exit(reason="an exception in the block" if exc_type else "no commit")
        elif self._state == _UNKNOWN:
            logger.warning(
                "vluna lease %s: the commit's outcome is unknown; replay it with lease.commit(...) and the same "
                "arguments (idempotency key %s), or look it up; it was not cancelled",
                self.lease_id,
                self._commit_key,
            )

    def open(self) -> Lease:
        """Authorize now, outside a ``with`` block (the same as entering one). Returns ``self``.

        For work whose end is not in the same block, e.g. a streamed HTTP response: hand the lease to whatever
        finishes the work and make sure :meth:`close` is called on every path (end, error, disconnect).
        """
        return self.__enter__()

    def close(self, error: Optional[BaseException] = None) -> None:
        """Settle a lease opened with :meth:`open` the way leaving a ``with`` block does: cancel unless committed.

        ``error`` is the exception that ended the work, if any (it is only used in log messages). Closing twice,
        or closing a committed, refused or never-opened lease, does nothing.
        """
        if self._state == _NEW:
            return
        self.__exit__(type(error) if error is not None else None, error, None)

    def _authorize(self, key: str, timeout: TimeoutTypes) -> Result[AuthorizeResponse]:
        terms = self._terms
        return self._gate.authorize(
            feature_code=terms.feature_code,
            feature_family_code=terms.feature_family_code,
            estimated_quantity_minor=terms.estimated_quantity_minor,
            budget_id=terms.budget_id,
            labels=terms.labels,
            principal_id=terms.principal_id,
            user_id=terms.user_id,
            idempotency_key=key,
            timeout=timeout,
        )

    def _recover_after(self, error: VlunaError) -> bool:
        """Whether to settle a lost authorize now (a subclass may leave it to a retry that replays it)."""
        return True

    def _recover_authorization(self, key: str, error: VlunaError) -> Optional[VlunaError]:
        """After an authorize that may have opened a lease: replay it (same key, same body), then give it back.

        The server answers a replayed key with the lease it already opened (or opens one now, which is given back
        just the same), so no lease is left holding quota until its TTL. Returns the error that tells the caller
        the settled outcome (:class:`LeaseRecoveredError`, or the replay's refusal), or ``None`` when the outcome
        stays unknown and ``error`` is the truth.
        """
        for _ in range(_CLEANUP_ROUNDS):
            try:
                replay = self._authorize(key, self._cleanup_timeout())
            except APIError as exc:
                if isinstance(exc, RateLimitError):
                    continue  # refused before being looked at: says nothing about the first attempt
                # Refused now: the server stored no success for this key, so the first attempt opened nothing.
                self._state = _REFUSED
                return exc
            except VlunaError:
                continue  # never sent, or lost again: nothing learnt
            self._authorization = replay
            self._state = _OPEN
            self._cancel_on_exit(reason="an authorize whose answer was lost")
            if self._state != _CANCELLED:
                self._state = _UNKNOWN  # held, and giving it back failed (logged): the outcome is not settled
                return None
            return LeaseRecoveredError(
                "gate.authorize: the answer was lost, so the client replayed it, found the lease and gave it back; "
                "nothing was charged and no lease is held (safe to try again)",
                operation="gate.authorize",
                idempotency_key=key,
                lease_id=replay.data.lease_id,
                last_error=error,
            )
        self._state = _UNKNOWN
        logger.error(
            "vluna lease: authorize may have opened a lease that could not be recovered (idempotency key %s); "
            "it holds quota until it expires",
            key,
        )
        return None

    def _cleanup_timeout(self) -> TimeoutTypes:
        # On the way out of a failure, do not hold the caller for a full read timeout per attempt.
        return self._terms.timeout if self._terms.timeout is not None else _CLEANUP_TIMEOUT

    def _cancel_on_exit(self, *, reason: str) -> None:
        last: Optional[BaseException] = None
        for _ in range(_CLEANUP_ROUNDS):
            try:
                self.cancel(timeout=self._cleanup_timeout())
                return
            except VlunaError as error:  # best effort: never hide the caller's exception
                last = error
                if not _worth_repeating(error):
                    break
        logger.error(
            "vluna lease %s: cancel after %s failed, the lease stays open until it expires or lease.cancel() "
            "succeeds: %s",
            self.lease_id,
            reason,
            last,
        )

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
            LeaseError: the lease is already committed, cancelled or in conflict, or a different commit is
                attempted after one whose outcome is unknown.
            OutcomeUnknownError: the commit may have been recorded; call ``commit`` again with the same
                arguments to replay it safely.
        """
        args: dict[str, Any] = {"quantity_minor": quantity_minor, "meters": meters, "labels": labels}
        key = self._begin_commit(args, idempotency_key or self._default_commit_key())
        terms = self._terms
        try:
            result = self._gate.commit(
                lease_token=self.token,
                feature_code=terms.feature_code,
                quantity_minor=quantity_minor,
                labels=labels,
                meters=meters,
                principal_id=terms.principal_id,
                user_id=terms.user_id,
                idempotency_key=key,
                timeout=timeout if timeout is not None else terms.timeout,
            )
        except BaseException as exc:
            self._commit_failed(exc)
            raise
        self._state = _COMMITTED
        self.commit_result = result
        return result

    def _default_commit_key(self) -> Optional[str]:
        """The key of a commit given none; ``None`` mints a new one (a subclass may derive its own)."""
        return None

    def _begin_commit(self, args: dict[str, Any], idempotency_key: Optional[str]) -> Optional[str]:
        """Check that this commit may be sent now, mark it in flight and return the key it carries."""
        with self._lock:
            if self._state == _UNKNOWN and self._authorization is not None:
                if args != self._commit_args or (idempotency_key not in (None, self._commit_key)):
                    raise LeaseError(
                        "the previous commit's outcome is unknown; only the identical commit may be retried "
                        f"(idempotency key {self._commit_key})"
                    )
            elif self._state == _COMMITTED:
                raise LeaseError("this lease is already committed; a second commit would be charged again")
            elif self._state != _OPEN:
                raise LeaseError(f"cannot commit a lease that is {self._state}")
            else:
                self._commit_args = args
                # Fixed before sending, so whatever interrupts the call, its retry replays instead of charging.
                self._commit_key = idempotency_key or mint_idempotency_key()
            self._state = _COMMITTING
            return self._commit_key

    def _commit_failed(self, exc: BaseException) -> None:
        """Move to the state that a commit which raised ``exc`` leaves the lease in."""
        if isinstance(exc, ResponseDecodeError):
            self._state = _COMMITTED  # accepted by the server: the charge happened
        elif isinstance(exc, ConflictError):
            # The key was used with another body: repeating can only conflict again, and a new key could charge
            # twice if that earlier commit went through. Final.
            self._state = _CONFLICT
        elif isinstance(exc, VlunaError) and not (exc.may_have_applied or self._unknown_before):
            # Refused before anything was recorded (locally, or 4xx, or never sent): the lease stays usable.
            self._state = _OPEN
            self._commit_args, self._commit_key = None, None
        else:
            # It may have been applied (its answer was lost, or the call was interrupted mid-way, e.g. by
            # KeyboardInterrupt): keep its key, so that only the identical commit, a replay, may be sent again.
            self._state = _UNKNOWN
            self._unknown_before = True

    def cancel(self, *, timeout: TimeoutTypes = None) -> Optional[bool]:
        """Give the lease back. Returns the server's ``cancelled`` flag; ``None`` once committed or cancelled.

        If the call fails, the lease keeps its state and ``cancel`` may be called again (cancelling twice is
        harmless: the server answers ``cancelled: false`` for a lease that is already closed).
        """
        with self._lock:
            if self._state in (_COMMITTED, _CANCELLED, _REFUSED) or self._authorization is None:
                return None
            if self._state in (_COMMITTING, _CANCELLING, _AUTHORIZING):
                raise LeaseError(f"a {self._state} call of this lease is in flight; cancel after it returns")
            before, self._state = self._state, _CANCELLING
        try:
            result = self._gate.cancel(
                lease_token=self.token,
                principal_id=self._terms.principal_id,
                user_id=self._terms.user_id,
                timeout=timeout if timeout is not None else self._terms.timeout,
            )
        except BaseException:
            self._state = before
            raise
        self._state = _CANCELLED
        return result.data.cancelled


def _worth_repeating(error: VlunaError) -> bool:
    """A cleanup call that failed this way may succeed if sent again (a 403 or 404 would not)."""
    if error.may_have_applied or isinstance(error, APIConnectionError):
        return True
    return isinstance(error, APIError) and (error.status >= 500 or error.status == 429)
