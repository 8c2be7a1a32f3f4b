"""Bulk usage ingest: ``client.gate.ingest_many(rows)`` sends many ``gate.ingest`` calls concurrently.

The generated ``client.gate`` class inherits :class:`GateBulkMixin`. The mixin uses only public API: the area's
``ingest`` for every row, and, through the area's :attr:`~vluna_client._area.AreaApi.host` (the client), its
``realm_id`` for the default keys and ``with_retry(...)`` for a view whose 429s come straight back to the job's pacer
instead of being waited out in a worker. A host that has no retries to turn off (the offline host of ``vluna
usage ingest --dry-run``) is sent through as it is.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional, Protocol, Union, runtime_checkable

import attrs

from ._attrs_methods import shared_methods
from ._errors import (
    AuthenticationError,
    ConfigurationError,
    InputValidationError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    VlunaError,
)
from ._keys import idempotency_key
from ._pacing import Pacer
from ._retry import RetryPolicy

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from ._generated.models.gate import CommitResponse
    from ._result import Result
    from ._timeout import TimeoutTypes

IngestStatus = Literal["recorded", "invalid", "duplicate", "failed", "unknown", "not_sent"]
"""``recorded``: the server answered with the priced result (a first recording or a replay of one: the server
answers both alike, so they cannot be told apart). ``invalid``: the client refused the row before sending it (it
cannot be encoded: a missing or malformed field, an :class:`InvalidRow`); nothing was sent. ``duplicate``: the row
has the same key and the same values as an earlier row of the job (with ``dedupe=True``); it was not sent, the
earlier row's outcome covers it. ``failed``: refused by the server, or not sent because of a transport error that
proves nothing was applied; not recorded. ``unknown``: may have been recorded; re-run with the same key to find
out. ``not_sent``: the job stopped before this row was sent."""

DEFAULT_NAMESPACE = "vluna:usage"
"""Namespace of the default keys; ``vluna usage ingest`` uses it too, so both deduplicate each other's rows."""

# Errors that every following row would hit as well: continuing would only repeat them.
_FATAL = (AuthenticationError, PermissionDeniedError, ConfigurationError)
# A row answered 429 this many times in a row is given up (failed) instead of being queued again.
_MAX_RATE_LIMITED = 8
_ROW_FIELDS = (
    "id",
    "principal_id",
    "user_id",
    "feature_code",
    "quantity_minor",
    "meters",
    "labels",
    "occurred_at",
    "budget_id",
    "ref",
)


@shared_methods(frozen=True)
@attrs.frozen(kw_only=True, repr=False, eq=False)
class IngestRow:
    """One usage record for :meth:`GateBulkMixin.ingest_many` (a plain mapping with these keys works too).

    Attributes:
        id: Your unique id of this usage event (e.g. the event id of your system). The default key derives from it,
            so the same event always carries the same Idempotency-Key, on every retry and every re-run.
        principal_id: The paying customer.
        user_id: The end user.
        feature_code: The feature the usage is for.
        quantity_minor: Quantity in minor units (non-negative integer or integer string).
        meters: Per-meter quantities, e.g. ``[{"meter_code": "llm.input", "quantity_minor": "120"}]``.
        labels: Free-form string tags.
        occurred_at: When the usage happened (ISO 8601).
        budget_id: Budget to attribute the usage to.
        ref: Anything that identifies the row for you (a line number); defaults to ``id``.
    """

    id: Optional[Union[str, int]] = None
    principal_id: Optional[str] = None
    user_id: Optional[str] = None
    feature_code: Optional[str] = None
    quantity_minor: Optional[Union[int, str]] = None
    meters: Optional[Sequence[Mapping[str, Any]]] = None
    labels: Optional[Mapping[str, str]] = None
    occurred_at: Optional[str] = None
    budget_id: Optional[str] = None
    ref: Any = None

    @classmethod
    def coerce(cls, row: Union[IngestRow, Mapping[str, Any]]) -> IngestRow:
        """An :class:`IngestRow` from itself or a mapping with the same keys.

        Raises:
            InputValidationError: the mapping has a key that is not a row field (a typo would silently drop data).
        """
        if isinstance(row, IngestRow):
            return row
        if not isinstance(row, Mapping):
            raise InputValidationError(f"a row must be an IngestRow or a mapping, got {type(row).__name__}")
        unknown = sorted(str(k) for k in row if k not in _ROW_FIELDS)
        if unknown:
            raise InputValidationError(f"unknown row field(s): {', '.join(unknown)}", field=unknown[0])
        return cls(**{str(k): v for k, v in row.items()})

    @property
    def reference(self) -> Any:
        """``ref`` when set, else ``id``."""
        return self.id if self.ref is None else self.ref


