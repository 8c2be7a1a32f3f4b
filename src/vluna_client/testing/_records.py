"""Immutable records of what the emulator did, and the ledger that exposes them to tests."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = [
    "CancelRecord",
    "CommitLineRecord",
    "CommitRecord",
    "LeaseRecord",
    "Ledger",
    "RequestRecord",
]


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request as the emulator saw and answered it.

    Attributes:
        method: HTTP method.
        path: request path without the query string.
        query: raw query string (``""`` when absent).
        idempotency_key: the ``Idempotency-Key`` header as received, or ``None``.
        status: HTTP status of the answer (for a dropped answer: the status that was computed, never sent; 0 for
            a connection reset before processing).
        replayed: the answer came from the HTTP idempotency cache.
        fault: kind of injected fault applied (see :data:`~vluna_client.testing.FAULT_KINDS`) or ``None``.
        dropped: no usable answer was sent (``reset``, ``drop``, a ``stall`` that ends by dropping it, or a
            ``trickle`` or ``oversized`` answer, which a bounded client gives up on).
        processed: the request went through the emulator's pipeline, so any write it carried was applied (or
            refused by the emulator's own checks: see ``status``); False when a fault stopped it before.
        held_seconds: how long a ``stall`` fault was to hold the answer (0 otherwise); a client whose read timeout is
            shorter gives up before that, and its answer is lost even when it is sent.
    """

    method: str
    path: str
    query: str
    idempotency_key: Optional[str]
    status: int
    replayed: bool = False
    fault: Optional[str] = None
    dropped: bool = False
    processed: bool = True
    held_seconds: float = 0.0


@dataclass(frozen=True)
class CommitLineRecord:
    """One priced meter line of a commit."""

    line_id: str
    meter_code: str
    quantity_minor: int
    unit_price_xusd: int
    amount_xusd: int


@dataclass(frozen=True)
class CommitRecord:
    """A usage commit stored by the emulator (idempotent replays do not add records).

    Attributes:
        commit_id: the ``commit_id`` returned to the caller.
        kind: ``"commit"`` (``/gate/commits``), ``"batch"`` (an item of ``/gate/commits/batch``) or ``"ingest"``.
        lease_id: the lease charged (``None`` for ingest).
        idempotency_key: the key the database layer deduplicated on (for batch items: the item's key).
        feature_code: normalised feature code.
        quantity_minor: feature-level quantity from the request.
        amount_xusd: total priced amount.
        applied_amount_xusd: amount actually settled (0 when quarantined).
        application_status: ``"applied"`` or ``"quarantined"``.
        hint_types: hint ``type`` values returned with the commit.
        lines: the priced meter lines.
        principal_id: caller's principal (payor) id.
        user_id: caller's business user id.
        billing_account_id: emulator billing account UUID.
        billing_user_id: emulator billing user UUID.
        labels: normalised labels as sorted ``(key, value)`` pairs.
        committed_at: server time of the commit.
    """

    commit_id: str
    kind: str
    lease_id: Optional[str]
    idempotency_key: str
    feature_code: str
    quantity_minor: int
    amount_xusd: int
    applied_amount_xusd: int
    application_status: str
    hint_types: Tuple[str, ...]
    lines: Tuple[CommitLineRecord, ...]
    principal_id: str
    user_id: str
    billing_account_id: str
    billing_user_id: str
    labels: Tuple[Tuple[str, str], ...]
    committed_at: datetime


@dataclass(frozen=True)
class CancelRecord:
    """A call to ``/gate/cancel`` that reached the lease (both ``cancelled`` true and false are recorded)."""

    lease_id: str
    idempotency_key: str
    cancelled: bool
    trace_id: str
    cancelled_at: datetime


@dataclass(frozen=True)
class LeaseRecord:
    """A snapshot of a lease at the time :meth:`Ledger.leases` was called.

    ``state`` uses the client's words (those of :class:`vluna_client.Lease`), not the server's: ``"open"`` (the
    server's ``active``), ``"committed"`` (the server's ``closed``: a commit was applied to it) and ``"cancelled"``
    (the server's ``canceled``). Hints on the wire keep the server's words, e.g. ``lease.closed_at_commit`` with
    ``state: "closed"``.
    """

    lease_id: str
    lease_token: str
    feature_code: str
    feature_family_code: str
    state: str
    idempotency_key: str
    principal_id: str
    user_id: str
    billing_account_id: str
    billing_user_id: str
    estimated_quantity_minor: Optional[int]
    window_start: str
    window_end: str
    created_at: datetime
    expires_at: datetime


