"""Bulk usage ingest: ``client.gate.ingest_many(rows)`` sends many ``gate.ingest`` calls concurrently.

The generated ``client.gate`` class inherits :class:`GateBulkMixin` through the spec's ``x-vluna-area-mixins``; this
module only calls the area's public ``ingest`` method, so it stays correct whatever the generator emits.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional, Protocol, Union, cast

import attrs

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

if TYPE_CHECKING:
    from concurrent.futures import Future

    from ._generated.models.gate import CommitResponse
    from ._result import Result
    from ._transport import TimeoutTypes

IngestStatus = Literal["recorded", "failed", "unknown", "not_sent"]
"""``recorded``: the server answered with the priced result (a first recording or a replay of one: the server
answers both alike, so they cannot be told apart). ``failed``: refused (by the client before sending, or by the
server) and not recorded. ``unknown``: may have been recorded; re-run with the same key to find out. ``not_sent``:
the job stopped before this row was sent."""

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


@attrs.frozen(kw_only=True)
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


@attrs.frozen(kw_only=True)
class IngestOutcome:
    """What happened to one row.

    Attributes:
        index: Position of the row in the input (0-based).
        ref: The row's ``ref`` (or its ``id``).
        status: ``recorded``, ``failed``, ``unknown`` or ``not_sent`` (see :data:`IngestStatus`).
        idempotency_key: The key the row was (or would have been) sent with; replay with it. ``None`` when no
            key could be made (e.g. the row has no id).
        result: The priced result, when recorded.
        error: The typed error, when failed, unknown or not sent.
    """

    index: int
    ref: Any
    status: IngestStatus
    idempotency_key: Optional[str] = None
    result: Optional[Result[CommitResponse]] = None
    error: Optional[VlunaError] = None

    @property
    def amount_xusd(self) -> Optional[str]:
        """The priced amount as an integer string (1 xusd = 1e-6 USD), when recorded."""
        return self.result.data.amount_xusd if self.result is not None else None

    @property
    def ok(self) -> bool:
        """True when recorded."""
        return self.status == "recorded"


@attrs.frozen(kw_only=True)
class IngestProgress:
    """Counters of a running :meth:`GateBulkMixin.ingest_many`, handed to ``on_progress``.

    Attributes:
        done: Rows with an outcome (yielded or about to be).
        recorded: Rows recorded.
        failed: Rows refused.
        unknown: Rows whose outcome is unknown.
        not_sent: Rows never sent because the job stopped.
        in_flight: Requests being sent now.
        workers: The current concurrency limit.
        rate_limited: 429 answers seen so far.
        priced_xusd: Sum of the recorded rows' amounts.
        elapsed: Seconds since the job started.
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

    @property
    def rows_per_second(self) -> float:
        """Rows finished per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


class _IngestArea(Protocol):
    """What :class:`GateBulkMixin` needs from the class it is mixed into."""

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


@attrs.define
class _Slot:
    """One row on its way through the job."""

    index: int
    row: Optional[IngestRow]
    key: Optional[str]
    future: Optional[Future[Result[CommitResponse]]] = None
    outcome: Optional[IngestOutcome] = None
    rate_limited: int = 0


class GateBulkMixin:
    """Bulk helpers of ``client.gate`` (inherited by the generated class)."""

    __slots__ = ()

    def ingest_many(
        self: _IngestArea,
        rows: Iterable[Union[IngestRow, Mapping[str, Any]]],
        *,
        key: Optional[KeyFunction] = None,
        namespace: str = DEFAULT_NAMESPACE,
        workers: Optional[int] = None,
        max_workers: int = 32,
        ordered: bool = True,
        on_progress: Optional[Callable[[IngestProgress], None]] = None,
        timeout: TimeoutTypes = None,
    ) -> Iterator[IngestOutcome]:
        """Record many usage rows with ``gate.ingest``, concurrently, each exactly once however often it runs.

        ::

            rows = ({"id": e.id, "principal_id": e.org, "user_id": e.user, "feature_code": "llm.chat",
                     "quantity_minor": e.tokens} for e in events)
            for outcome in client.gate.ingest_many(rows):
                if not outcome.ok:
                    print(outcome.ref, outcome.status, outcome.error)

        Rows are read lazily and at most a few times ``max_workers`` are held at once, so an input of millions of
        rows (a generator, a file reader) runs in flat memory. Every row's Idempotency-Key is fixed before its
        first attempt and reused on every retry; by default it is
        ``idempotency_key(namespace, principal_id, user_id, id, realm_id=<client realm>)``, so re-running the same
        rows after a crash records nothing twice (the server keeps ingest keys with no expiry). The principal and
        user are part of the key because the server's HTTP replay cache is shared by every user of a service
        key: without them, two users' rows with the same id and body would share one recording.

        One bad row never stops the job: a row refused by the client or the server (400/402/404/409/422) is
        ``failed`` and the next rows go on. Errors every row would hit stop it: after a 401, 403 or a
        configuration error no new row is sent, the rows already in flight finish and are yielded, and then that
        error is raised; rows after the last yielded outcome were not sent. A 429 halves the concurrency, pauses
        sending for the wait the server asked for, sends the same row again with the same key, and from then on
        spaces sends just under the rate that drew the 429, raising that cap while no 429 comes back.

        Args:
            rows: :class:`IngestRow` objects or mappings with the same keys; any iterable, consumed lazily.
            key: ``row -> Idempotency-Key``, replacing the default (e.g. to keep keys you already store).
            namespace: Namespace of the default keys: say what the ids are unique in (e.g. ``"billing-export"``).
            workers: A fixed number of concurrent requests; ``None`` (default) adapts: it starts at 8 and grows
                by half while throughput rises, up to ``max_workers``; a probe that brings nothing is undone.
            max_workers: Upper bound of concurrent requests.
            ordered: ``True`` yields outcomes in input order (a slow row holds back later ones, within the
                bounded window); ``False`` yields them as they complete.
            on_progress: Called with an :class:`IngestProgress` whenever outcomes were collected.
            timeout: Per-call timeout, as for ``gate.ingest``.

        Yields:
            One :class:`IngestOutcome` per row.

        Raises:
            AuthenticationError: after the in-flight rows are yielded, when the server refused the credentials.
            PermissionDeniedError: likewise, for a 403.
            ConfigurationError: likewise, when the client is set up wrongly.
            InputValidationError: at once, for a bad ``workers``/``max_workers``.
        """
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise InputValidationError("workers must be a positive integer or None", field="workers")
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise InputValidationError("max_workers must be a positive integer", field="max_workers")
        if not isinstance(namespace, str) or not namespace.strip():
            raise InputValidationError("namespace must be a non-empty string", field="namespace")
        host = getattr(self, "_host", None)
        realm = getattr(host, "realm_id", None)
        keys = key or _default_keys(namespace, realm if isinstance(realm, str) else None)
        pacer = Pacer(workers=workers, max_workers=max(max_workers, workers or 0))
        # The pacer answers a 429 for the whole job (pause, slow down, resend the row with its key); a client that
        # also sat out each 429 inside the worker would hold that worker idle for the wait.
        paced = getattr(host, "_without_rate_limit_retries", None)
        area: _IngestArea = cast(Any, type(self))(paced()) if callable(paced) else self
        return _run(area, rows, keys, pacer, ordered=ordered, on_progress=on_progress, timeout=timeout)


def _default_keys(namespace: str, realm_id: Optional[str]) -> KeyFunction:
    def make(row: IngestRow) -> str:
        if row.id is None or row.id == "":
            raise InputValidationError("the row has no id (needed for its Idempotency-Key)", field="id")
        if not isinstance(row.principal_id, str) or not isinstance(row.user_id, str):
            raise InputValidationError("principal_id and user_id are required", field="principal_id")
        return idempotency_key(namespace, row.principal_id, row.user_id, row.id, realm_id=realm_id)

    return make


def _prepare(index: int, raw: Any, keys: KeyFunction) -> _Slot:
    """Turn an input row into a slot: ready to send, or already failed (nothing sent)."""
    try:
        row = IngestRow.coerce(raw)
    except InputValidationError as exc:
        return _Slot(index, None, None, outcome=IngestOutcome(index=index, ref=None, status="failed", error=exc))
    try:
        key = keys(row)
        if not isinstance(key, str) or not key.strip():
            raise InputValidationError("the key function must return a non-empty string", field="key")
        if not isinstance(row.feature_code, str):
            raise InputValidationError("feature_code is required", field="feature_code")
    except InputValidationError as exc:
        outcome = IngestOutcome(index=index, ref=row.reference, status="failed", error=exc)
        return _Slot(index, row, None, outcome=outcome)
    return _Slot(index, row, key)


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
    ``may_have_applied`` is true); ``failed`` for every other client error.
    """
    if not isinstance(error, VlunaError):
        raise error
    if isinstance(error, OutcomeUnknownError) or error.may_have_applied:
        return IngestOutcome(index=index, ref=ref, status="unknown", idempotency_key=key, error=error)
    return IngestOutcome(index=index, ref=ref, status="failed", idempotency_key=key, error=error)