@shared_methods(frozen=True)
@attrs.frozen(kw_only=True, repr=False, eq=False)
class InvalidRow:
    """An input row already known to be unusable, handed to :meth:`GateBulkMixin.ingest_many` in its place.

    A caller that parses its own input (a file reader) yields one of these for a record it could not parse, so the
    record keeps its place in the outcomes (``ordered=True`` stays in input order) and is reported as ``invalid``
    with ``reason``; nothing is sent for it and the job goes on.

    Attributes:
        reason: What is wrong, in one line.
        ref: Anything that identifies the row for you (a line number).
        field: The field at fault, when one is.
    """

    reason: str
    ref: Any = None
    field: Optional[str] = None


@shared_methods(frozen=True)
@attrs.frozen(kw_only=True, repr=False, eq=False)
class IngestOutcome:
    """What happened to one row.

    Attributes:
        index: Position of the row in the input (0-based).
        ref: The row's ``ref`` (or its ``id``).
        status: ``recorded``, ``invalid``, ``duplicate``, ``failed``, ``unknown`` or ``not_sent`` (see
            :data:`IngestStatus`).
        idempotency_key: The key the row was (or would have been) sent with; replay with it. ``None`` when no
            key could be made (e.g. the row has no id).
        result: The priced result, when recorded.
        error: The typed error, when invalid (an :class:`InputValidationError` naming the field), failed or
            unknown; for a row not sent because the job stopped, the reason when there is one.
        duplicate_of: For a ``duplicate``, the ``ref`` of the earlier row with the same key.
    """

    index: int
    ref: Any
    status: IngestStatus
    idempotency_key: Optional[str] = None
    result: Optional[Result[CommitResponse]] = None
    error: Optional[VlunaError] = None
    duplicate_of: Any = None

    @property
    def amount_xusd(self) -> Optional[str]:
        """The priced amount as an integer string (1 xusd = 1e-6 USD), when recorded."""
        return self.result.data.amount_xusd if self.result is not None else None

    @property
    def ok(self) -> bool:
        """True when recorded."""
        return self.status == "recorded"


