"""Under a real Celery worker (a child process, JSON messages and a JSON result backend):

- the client's typed errors reach ``result.get()`` as the same class with their fields;
- a web view that hits a commit whose answer was lost hands its pending-write record to the settle recipe of
  ``examples/celery_settle.py``, the worker replays it after the request has ended, and the ledger shows one commit.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

celery = pytest.importorskip("celery")
flask = pytest.importorskip("flask")

from support.celery_worker import ROOT, Worker, search_path, wait_until_serving, write_config  # noqa: E402
from support.readme_examples import ORG, USER  # noqa: E402
from vluna_client import (  # noqa: E402
    ConfigurationError,
    InputValidationError,
    LeaseRecoveredError,
    OutcomeUnknownError,
    PaymentRequiredError,
    PendingWrite,
    RateLimitError,
)
from vluna_client.testing import Emulator  # noqa: E402

COMMITS = "/mgt/v1/gate/commits"
TASKS = Path(__file__).resolve().parent / "worker"
TIMEOUT = 60


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def tasks(emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The worker's task module, imported here too (to send tasks and read results), and the worker running it."""
    folder = tmp_path_factory.mktemp("celery")
    write_config(folder)
    paths = search_path(folder, TASKS, ROOT / "examples")
    saved_env, saved_path = dict(os.environ), list(sys.path)
    os.environ.update(emu.env())
    os.environ["CELERY_CONFIG_MODULE"] = "celeryconfig"
    sys.path[:0] = paths[:3]
    worker = Worker("vluna_worker_tasks", folder, paths, {**emu.env()})
    try:
        module = importlib.import_module("vluna_worker_tasks")
        wait_until_serving(module.ping, worker)
        module.results_folder = folder / "results"  # type: ignore[attr-defined]  # read by the tasks
        yield module
    finally:
        worker.stop()
        for name in ("vluna_worker_tasks", "celery_settle", "celeryconfig"):
            sys.modules.pop(name, None)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path[:] = saved_path


def stored_result(tasks: Any, task_id: str) -> dict[str, Any]:
    """The result document the worker wrote, read as the JSON it is."""
    (path,) = Path(tasks.results_folder).glob(f"*{task_id}*")
    return json.loads(path.read_bytes())


def test_a_refusal_reaches_the_caller_as_the_same_class_with_its_hints(tasks: Any, emu: Emulator) -> None:
    emu.set_wallet_balance("org_broke_json", 0)
    result = tasks.authorize.delay("org_broke_json", USER)
    with pytest.raises(PaymentRequiredError) as info:
        result.get(timeout=TIMEOUT)
    error = info.value
    assert (error.status, error.operation) == (402, "gate.authorize")
    assert error.code
    assert "exhausted" in error.message
    assert error.body["ok"] is False
    assert str(error).startswith("402 ")
    stored = stored_result(tasks, result.id)  # JSON on disk, not a pickle
    assert stored["result"]["exc_type"] == "PaymentRequiredError"


def test_a_rate_limit_comes_back_with_its_hints_and_wait(tasks: Any, emu: Emulator) -> None:
    emu.set_rate_limit("llm.fast", 1, window_seconds=3600)
    tasks.authorize.delay(ORG, "user_rate", "llm.fast").get(timeout=TIMEOUT)
    with pytest.raises(RateLimitError) as info:
        tasks.authorize.delay(ORG, "user_rate", "llm.fast").get(timeout=TIMEOUT)
    (hint,) = info.value.hints
    assert hint.type == "rate.limit"
    assert hint["remaining"] == 0
    assert info.value.retry_after == float(hint["seconds"])


def test_an_unknown_commit_arrives_with_its_record_and_the_caller_settles_it(tasks: Any, emu: Emulator) -> None:
    emu.faults.drop_response_after_processing(1, path=COMMITS)
    with pytest.raises(OutcomeUnknownError) as info:
        tasks.commit.delay("org_json_unknown", USER, 7).get(timeout=TIMEOUT)
    error = info.value
    assert error.may_have_applied is True
    assert (error.operation, error.attempts) == ("gate.commit", 1)
    assert error.last_error is not None
    assert "the answer was lost" in str(error)
    record = error.pending
    assert isinstance(record, PendingWrite)
    assert record.idempotency_key == error.idempotency_key
    assert record.bindings == {"principal_id": "org_json_unknown", "user_id": USER}
    # The record came through JSON whole: this process settles the write; the server replays the first commit.
    with emu.service_client() as client:
        replayed = client.replay(record)
    (commit,) = [c for c in emu.ledger.commits() if c.principal_id == "org_json_unknown"]
    assert replayed.data.commit_id == commit.commit_id
    assert commit.quantity_minor == 7


@pytest.mark.parametrize(
    ("kind", "cls", "fields"),
    [
        ("input", InputValidationError, {"field": "quantity_minor", "may_have_applied": False}),
        ("configuration", ConfigurationError, {"args": ("missing configuration: set VLUNA_REALM_ID",)}),
        ("rate", RateLimitError, {"retry_after": 42.0, "status": 429, "code": "LIMIT.RATE_EXCEEDED"}),
        ("recovered", LeaseRecoveredError, {"lease_id": "lease-1", "may_have_applied": False}),
    ],
)
def test_errors_raised_in_a_task_come_back_typed(tasks: Any, kind: str, cls: type, fields: dict[str, Any]) -> None:
    with pytest.raises(cls) as info:
        tasks.raise_local.delay(kind).get(timeout=TIMEOUT)
    assert type(info.value) is cls
    for name, value in fields.items():
        assert getattr(info.value, name) == value
    assert str(info.value)


def test_a_view_hands_an_unknown_commit_to_the_worker_that_settles_it(tasks: Any, emu: Emulator) -> None:
    from flask import Flask, g

    from vluna_client.contrib.flask import Vluna

    app = Flask("settle_demo")
    app.config.update(emu.env())
    vluna = Vluna(app, identity=lambda: ("org_settle", USER))

    @app.post("/summarize")
    @vluna.gated("llm.chat", estimated_quantity_minor=10)
    def summarize() -> Any:
        try:
            g.vluna_lease.commit(quantity_minor=10)
        except OutcomeUnknownError as exc:
            # Answer now; the worker settles the charge after this request has ended.
            record = exc.pending
            assert record is not None  # a commit always carries its record
            task = tasks.settle_write.delay(record.to_dict())
            return {"billing": "settling", "task": task.id}, 202
        return {"billing": "done"}, 200

    emu.faults.drop_response_after_processing(vluna.client.retry.max_attempts, path=COMMITS)
    answer = app.test_client().post("/summarize")
    assert answer.status_code == 202
    (commit,) = [c for c in emu.ledger.commits() if c.principal_id == "org_settle"]  # recorded, answer lost

    settled = celery.result.AsyncResult(answer.get_json()["task"], app=tasks.app).get(timeout=TIMEOUT)
    assert settled["operation"] == "gate.commit"
    assert [c.commit_id for c in emu.ledger.commits() if c.principal_id == "org_settle"] == [commit.commit_id]
    sent = [r for r in emu.ledger.requests_to(COMMITS) if r.idempotency_key == settled["idempotency_key"]]
    assert [r.dropped for r in sent][-1] is False
    assert sent[-1].replayed  # the worker's replay was answered with the first commit, not charged again
    (lease,) = [item for item in emu.ledger.leases() if item.lease_id == commit.lease_id]
    assert lease.state == "committed"
    vluna.client.close()
