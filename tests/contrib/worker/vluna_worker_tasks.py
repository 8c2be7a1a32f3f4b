"""The task module a real Celery worker runs in the tests: the settle recipe of examples/ plus probes.

The probes raise the client's typed errors inside the worker, so the tests can check what reaches ``result.get()``
through the JSON result backend.
"""

from __future__ import annotations

from typing import Any

from celery_settle import app, settle_write  # noqa: F401 - the recipe's task is registered by importing it

from vluna_client import (
    NO_RETRIES,
    ConfigurationError,
    InputValidationError,
    LeaseRecoveredError,
    RateLimitError,
    ServiceClient,
)

# One attempt per call, so a probe whose answers the emulator drops gives up at once.
impatient = ServiceClient.from_env(retry=NO_RETRIES)


@app.task
def ping() -> str:
    """Answers once the worker serves tasks."""
    return "pong"


@app.task
def authorize(principal_id: str, user_id: str, feature_code: str = "llm.chat") -> str:
    """A gate authorize in the worker; a refusal escapes as the task's error."""
    lease = impatient.gate.authorize(feature_code=feature_code, principal_id=principal_id, user_id=user_id)
    return str(lease.data.lease_id)


@app.task
def commit(principal_id: str, user_id: str, quantity: int) -> str:
    """Authorize and commit; a commit whose answer is lost escapes as OutcomeUnknownError."""
    lease = impatient.gate.authorize(feature_code="llm.chat", principal_id=principal_id, user_id=user_id).data
    done = impatient.gate.commit(
        lease_token=lease.lease_token,
        feature_code="llm.chat",
        quantity_minor=quantity,
        principal_id=principal_id,
        user_id=user_id,
    )
    return str(done.data.commit_id)


@app.task
def raise_local(kind: str) -> Any:
    """Raise one of the errors that never came from an answer."""
    if kind == "input":
        raise InputValidationError("quantity_minor must be >= 0, got -1", field="quantity_minor")
    if kind == "configuration":
        raise ConfigurationError("missing configuration: set VLUNA_REALM_ID")
    if kind == "rate":
        raise RateLimitError("rate limit exceeded", status=429, code="LIMIT.RATE_EXCEEDED", retry_after=42.0)
    if kind == "recovered":
        raise LeaseRecoveredError(
            "authorize's answer was lost; the lease was given back",
            operation="gate.authorize",
            idempotency_key="k-authorize",
            lease_id="lease-1",
        )
    raise ValueError(kind)