@shared_methods(frozen=True)
@attrs.frozen(kw_only=True, repr=False, eq=False)
class IngestProgress:
    """Counters of a running :meth:`GateBulkMixin.ingest_many`, handed to ``on_progress``.

    Attributes:
        done: Rows with an outcome (yielded or about to be).
        recorded: Rows recorded.
        failed: Rows refused by the server or not sent for a transport error.
        unknown: Rows whose outcome is unknown.
        not_sent: Rows never sent because the job stopped.
        in_flight: Requests being sent now.
        workers: The current concurrency limit.
        rate_limited: 429 answers seen so far.
        priced_xusd: Sum of the recorded rows' amounts.
        elapsed: Seconds since the job started.
        invalid: Rows refused by the client before sending.
        duplicate: Rows skipped as repeats of an earlier row (``dedupe=True``).
    """

    done: int
    recorded: int
    failed: int
    unknown: int
    not_sent: int
    in_flight: int
    workers: int
    rate_limited: int
    priced_xusd: int
    elapsed: float
    invalid: int = 0
    duplicate: int = 0

    @property
    def rows_per_second(self) -> float:
        """Rows finished per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


class _IngestArea(Protocol):
    """What :class:`GateBulkMixin` needs from the class it is mixed into: ``client.gate``'s public ``ingest``.

    When the class is an :class:`~vluna_client._area.AreaApi` (the generated one always is), its ``host`` gives
    the realm and the paced view; a stand-in without one (a test's fake gate) sends through its own ``ingest``.
    """

    def ingest(
        self,
        *,
        feature_code: str,
        occurred_at: Optional[str] = None,
        quantity_minor: Optional[Union[int, str]] = None,
        budget_id: Optional[str] = None,
        labels: Optional[Mapping[str, str]] = None,
        meters: Optional[Sequence[Mapping[str, Any]]] = None,
        principal_id: Optional[str] = None,
        user_id: Optional[str] = None,
        idempotency_key: Optional[str] = None,
        timeout: TimeoutTypes = None,
    ) -> Result[CommitResponse]: ...


KeyFunction = Callable[[IngestRow], str]
InputItem = Union[IngestRow, InvalidRow, Mapping[str, Any]]
SendHook = Callable[[int, Any, str], None]
SettledHook = Callable[[IngestOutcome], None]


class StopSignal(Protocol):
    """What ``stop`` needs: a :class:`threading.Event` (or anything with ``is_set()``)."""

    def is_set(self) -> bool: ...


@shared_methods(frozen=False)
@attrs.define(repr=False, eq=False)
class _Slot:
    """One row on its way through the job."""

    index: int
    row: Optional[IngestRow]
    key: Optional[str]
    future: Optional[Future[Result[CommitResponse]]] = None
    outcome: Optional[IngestOutcome] = None
    rate_limited: int = 0

    @property
    def ref(self) -> Any:
        return self.row.reference if self.row is not None else None


class GateBulkMixin:
    """Bulk helpers of ``client.gate`` (inherited by the generated class): :meth:`ingest_many`.

    **Exactly once.** Every row's Idempotency-Key is fixed before its first attempt and reused on every retry; by
    default it is ``idempotency_key(namespace, principal_id, user_id, id, realm_id=<client realm>)``, so re-running
    the same rows after a crash records nothing twice (the server keeps ingest keys with no expiry). The principal
    and user are part of the key because the server's HTTP replay cache is shared by every user of a service key:
    without them, two users' rows with the same id and body would share one recording. With ``dedupe=True`` a key
    is sent once per job (it remembers 100 to 200 bytes per row): a later row with the same key and the same values
    is ``duplicate`` (``duplicate_of`` names the first), one with other values is ``invalid`` (the server would
    refuse it as an idempotency conflict).

    **Flat memory.** Rows are read lazily and at most a few times ``max_workers`` are held at once, so an input of
    millions of rows (a generator, a file reader) runs in flat memory; ``ordered=True`` holds a finished row back
    behind a slow one only within that window.

    **One bad row never stops the job.** A row the client cannot encode (a missing field, a value the client
    refuses, an :class:`InvalidRow`) is ``invalid`` with the :class:`InputValidationError` that names the field, and
    nothing is sent for it; a row the server refuses (400/402/404/409/422) is ``failed``; the next rows go on either
    way. Errors every row would hit stop it: after a 401, 403 or a configuration error no new row is sent, the rows
    already in flight finish and are yielded, and then that error is raised; rows after the last yielded outcome
    were not sent.

    **Stopping.** Once ``stop.is_set()`` (e.g. a :class:`threading.Event` set by a signal handler) no further row
    is read or sent; the rows in flight are awaited for up to ``stop_grace`` seconds (those still out then are
    ``unknown``), the rows held but not sent are ``not_sent``, and the iteration ends. ``on_send`` and
    ``on_settled`` run on the iterating thread, for a journal that must know what may have reached the server and
    what is settled.

    **Pacing.** ``workers=None`` starts at 8 concurrent requests and grows by half while throughput rises, up to
    ``max_workers``; a probe that brings nothing is undone. A 429 halves the concurrency, pauses sending for the
    wait the server asked for, sends the same row again with the same key, and from then on spaces sends just under
    the rate that drew the 429, raising that cap while no 429 comes back. When several processes (Dask or Spark
    workers, a pool) share one server rate limit, give each ``max_rate=limit / processes``: each alone only learns
    the limit from the 429s it draws, and together they keep overshooting it.
    """

    __slots__ = ()

    def ingest_many(
        self: _IngestArea,
        rows: Iterable[Union[IngestRow, InvalidRow, Mapping[str, Any]]],
        *,
        key: Optional[KeyFunction] = None,
        namespace: str = DEFAULT_NAMESPACE,
        workers: Optional[int] = None,
        max_workers: int = 32,
        ordered: bool = True,
        on_progress: Optional[Callable[[IngestProgress], None]] = None,
        timeout: TimeoutTypes = None,
        dedupe: bool = False,
        on_send: Optional[SendHook] = None,
        on_settled: Optional[SettledHook] = None,
        stop: Optional[StopSignal] = None,
        stop_grace: float = 30.0,
        max_rate: Optional[float] = None,
    ) -> Iterator[IngestOutcome]:
        """Record many usage rows with ``gate.ingest``, concurrently, each exactly once however often it runs.

        ::

            rows = ({"id": e.id, "principal_id": e.org, "user_id": e.user, "feature_code": "llm.chat",
                     "quantity_minor": e.tokens} for e in events)
            for outcome in client.gate.ingest_many(rows):
                if not outcome.ok:
                    print(outcome.ref, outcome.status, outcome.error)

        :class:`GateBulkMixin` says how keys, bad rows, fatal errors, stops and 429s are handled.

        Args:
            rows: :class:`IngestRow` objects, mappings with the same keys, or :class:`InvalidRow` placeholders.
            key: ``row -> Idempotency-Key``, replacing the default (e.g. to keep keys you already store).
            namespace: Namespace of the default keys: what the ids are unique in (e.g. ``"billing-export"``).
            workers: A fixed number of concurrent requests; ``None`` (default) adapts.
            max_workers: Upper bound of concurrent requests.
            ordered: ``True`` yields outcomes in input order; ``False`` yields them as they complete.
            on_progress: Called with an :class:`IngestProgress` whenever outcomes were collected.
            timeout: Per-call timeout, as for ``gate.ingest``.
            dedupe: ``True`` sends each key once per job (later repeats are ``duplicate`` or ``invalid``).
            on_send: ``(index, ref, key)``, called just before a row's first request is handed to a worker.
            on_settled: Called with each outcome as soon as it is known, before ``ordered`` holds it back.
            stop: Anything with ``is_set()``: once set, no further row is read or sent.
            stop_grace: Seconds to wait for the rows in flight after ``stop`` is set.
            max_rate: Requests per second this job never exceeds, from its first row.

        Yields:
            One :class:`IngestOutcome` per row read.

        Raises:
            AuthenticationError: after the in-flight rows are yielded, for a 401; likewise PermissionDeniedError
                (403) and ConfigurationError.
            InputValidationError: at once, for a bad ``workers``/``max_workers``/``stop_grace``/``max_rate``.
        """
        _check_options(workers, max_workers, namespace, stop_grace)
        realm = getattr(getattr(self, "host", None), "realm_id", None)
        keys = key or default_keys(namespace, realm if isinstance(realm, str) else None)
        pacer = _pacer(workers, max_workers, max_rate)
        hooks = _Hooks(on_progress, on_send, on_settled, stop, float(stop_grace))
        return _run(_paced_area(self), rows, keys, pacer, ordered=ordered, hooks=hooks, timeout=timeout, dedupe=dedupe)


def _check_options(workers: Optional[int], max_workers: int, namespace: str, stop_grace: float) -> None:
    """Refuse a bad option of :meth:`GateBulkMixin.ingest_many` before anything is read or sent."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InputValidationError("workers must be a positive integer or None", field="workers")
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise InputValidationError("max_workers must be a positive integer", field="max_workers")
    if not isinstance(namespace, str) or not namespace.strip():
        raise InputValidationError("namespace must be a non-empty string", field="namespace")
    if (
        isinstance(stop_grace, bool)
        or not isinstance(stop_grace, (int, float))
        or not math.isfinite(stop_grace)
        or stop_grace < 0
    ):
        raise InputValidationError("stop_grace must be a finite number of seconds >= 0", field="stop_grace")


def _pacer(workers: Optional[int], max_workers: int, max_rate: Optional[float]) -> Pacer:
    """The job's pacer (``workers`` and ``max_workers`` already checked)."""
    if max_rate is not None and (
        isinstance(max_rate, bool) or not isinstance(max_rate, (int, float)) or not 0 < max_rate < float("inf")
    ):
        raise InputValidationError("max_rate must be a positive number of requests per second", field="max_rate")
    return Pacer(workers=workers, max_workers=max(max_workers, workers or 0), max_rate=max_rate)


@runtime_checkable
class _RetryingHost(Protocol):
    """The public API of :class:`~vluna_client.ServiceClient` that :func:`_paced_area` uses."""

    @property
    def retry(self) -> RetryPolicy: ...

    def with_retry(self, policy: RetryPolicy) -> _RetryingHost: ...

    @property
    def gate(self) -> _IngestArea: ...


def _paced_area(area: _IngestArea) -> _IngestArea:
    """``client.gate`` of a view of the area's client that raises a 429 at once, or ``area`` itself.

    The pacer answers a 429 for the whole job (pause, slow down, resend the row with its key); a client that also
    sat out each 429 inside the worker would hold that worker idle for the wait. Every other retry stays.
    """
    host = getattr(area, "host", None)
    if not isinstance(host, _RetryingHost):
        return area  # a host that does not retry (the offline host of a dry run)
    policy = host.retry
    return host.with_retry(attrs.evolve(policy, retry_statuses=policy.retry_statuses - {429})).gate


def default_keys(namespace: str, realm_id: Optional[str]) -> KeyFunction:
    """The default ``row -> Idempotency-Key`` of :meth:`GateBulkMixin.ingest_many` for a namespace and realm."""

    def make(row: IngestRow) -> str:
        if row.id is None or row.id == "":
            raise InputValidationError("the row has no id (needed for its Idempotency-Key)", field="id")
        if not isinstance(row.principal_id, str) or not isinstance(row.user_id, str):
            raise InputValidationError("principal_id and user_id are required", field="principal_id")
        return idempotency_key(namespace, row.principal_id, row.user_id, row.id, realm_id=realm_id)

    return make


@shared_methods(frozen=True)
@attrs.frozen(repr=False, eq=False)
class _Hooks:
    on_progress: Optional[Callable[[IngestProgress], None]]
    on_send: Optional[SendHook]
    on_settled: Optional[SettledHook]
    stop: Optional[StopSignal]
    stop_grace: float


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "big")