@attrs.define
class _Counters:
    recorded: int = 0
    failed: int = 0
    unknown: int = 0
    not_sent: int = 0
    priced: int = 0

    def add(self, outcome: IngestOutcome) -> None:
        if outcome.status == "recorded":
            self.recorded += 1
            amount = outcome.amount_xusd
            if amount is not None and amount.lstrip("-").isdigit():
                self.priced += int(amount)
        elif outcome.status == "failed":
            self.failed += 1
        elif outcome.status == "unknown":
            self.unknown += 1
        else:
            self.not_sent += 1


def _run(
    area: _IngestArea,
    rows: Iterable[Union[IngestRow, Mapping[str, Any]]],
    keys: KeyFunction,
    pacer: Pacer,
    *,
    ordered: bool,
    on_progress: Optional[Callable[[IngestProgress], None]],
    timeout: TimeoutTypes,
) -> Iterator[IngestOutcome]:
    # Imported here: `import vluna_client` and `client.gate` stay cheap for callers that never bulk-ingest.
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    started = time.monotonic()
    source = iter(rows)
    window = max(64, 4 * pacer.max_workers)  # rows held at once: in flight plus finished but not yet yielded
    pending: deque[_Slot] = deque()  # every held row, in input order
    resend: deque[_Slot] = deque()  # rows answered 429, to send again (same key) before new ones
    inflight: dict[Future[Result[CommitResponse]], _Slot] = {}
    counters = _Counters()
    exhausted = False
    fatal: Optional[VlunaError] = None
    next_index = 0

    def progress() -> None:
        if on_progress is not None:
            on_progress(
                IngestProgress(
                    done=counters.recorded + counters.failed + counters.unknown + counters.not_sent,
                    recorded=counters.recorded,
                    failed=counters.failed,
                    unknown=counters.unknown,
                    not_sent=counters.not_sent,
                    in_flight=len(inflight),
                    workers=pacer.limit,
                    rate_limited=pacer.rate_limited,
                    priced_xusd=counters.priced,
                    elapsed=time.monotonic() - started,
                )
            )

    def finish(slot: _Slot, outcome: IngestOutcome) -> None:
        slot.outcome = outcome
        counters.add(outcome)

    pool = ThreadPoolExecutor(max_workers=pacer.max_workers, thread_name_prefix="vluna-ingest")
    try:
        while True:
            # 1. Collect what finished (first, so a finished request frees its place before sending).
            collected = False
            for future in [f for f in inflight if f.done()]:
                slot = inflight.pop(future)
                collected = True
                ref = slot.row.reference if slot.row is not None else None
                error = future.exception()
                if error is None:
                    pacer.completed()
                    outcome = IngestOutcome(
                        index=slot.index, ref=ref, status="recorded", idempotency_key=slot.key, result=future.result()
                    )
                    finish(slot, outcome)
                    continue
                if isinstance(error, RateLimitError) and not isinstance(error, OutcomeUnknownError):
                    pacer.rate_limited_for(error.retry_after)
                    slot.rate_limited += 1
                    if slot.rate_limited < _MAX_RATE_LIMITED:
                        resend.append(slot)  # refused before any work: the same key again is a plain resend
                        continue
                else:
                    pacer.completed()
                finish(slot, outcome_for(slot.index, ref, slot.key, error))
                if isinstance(error, _FATAL) and fatal is None:
                    fatal = error
            if fatal is not None:
                for slot in resend:
                    ref = slot.row.reference if slot.row is not None else None
                    finish(slot, IngestOutcome(index=slot.index, ref=ref, status="not_sent", idempotency_key=slot.key))
                resend.clear()

            # 2. Send: rows answered 429 first, then new rows, within the limit, the window and any pause.
            while fatal is None and len(inflight) < pacer.limit and pacer.ready():
                if resend:
                    slot = resend.popleft()
                elif not exhausted and len(pending) < window:
                    try:
                        raw = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    slot = _prepare(next_index, raw, keys)
                    next_index += 1
                    pending.append(slot)
                    if slot.outcome is not None:
                        counters.add(slot.outcome)
                        continue
                else:
                    break
                if slot.row is None or slot.key is None:  # _prepare gave it an outcome already
                    continue
                slot.future = pool.submit(_send, area, slot.row, slot.key, timeout)
                pacer.sent()
                inflight[slot.future] = slot

            # 3. Hand out outcomes: the finished prefix (ordered) or everything finished.
            if ordered:
                while pending and pending[0].outcome is not None:
                    head = pending.popleft().outcome
                    if head is not None:
                        yield head
            else:
                for slot in [s for s in pending if s.outcome is not None]:
                    pending.remove(slot)
                    if slot.outcome is not None:
                        yield slot.outcome
            if collected:
                progress()

            # 4. Done, or wait for the next completion (or the end of a pause).
            if not pending and (exhausted or fatal is not None):
                break
            if inflight:
                # Wake for the next completion, or when the rate cap lets the next row go, whichever comes first.
                nap = 0.5 if pacer.ready() or len(inflight) >= pacer.limit else max(0.001, min(pacer.pause_left(), 0.5))
                wait(list(inflight), timeout=nap, return_when=FIRST_COMPLETED)
            elif not pacer.ready():
                time.sleep(min(pacer.pause_left(), 0.5))
    finally:
        # The caller may stop iterating early: never start the rows that were queued but not yet sent.
        pool.shutdown(wait=True, cancel_futures=True)
    progress()
    if fatal is not None:
        raise fatal
