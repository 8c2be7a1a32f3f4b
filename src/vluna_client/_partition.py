"""One partition of a distributed usage export (Dask, Spark, a multiprocessing pool) sent with ``ingest_many``.

Engines re-run work: a retried task, a partition recomputed after its worker died, a speculative copy of a slow
task. Each row's Idempotency-Key derives from its event id (the default keys of ``ingest_many``, the ones ``vluna
usage ingest`` sends), so every re-run replays what was recorded instead of charging it again. The counts a
partition returns are plain data that the driver adds up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Optional, Union

import attrs

from ._attrs_methods import shared_methods
from ._bulk import DEFAULT_NAMESPACE, IngestOutcome, IngestRow, InvalidRow, OutcomeTally
from ._errors import APIError

if TYPE_CHECKING:
    from ._client import ServiceClient
    from ._timeout import TimeoutTypes


def _frozen_counts(value: Mapping[str, int]) -> dict[str, int]:
    return dict(value)


@shared_methods(frozen=True)
@attrs.frozen(kw_only=True, repr=False, eq=False)
class PartitionCounts:
    """What one partition's rows came to; ``a + b`` (and ``sum(...)``) adds partitions up.

    Attributes:
        rows: Rows read from the partition.
        recorded: Rows the server answered with their priced result. A re-run's rows count here too: the server
            answers a replayed key exactly like the first recording (no marker tells them apart), and charges
            nothing for it. The emulator's ledger, or the server's usage, shows how many were charged.
        failed: Rows the server refused (402, 404, 409, 422...), or that failed without an answer while certainly
            not recorded; not recorded.
        invalid: Rows refused before sending (no event id, a missing field, a negative quantity...).
        unknown: Rows that may have been recorded: run the partition again (same rows, same namespace) to settle
            them; it charges nothing twice.
        not_sent: Rows never sent because the job stopped (a 401 or 403 stops it and is raised).
        duplicate: Rows repeating an earlier row of the same partition (same event, same values): sent once.
        priced_xusd: Sum of the recorded rows' amounts (1 xusd = 1e-6 USD), replays included.
        reasons: Refused rows (``failed`` and ``invalid``) by reason: ``"422 VALIDATION.INVALID_INPUT"`` for the
            server's refusals, ``"invalid quantity_minor"`` for rows refused locally, an error class name otherwise.
    """

    rows: int = 0
    recorded: int = 0
    failed: int = 0
    invalid: int = 0
    unknown: int = 0
    not_sent: int = 0
    duplicate: int = 0
    priced_xusd: int = 0
    reasons: Mapping[str, int] = attrs.field(factory=dict, converter=_frozen_counts)

    @property
    def settled(self) -> bool:
        """True when every row has a final outcome (none ``unknown`` or ``not_sent``)."""
        return self.unknown == 0 and self.not_sent == 0

    def __add__(self, other: PartitionCounts) -> PartitionCounts:
        if not isinstance(other, PartitionCounts):
            return NotImplemented
        reasons = dict(self.reasons)
        for reason, count in other.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
        return PartitionCounts(
            rows=self.rows + other.rows,
            recorded=self.recorded + other.recorded,
            failed=self.failed + other.failed,
            invalid=self.invalid + other.invalid,
            unknown=self.unknown + other.unknown,
            not_sent=self.not_sent + other.not_sent,
            duplicate=self.duplicate + other.duplicate,
            priced_xusd=self.priced_xusd + other.priced_xusd,
            reasons=reasons,
        )

    def __radd__(self, other: Any) -> PartitionCounts:
        # sum() starts from 0.
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented

    @classmethod
    def of(cls, outcomes: Iterable[IngestOutcome]) -> PartitionCounts:
        """Count a run of ``ingest_many`` outcomes."""
        tally = OutcomeTally(reason=_refusal)
        for outcome in outcomes:
            tally.add(outcome)
        return cls(
            rows=tally.rows,
            recorded=tally.count("recorded"),
            failed=tally.count("failed"),
            invalid=tally.count("invalid"),
            unknown=tally.count("unknown"),
            not_sent=tally.count("not_sent"),
            duplicate=tally.count("duplicate"),
            priced_xusd=tally.priced_xusd,
            reasons=tally.reasons,
        )


def _refusal(outcome: IngestOutcome) -> Optional[str]:
    """The reason :attr:`PartitionCounts.reasons` counts a refused (``failed`` or ``invalid``) row under."""
    if outcome.status not in ("failed", "invalid"):
        return None
    return _reason(outcome.error, local=outcome.status == "invalid")


def _reason(error: Optional[BaseException], *, local: bool) -> str:
    if local:
        field = getattr(error, "field", None)
        return f"invalid {field}" if isinstance(field, str) and field else "invalid row"
    if isinstance(error, APIError):
        return f"{error.status} {error.code}" if error.code else str(error.status)
    return type(error).__name__ if error is not None else "unknown error"


def ingest_partition(
    client: ServiceClient,
    rows: Iterable[Union[IngestRow, Mapping[str, Any]]],
    *,
    namespace: str = DEFAULT_NAMESPACE,
    workers: Optional[int] = None,
    max_workers: int = 32,
    max_rate: Optional[float] = None,
    timeout: TimeoutTypes = None,
) -> PartitionCounts:
    """Ingest one partition's usage rows exactly once, however often the engine runs it; return its counts.

    ::

        counts = bag.map_partitions(lambda rows: [vluna_client.ingest_partition(client, rows)]).compute()
        total = sum(counts)

    The client travels to the worker by pickling (configuration and credentials; connections are opened there).
    Rows are :class:`IngestRow` objects or mappings: with ``id`` (as for ``ingest_many``), or with ``event_id``
    and the other columns of a ``vluna usage ingest`` file (text or typed values), read exactly as that command
    reads them. Keys are ``ingest_many``'s defaults, derived from (namespace, principal, user, event id), so the
    same event sent from a re-run task, a recomputed partition, a speculative copy or the command line is
    recorded once. A row repeating an earlier one of the partition (same event, same values) is sent once and
    counted as ``duplicate``.

    Args:
        client: A :class:`ServiceClient` (or a bound view of one).
        rows: The partition's rows, consumed lazily.
        namespace: What the event ids are unique in (the same default as ``vluna usage ingest``).
        workers: Fixed concurrency per partition; ``None`` adapts, as in ``ingest_many``.
        max_workers: Upper bound of concurrent requests per partition.
        max_rate: Requests per second this partition never exceeds. Against a server rate limit shared by ``n``
            partitions running at once (``n`` workers), pass ``limit / n``: pacing by 429s alone, each partition
            learns the limit on its own and together they keep overshooting it.
        timeout: Per-call timeout.

    Returns:
        The partition's :class:`PartitionCounts`.

    Raises:
        AuthenticationError: the credentials were refused (the rows in flight finished first); so are
            :class:`PermissionDeniedError` and :class:`ConfigurationError`. The engine's retry of the task then
            replays what was recorded.
    """
    outcomes = client.gate.ingest_many(
        _readable(rows),
        namespace=namespace,
        workers=workers,
        max_workers=max_workers,
        max_rate=max_rate,
        ordered=False,
        timeout=timeout,
        dedupe=True,
    )
    return PartitionCounts.of(outcomes)


def _readable(rows: Iterable[Any]) -> Iterator[Any]:
    """The rows for ``ingest_many``, with command-line-shaped mappings read as ``vluna usage ingest`` reads them.

    A mapping with ``event_id`` goes through the command's own row reading; one it refuses becomes an
    :class:`InvalidRow` (reported as ``invalid``, never sent).
    """
    from .cli._rows import RowError, parse_row

    for index, row in enumerate(rows):
        if not (isinstance(row, Mapping) and "event_id" in row):
            yield row
            continue
        parsed = parse_row(row, line=index, from_text=False)
        if isinstance(parsed, RowError):
            yield InvalidRow(reason=parsed.reason, ref=index, field=parsed.field)
        else:
            yield parsed