def _fingerprint(row: IngestRow) -> Optional[int]:
    """A short hash of what would be sent for the row (``None`` when it cannot be encoded at all)."""
    fields = [
        row.principal_id,
        row.user_id,
        row.feature_code,
        row.occurred_at,
        None if row.quantity_minor is None else str(row.quantity_minor),
        row.budget_id,
        row.labels,
        row.meters,
    ]
    try:
        text = json.dumps(fields, sort_keys=True, default=repr, ensure_ascii=True)
    except (ValueError, TypeError, RecursionError):
        return None
    return _digest(text)


_PACKED_BITS = 28  # bits of a remembered row's fingerprint when packed with its ref
_PACKED_REF_LIMIT = 1 << 33


class _Prepare:
    """Turns input items into slots: ready to send, or already settled (invalid or duplicate; nothing sent)."""

    def __init__(self, keys: KeyFunction, dedupe: bool) -> None:
        self._keys = keys
        # key digest -> the first row's ref and fingerprint: one small int when the ref is a small int (a line
        # number), so remembering a million rows costs about 100 MB rather than 250.
        self._seen: Optional[dict[int, Any]] = {} if dedupe else None

    def __call__(self, index: int, raw: Any) -> _Slot:
        if isinstance(raw, InvalidRow):
            error = InputValidationError(str(raw.reason), field=raw.field)
            return _Slot(
                index, None, None, outcome=IngestOutcome(index=index, ref=raw.ref, status="invalid", error=error)
            )
        try:
            row = IngestRow.coerce(raw)
        except InputValidationError as exc:
            return _Slot(index, None, None, outcome=IngestOutcome(index=index, ref=None, status="invalid", error=exc))
        try:
            key = self._keys(row)
            if not isinstance(key, str) or not key.strip():
                raise InputValidationError("the key function must return a non-empty string", field="key")
            if not isinstance(row.feature_code, str):
                raise InputValidationError("feature_code is required", field="feature_code")
        except InputValidationError as exc:
            outcome = IngestOutcome(index=index, ref=row.reference, status="invalid", error=exc)
            return _Slot(index, row, None, outcome=outcome)
        repeat = self._duplicate(index, row, key) if self._seen is not None else None
        return _Slot(index, row, None if repeat is not None else key, outcome=repeat)

    def _duplicate(self, index: int, row: IngestRow, key: str) -> Optional[IngestOutcome]:
        """The outcome of a repeated key (``None`` for the first row with it, which is remembered)."""
        seen = self._seen if self._seen is not None else {}
        digest = _digest(key) >> 4  # 60 bits still make a collision between different keys practically impossible
        fingerprint = _fingerprint(row)
        ref = row.reference
        earlier = seen.get(digest)
        if earlier is None:
            small = isinstance(ref, int) and not isinstance(ref, bool) and 0 <= ref < _PACKED_REF_LIMIT
            if small and fingerprint is not None:
                seen[digest] = (ref << _PACKED_BITS) | (fingerprint >> (64 - _PACKED_BITS))
            else:
                seen[digest] = (ref, fingerprint)
            return None
        if isinstance(earlier, int):
            first_ref = earlier >> _PACKED_BITS
            first_fingerprint: Optional[int] = earlier & ((1 << _PACKED_BITS) - 1)
            if fingerprint is not None:
                fingerprint >>= 64 - _PACKED_BITS
        else:
            first_ref, first_fingerprint = earlier
        if fingerprint is not None and fingerprint == first_fingerprint:
            return IngestOutcome(index=index, ref=ref, status="duplicate", idempotency_key=key, duplicate_of=first_ref)
        error = InputValidationError(
            f"the same event as row {first_ref!r} (same key) with different values; the server would refuse it",
            field="id",
        )
        return IngestOutcome(index=index, ref=ref, status="invalid", idempotency_key=key, error=error)


