"""Retry-safe billing in Celery tasks: keys that survive retries, and a lease that waits for the retry.

Celery keeps ``task.request.id`` across ``autoretry_for`` and ``self.retry()`` retries, so a key derived from it
is the same on every attempt. Two writes need such keys for a task to be charged exactly once:

- the authorize, so a retry gets the same lease back (the server answers a replayed authorize with the lease it
  created the first time), and
- the commit, so a retry of a commit that was already recorded (answer lost, or the task failed after it) is
  answered with the first result instead of charging again. Commits are deduplicated per lease, which is why the
  lease must be the same one.

:func:`task_lease` does both. One more rule makes it work: a lease must not be cancelled while a retry is coming
(the retry would replay the authorize, get the cancelled lease back and could not commit). So on an exception that
Celery will retry (``autoretry_for``, ``self.retry()``, retries left) the lease is left open for the next attempt;
on any other exception, or a return without commit, it is cancelled as usual. A lease whose retries never come
expires on the server (12 hours by default) without charging anything.

::

    from vluna_client.contrib.celery import task_lease

    @app.task(bind=True, autoretry_for=(OutcomeUnknownError, APIConnectionError, ServerError), retry_backoff=True)
    def summarize(self, doc_id, org_id, user_id):
        with task_lease(self, client, feature_code="llm.summarize", principal_id=org_id, user_id=user_id) as lease:
            used = run_the_model(doc_id)
            lease.commit(quantity_minor=used)             # same key on every attempt: charged once

A retry that commits a different quantity than the attempt that was recorded gets a
:class:`~vluna_client.ConflictError` with ``is_idempotency_conflict``: the first commit stands. Commit what the
first attempt measured (store it with your result) when the work is not deterministic.

Celery is never imported by this module; tasks are used through ``task.name``, ``task.request`` and the
``autoretry_for``/``max_retries`` attributes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional, Union

import attrs

from .._errors import InputValidationError, VlunaError
from .._keys import KeyPart, idempotency_key
from .._lease import Lease, LeaseGate, LeaseTerms
from .._timeout import TimeoutTypes

if TYPE_CHECKING:
    from .._client import ServiceClient

__all__ = ["TaskLease", "task_key", "task_lease", "will_retry"]

logger = logging.getLogger("vluna_client")


def task_key(task: Any, *parts: KeyPart) -> str:
    """An Idempotency-Key that is the same on every attempt of one Celery task run.

    It is ``idempotency_key("celery:" + task.name, task.request.id, *parts)``: use distinct ``parts`` for distinct
    writes of one task (``task_key(self, "refund", order_id)``).

    Args:
        task: The bound task (``self`` in a ``bind=True`` task).
        *parts: Further identifiers that tell this write apart from the task's other writes.

    Raises:
        InputValidationError: the task has no request id (it was called directly, not through Celery), or a part
            is not a string or an integer.
    """
    request_id = getattr(getattr(task, "request", None), "id", None)
    if not isinstance(request_id, str) or not request_id:
        raise InputValidationError(
            "task_key needs a task run by Celery (task.request.id is not set: was the task called directly?)",
            field="task",
        )
    return idempotency_key("celery:" + str(task.name), request_id, *parts)


def _business_keys(task: Any, key: Union[KeyPart, Sequence[KeyPart]]) -> tuple[str, str]:
    """The authorize and commit keys of a lease identified by a business key instead of the task run.

    They depend on the task's name and ``key`` only, so two runs of the task for the same key (the same document
    enqueued twice) share one lease and one commit.
    """
    parts: tuple[Any, ...] = tuple(key) if isinstance(key, (tuple, list)) else (key,)
    if not parts:
        raise InputValidationError("task_lease: key must not be empty", field="key")
    namespace = "celery-key:" + str(task.name)
    return idempotency_key(namespace, *parts, "vluna.authorize"), idempotency_key(namespace, *parts, "vluna.commit")


class TaskLease(Lease):
    """A :class:`~vluna_client.Lease` for one Celery task run; create it with :func:`task_lease`.

    Its authorize and its commit carry keys derived from the task's request id (or from a business ``key``), and it
    stays open (instead of being cancelled) when the block raises an exception that Celery is going to retry.
    ``commit`` without an ``idempotency_key`` uses the task's own commit key, so it is charged once per task run.

    Args:
        task: The bound task.
        gate: The gate calls (``client.gate``).
        terms: What the lease is for; its ``idempotency_key`` is replaced by the task's authorize key.
        key: The business key, as for :func:`task_lease`.
    """

    def __init__(
        self,
        task: Any,
        gate: LeaseGate,
        terms: LeaseTerms,
        *,
        key: Union[KeyPart, Sequence[KeyPart], None] = None,
    ) -> None:
        if key is None:
            authorize_key, commit_key = task_key(task, "vluna.authorize"), task_key(task, "vluna.commit")
        else:
            authorize_key, commit_key = _business_keys(task, key)
        super().__init__(gate, attrs.evolve(terms, idempotency_key=authorize_key))
        self._task = task
        self._task_commit_key = commit_key

    def _default_commit_key(self) -> str:
        return self._task_commit_key

    def _recover_after(self, error: VlunaError) -> bool:
        # A retry that is coming replays authorize with the same key and gets the lease back: giving it back now
        # would leave the retry a cancelled lease it cannot commit.
        return not will_retry(self._task, error)

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc is not None and self.state == "open" and will_retry(self._task, exc):
            logger.info("vluna lease %s: left open for the retry of task %s", self.lease_id, self._task.request.id)
            return
        super().__exit__(exc_type, exc, tb)


def task_lease(
    task: Any,
    client: ServiceClient,
    *,
    feature_code: str,
    principal_id: Optional[str] = None,
    user_id: Optional[str] = None,
    estimated_quantity_minor: Optional[Union[int, str]] = None,
    feature_family_code: Optional[str] = None,
    budget_id: Optional[str] = None,
    labels: Optional[Mapping[str, str]] = None,
    timeout: TimeoutTypes = None,
    key: Union[KeyPart, Sequence[KeyPart], None] = None,
) -> TaskLease:
    """A gate lease for a Celery task that every retry of the task shares; use it in a ``with`` block.

    Arguments are those of :meth:`ServiceClient.lease`; pass the same values on every attempt (a replayed authorize
    with different arguments is refused as an idempotency conflict). See the module docstring for the rules.

    Args:
        task: The bound task (``self`` in a ``bind=True`` task).
        client: The worker's :class:`~vluna_client.ServiceClient` (one per process).
        feature_code: The gated feature.
        principal_id: The paying customer.
        user_id: The end user.
        estimated_quantity_minor: Expected usage.
        feature_family_code: Optional feature family.
        budget_id: Optional budget.
        labels: Optional labels.
        timeout: Per-call timeout for the lease's calls.
        key: A business key (a string, an integer, or a tuple of them, e.g. ``("summary", doc_id)``) that names
            the work instead of the task run. The lease's keys then come from the task's name and this key, so a
            task enqueued twice for the same document is charged once: the second run gets the first run's lease
            back and its commit is answered with the first commit (a different quantity is refused with
            :class:`~vluna_client.ConflictError`). Without it, keys come from ``task.request.id``.

    Raises:
        InputValidationError: ``key`` is empty or holds something other than strings and integers.
    """
    terms = LeaseTerms(
        feature_code=feature_code,
        principal_id=principal_id,
        user_id=user_id,
        estimated_quantity_minor=estimated_quantity_minor,
        feature_family_code=feature_family_code,
        budget_id=budget_id,
        labels=labels,
        timeout=timeout,
    )
    return TaskLease(task, client.gate, terms, key=key)


def will_retry(task: Any, exc: BaseException) -> bool:
    """Whether Celery will run ``task`` again after ``exc`` escapes from it (as its autoretry would decide).

    True for ``celery.exceptions.Retry`` (``raise self.retry(...)``), and for an exception listed in the task's
    ``autoretry_for`` (and not in ``dont_autoretry_for``) while retries are left.
    """
    request = getattr(task, "request", None)
    if request is None or getattr(request, "called_directly", False):
        return False
    if type(exc).__name__ == "Retry" and type(exc).__module__.startswith("celery."):
        return True
    autoretry_for = tuple(getattr(task, "autoretry_for", ()) or ())
    dont_autoretry_for = tuple(getattr(task, "dont_autoretry_for", ()) or ())
    if not autoretry_for or not isinstance(exc, autoretry_for):
        return False
    if dont_autoretry_for and isinstance(exc, dont_autoretry_for):
        return False
    if type(exc).__name__ == "Ignore" and type(exc).__module__.startswith("celery."):
        return False
    retry_kwargs = getattr(task, "retry_kwargs", None) or {}
    max_retries = retry_kwargs.get("max_retries", getattr(task, "max_retries", None))
    retries = getattr(request, "retries", 0) or 0
    return max_retries is None or retries < max_retries