class Ledger:
    """Read-only view of what the emulator recorded; every accessor returns a fresh list of frozen records.

    The emulator writes through the private ``_append_*`` methods; tests only read.
    """

    def __init__(self, leases: Callable[[], List[LeaseRecord]]) -> None:
        self._lock = threading.Lock()
        self._requests: List[RequestRecord] = []
        self._commits: List[CommitRecord] = []
        self._cancels: List[CancelRecord] = []
        self._lease_snapshot = leases

    @property
    def requests(self) -> List[RequestRecord]:
        """Every request in arrival order (including faulted, replayed and dropped ones)."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str, method: Optional[str] = None) -> List[RequestRecord]:
        """Requests whose path (trailing slash ignored) equals ``path``, optionally filtered by method."""
        wanted = path.rstrip("/")
        return [
            record
            for record in self.requests
            if record.path.rstrip("/") == wanted and (method is None or record.method == method.upper())
        ]

    def commits(
        self,
        lease_id: Optional[str] = None,
        idempotency_key: Optional[str] = None,
        *,
        include_ingest: bool = False,
    ) -> List[CommitRecord]:
        """Recorded commits (single and batch items), oldest first, optionally filtered.

        Args:
            lease_id: only commits charged to this lease.
            idempotency_key: only commits stored under this key (a batch item's own key for batch items).
            include_ingest: also return ``/gate/ingest`` records.
        """
        with self._lock:
            records = list(self._commits)
        return [
            record
            for record in records
            if (include_ingest or record.kind != "ingest")
            and (lease_id is None or record.lease_id == lease_id)
            and (idempotency_key is None or record.idempotency_key == idempotency_key)
        ]

    def ingests(self, idempotency_key: Optional[str] = None) -> List[CommitRecord]:
        """Recorded ``/gate/ingest`` usage, oldest first."""
        with self._lock:
            records = list(self._commits)
        return [
            record
            for record in records
            if record.kind == "ingest" and (idempotency_key is None or record.idempotency_key == idempotency_key)
        ]

    def cancels(self, lease_id: Optional[str] = None) -> List[CancelRecord]:
        """Recorded cancel calls, oldest first, optionally for one lease."""
        with self._lock:
            records = list(self._cancels)
        return [record for record in records if lease_id is None or record.lease_id == lease_id]

    def leases(self) -> List[LeaseRecord]:
        """Snapshots of every lease, oldest first, with their current state."""
        return self._lease_snapshot()

    def snapshot(self) -> Dict[str, Any]:
        """Everything recorded, as JSON-ready data (what ``GET /_emulator/ledger`` answers).

        ``requests``, ``commits`` (ingests included, with their lines), ``cancels`` and ``leases``, oldest first;
        times are ISO 8601 UTC strings. Lease tokens are left out: they are bearer capabilities for a lease.
        """
        leases = []
        for lease in self.leases():
            record = _plain(asdict(lease))
            record.pop("lease_token", None)
            leases.append(record)
        with self._lock:
            requests, commits, cancels = list(self._requests), list(self._commits), list(self._cancels)
        return {
            "requests": [_plain(asdict(r)) for r in requests],
            "commits": [_plain(asdict(c)) for c in commits],
            "cancels": [_plain(asdict(c)) for c in cancels],
            "leases": leases,
        }

    def clear_requests(self) -> None:
        """Forget the request log (commits, cancels and leases are kept)."""
        with self._lock:
            self._requests.clear()

    def _append_request(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def _append_commit(self, record: CommitRecord) -> None:
        with self._lock:
            self._commits.append(record)

    def _append_cancel(self, record: CancelRecord) -> None:
        with self._lock:
            self._cancels.append(record)


def _plain(value: Any) -> Any:
    """``value`` with datetimes as ISO 8601 UTC strings (milliseconds, ``Z``) and tuples as lists."""
    if isinstance(value, datetime):
        moment = value.astimezone(timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