def _send(area: _IngestArea, row: IngestRow, key: str, timeout: TimeoutTypes) -> Result[CommitResponse]:
    return area.ingest(
        feature_code=row.feature_code or "",
        occurred_at=row.occurred_at,
        quantity_minor=row.quantity_minor,
        budget_id=row.budget_id,
        labels=row.labels,
        meters=row.meters,
        principal_id=row.principal_id,
        user_id=row.user_id,
        idempotency_key=key,
        timeout=timeout,
    )


def outcome_for(index: int, ref: Any, key: Optional[str], error: BaseException) -> IngestOutcome:
    """The outcome of a row whose ``gate.ingest`` raised ``error`` (429s are handled before this).

    ``unknown`` when the write may have been applied (:class:`OutcomeUnknownError`, or any error whose
    ``may_have_applied`` is true); ``invalid`` for an :class:`InputValidationError` (refused before sending);
    ``failed`` for every other client error. An exception that is not a :class:`VlunaError` (a bug: the client
    cannot tell whether the request left) is reported as ``unknown`` with an :class:`OutcomeUnknownError`
    whose cause is that exception, so the job goes on and a re-run with the same key settles the row.
    """
    if not isinstance(error, Exception):
        raise error  # KeyboardInterrupt, SystemExit: not a row's outcome
    if not isinstance(error, VlunaError):
        wrapped = OutcomeUnknownError(
            f"gate.ingest raised {type(error).__name__}; the row may have been sent",
            operation="gate.ingest",
            idempotency_key=key,
        )
        wrapped.__cause__ = error
        return IngestOutcome(index=index, ref=ref, status="unknown", idempotency_key=key, error=wrapped)
    if isinstance(error, OutcomeUnknownError) or error.may_have_applied:
        return IngestOutcome(index=index, ref=ref, status="unknown", idempotency_key=key, error=error)
    if isinstance(error, InputValidationError):
        return IngestOutcome(index=index, ref=ref, status="invalid", idempotency_key=key, error=error)
    return IngestOutcome(index=index, ref=ref, status="failed", idempotency_key=key, error=error)


