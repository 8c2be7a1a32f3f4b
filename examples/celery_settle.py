"""Settle writes whose outcome is unknown in a Celery worker, after the web request that hit them has ended.

A web view that gets an ``OutcomeUnknownError`` (a commit whose answer was lost) should not keep its user waiting
while it retries: it hands the error's pending-write record to this task and answers at once. The worker replays
the write with the same idempotency key until the server answers: a commit that was recorded is answered with its
first result, one that was not is recorded now. Either way it is charged exactly once.

In the view::

    try:
        lease.commit(quantity_minor=used)
    except OutcomeUnknownError as exc:
        settle_write.delay(exc.pending.to_dict())     # plain JSON: fine for Celery's default serializer

Run a worker with ``celery -A celery_settle worker``; the broker and result backend come from the module named by
``CELERY_CONFIG_MODULE`` (``celeryconfig`` by default), the Vluna client from the ``VLUNA_*`` variables.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from vluna_client import APIConnectionError, OutcomeUnknownError, RateLimitError, ServerError, ServiceClient

app = Celery("vluna_settle")
app.config_from_object(os.environ.get("CELERY_CONFIG_MODULE", "celeryconfig"))
client = ServiceClient.from_env()  # one per worker process


@app.task(
    bind=True,
    # Still unknown (lost again), never sent, or refused for a moment: try again later with the same record.
    autoretry_for=(OutcomeUnknownError, APIConnectionError, RateLimitError, ServerError),
    retry_backoff=True,
    max_retries=8,
)
def settle_write(self: Any, record: dict[str, Any]) -> dict[str, Any]:
    """Replay one pending write (``exc.pending.to_dict()``) until its outcome is known; return what settled it."""
    result = client.replay(record)
    return {
        "operation": result.operation,
        "idempotency_key": result.idempotency_key,
        "status_code": result.status_code,
        "request_id": result.request_id,
    }