_AMOUNT = re.compile(r"-?[0-9]{1,39}")


def priced_amount(outcome: IngestOutcome) -> int:
    """A recorded row's priced amount in xusd (0 for a row not recorded).

    The server sends an integer string; one that is not (garbled, or absurdly long) counts as 0 instead of raising
    in the middle of a job.
    """
    text = outcome.amount_xusd if outcome.status == "recorded" else None
    return int(text) if text is not None and _AMOUNT.fullmatch(text) else 0


Reason = Callable[[IngestOutcome], Optional[str]]
"""``outcome -> reason``, for :class:`OutcomeTally`: a short countable reason, or ``None`` to count none."""


@shared_methods(frozen=False)
@attrs.define(repr=False, eq=False)
class OutcomeTally:
    """Outcomes of ``ingest_many`` counted by status, with the recorded rows' priced sum.

    The one counter behind a job's :class:`IngestProgress`, :class:`~vluna_client.PartitionCounts` and the summary
    of ``vluna usage ingest``. Given ``reason``, it also counts rows by the reason that names for them.
    """

    reason: Optional[Reason] = None
    statuses: dict[str, int] = attrs.field(factory=dict)
    priced_xusd: int = 0
    reasons: dict[str, int] = attrs.field(factory=dict)

    def add(self, outcome: IngestOutcome) -> None:
        """Count one outcome."""
        self.statuses[outcome.status] = self.statuses.get(outcome.status, 0) + 1
        self.priced_xusd += priced_amount(outcome)
        reason = self.reason(outcome) if self.reason is not None else None
        if reason is not None:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def count(self, status: IngestStatus) -> int:
        """Rows counted with ``status``."""
        return self.statuses.get(status, 0)

    @property
    def rows(self) -> int:
        """Rows counted."""
        return sum(self.statuses.values())


def _stopped_error(reason: str) -> OutcomeUnknownError:
    return OutcomeUnknownError(reason, operation="gate.ingest")


class _Job:
    """One run of ``ingest_many``: the rows held, in flight and to send again, its counts and what halted it."""

    def __init__(
        self,
        area: _IngestArea,
        rows: Iterable[InputItem],
        prepare: _Prepare,
        pacer: Pacer,
        hooks: _Hooks,
        timeout: TimeoutTypes,
    ) -> None:
        self.area = area
        self.source = iter(rows)
        self.prepare = prepare
        self.pacer = pacer
        self.hooks = hooks
        self.timeout = timeout
        self.started = time.monotonic()
        self.window = max(64, 4 * pacer.max_workers)  # rows held at once: in flight plus finished but not yet yielded
        self.pending: deque[_Slot] = deque()  # every held row, in input order
        self.resend: deque[_Slot] = deque()  # rows answered 429, to send again (same key) before new ones
        self.inflight: dict[Future[Result[CommitResponse]], _Slot] = {}
        self.tally = OutcomeTally()
        self.exhausted = False
        self.fatal: Optional[VlunaError] = None
        self.stopping_since: Optional[float] = None
        self.abandoned = False  # rows still in flight when the stop grace ran out
        self.next_index = 0

    @property
    def halted(self) -> bool:
        """No new row goes out: an error every row would hit came back, or ``stop`` was set."""
        return self.fatal is not None or self.stopping_since is not None

    def progress(self) -> None:
        if self.hooks.on_progress is None:
            return
        tally = self.tally
        self.hooks.on_progress(
            IngestProgress(
                done=tally.rows,
                recorded=tally.count("recorded"),
                failed=tally.count("failed"),
                unknown=tally.count("unknown"),
                not_sent=tally.count("not_sent"),
                in_flight=len(self.inflight),
                workers=self.pacer.limit,
                rate_limited=self.pacer.rate_limited,
                priced_xusd=tally.priced_xusd,
                elapsed=time.monotonic() - self.started,
                invalid=tally.count("invalid"),
                duplicate=tally.count("duplicate"),
            )
        )

    def finish(self, slot: _Slot, outcome: IngestOutcome) -> None:
        slot.outcome = outcome
        self.tally.add(outcome)
        if self.hooks.on_settled is not None:
            self.hooks.on_settled(outcome)

    def not_sent(self, slot: _Slot) -> None:
        self.finish(slot, IngestOutcome(index=slot.index, ref=slot.ref, status="not_sent", idempotency_key=slot.key))

    # -- the steps of one turn of the loop ----------------------------------------------------------------------

    def check_stop(self) -> None:
        if self.stopping_since is None and self.hooks.stop is not None and self.hooks.stop.is_set():
            self.stopping_since = time.monotonic()

    def collect(self) -> bool:
        """Settle the requests that finished (or hold them for a resend after a 429); whether any had."""
        finished = [future for future in self.inflight if future.done()]
        for future in finished:
            self._settle(self.inflight.pop(future), future)
        return bool(finished)

    def _settle(self, slot: _Slot, future: Future[Result[CommitResponse]]) -> None:
        error = future.exception()
        if error is None:
            self.pacer.completed()
            outcome = IngestOutcome(
                index=slot.index, ref=slot.ref, status="recorded", idempotency_key=slot.key, result=future.result()
            )
            self.finish(slot, outcome)
            return
        if isinstance(error, RateLimitError) and not isinstance(error, OutcomeUnknownError):
            self.pacer.rate_limited_for(error.retry_after)
            slot.rate_limited += 1
            if slot.rate_limited < _MAX_RATE_LIMITED:
                self.resend.append(slot)  # refused before any work: the same key again is a plain resend
                return
        else:
            self.pacer.completed()
        self.finish(slot, outcome_for(slot.index, slot.ref, slot.key, error))
        if isinstance(error, _FATAL) and self.fatal is None:
            self.fatal = error

    def wind_down(self) -> bool:
        """Once halted, the rows to resend are not sent; after the stop grace, the rows in flight are given up.

        Returns whether rows in flight were given up.
        """
        if self.halted:
            for slot in self.resend:
                self.not_sent(slot)
            self.resend.clear()
        since = self.stopping_since
        if since is None or not self.inflight or time.monotonic() - since < self.hooks.stop_grace:
            return False
        # The grace is over: what is still out may or may not be recorded; a re-run with its key settles it.
        for slot in list(self.inflight.values()):
            error = _stopped_error("the job stopped while this row was in flight")
            self.finish(slot, outcome_for(slot.index, slot.ref, slot.key, error))
        self.inflight.clear()
        self.abandoned = True
        return True

    def send(self, pool: ThreadPoolExecutor) -> bool:
        """Send rows answered 429 first, then new rows, within the limit, the window and any pause.

        Returns whether a new row was settled without sending (invalid, or a duplicate).
        """
        settled = False
        while not self.halted and len(self.inflight) < self.pacer.limit and self.pacer.ready():
            if self.resend:
                slot = self.resend.popleft()
            else:
                read = self._read()
                if read is None:
                    break
                slot = read
                if slot.outcome is not None:
                    self.finish(slot, slot.outcome)
                    settled = True
                    continue
                if self.hooks.on_send is not None and slot.key is not None:
                    self.hooks.on_send(slot.index, slot.ref, slot.key)
            if slot.row is None or slot.key is None:  # prepare gave it an outcome already
                continue
            slot.future = pool.submit(_send, self.area, slot.row, slot.key, self.timeout)
            self.pacer.sent()
            self.inflight[slot.future] = slot
        return settled

    def _read(self) -> Optional[_Slot]:
        """The next input row, now held; ``None`` at the end of the input or while the window is full."""
        if self.exhausted or len(self.pending) >= self.window:
            return None
        try:
            raw = next(self.source)
        except StopIteration:
            self.exhausted = True
            return None
        slot = self.prepare(self.next_index, raw)
        self.next_index += 1
        self.pending.append(slot)
        return slot

    def finished(self, ordered: bool) -> Iterator[IngestOutcome]:
        """Hand out outcomes: the finished prefix of the held rows (``ordered``) or every finished one."""
        if ordered:
            while self.pending and self.pending[0].outcome is not None:
                head = self.pending.popleft().outcome
                if head is not None:
                    yield head
            return
        for slot in [s for s in self.pending if s.outcome is not None]:
            self.pending.remove(slot)
            if slot.outcome is not None:
                yield slot.outcome

    def drop_held(self) -> None:
        """Halted with nothing in flight: the rows held but never sent (e.g. behind a pause) are not sent."""
        for slot in self.pending:
            if slot.outcome is None:
                self.not_sent(slot)

    def wait(self) -> None:
        """Sleep until the next completion, or until the rate cap, a pause or the stop grace lets something happen."""
        from concurrent.futures import FIRST_COMPLETED, wait

        pacer = self.pacer
        if self.inflight:
            # Wake for the next completion, or when the rate cap lets the next row go, whichever comes first.
            if pacer.ready() or len(self.inflight) >= pacer.limit:
                nap = 0.5
            else:
                nap = max(0.001, min(pacer.pause_left(), 0.5))
            if self.stopping_since is not None:
                nap = max(0.001, min(nap, self.hooks.stop_grace - (time.monotonic() - self.stopping_since)))
            wait(list(self.inflight), timeout=nap, return_when=FIRST_COMPLETED)
        elif not pacer.ready():
            time.sleep(min(pacer.pause_left(), 0.5))


def _run(
    area: _IngestArea,
    rows: Iterable[InputItem],
    keys: KeyFunction,
    pacer: Pacer,
    *,
    ordered: bool,
    hooks: _Hooks,
    timeout: TimeoutTypes,
    dedupe: bool,
) -> Iterator[IngestOutcome]:
    # Imported here: `import vluna_client` and `client.gate` stay cheap for callers that never bulk-ingest.
    from concurrent.futures import ThreadPoolExecutor

    job = _Job(area, rows, _Prepare(keys, dedupe), pacer, hooks, timeout)
    pool = ThreadPoolExecutor(max_workers=pacer.max_workers, thread_name_prefix="vluna-ingest")
    try:
        while True:
            job.check_stop()
            # Collect first, so that a finished request frees its place before sending.
            changed = job.collect()
            if job.wind_down():
                changed = True
            if job.send(pool):
                changed = True
            yield from job.finished(ordered)
            if changed:
                job.progress()
            if not job.pending and (job.exhausted or job.halted):
                break
            if job.halted and not job.inflight:
                job.drop_held()
                continue
            job.wait()
    finally:
        # The caller may stop iterating early: never start the rows that were queued but not yet sent. Rows given up
        # after the stop grace are not waited for (their calls end by their own timeouts).
        pool.shutdown(wait=not job.abandoned, cancel_futures=True)
    job.progress()
    if job.fatal is not None:
        raise job.fatal
