"""Celery tasks that bill through ``task_lease``: a real Celery app (eager mode), the emulator over HTTP.

Eager mode (without eager propagation, so that retries run) executes a task and its retries in this process
through Celery's own retry path: ``autoretry_for`` and ``Task.retry`` re-send the task with the same
``task.request.id``, which is what the keys depend on.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

celery = pytest.importorskip("celery")

from support.readme_examples import ORG, USER, load_module  # noqa: E402
from vluna_client import InputValidationError, ServiceClient, idempotency_key  # noqa: E402
from vluna_client.contrib.celery import task_key, task_lease, will_retry  # noqa: E402
from vluna_client.testing import Emulator  # noqa: E402

COMMITS = "/mgt/v1/gate/commits"


class Transient(Exception):
    """A failure the test tasks are configured to retry."""


@pytest.fixture
def readme(vluna_env: dict[str, str]) -> Iterator[Any]:
    """The README's Celery example, run eagerly."""
    module = load_module("Celery", 0, "vluna_readme_celery_tasks")
    module.app.conf.update(task_always_eager=True, task_eager_propagates=False)
    yield module
    module.client.close()


@pytest.fixture
def app() -> Any:
    application = celery.Celery("vluna_contrib_tests")
    application.conf.update(task_always_eager=True, task_eager_propagates=False)
    return application


@pytest.fixture
def client(emu: Emulator) -> Iterator[ServiceClient]:
    with emu.service_client() as service_client:
        yield service_client


def test_readme_task_commits_once(readme: Any, emu: Emulator) -> None:
    text = "a document " * 10
    assert readme.summarize.delay(text, ORG, USER).get() == text[:80]
    (commit,) = emu.ledger.commits()
    assert (commit.feature_code, commit.quantity_minor, commit.principal_id) == ("llm.summarize", len(text), ORG)


def test_readme_task_whose_commit_answer_is_lost_is_retried_and_charged_once(readme: Any, emu: Emulator) -> None:
    attempts = readme.client.retry.max_attempts
    # Every attempt of the first run's commit is recorded but its answer is dropped: the client gives up
    # (outcome unknown), the task raises, Celery's autoretry runs it again with the same request id.
    emu.faults.drop_response_after_processing(attempts, path=COMMITS)
    text = "lost answers " * 5
    result = readme.summarize.delay(text, ORG, USER)
    assert result.get() == text[:80]
    (commit,) = emu.ledger.commits()
    assert commit.quantity_minor == len(text)
    sent = emu.ledger.requests_to(COMMITS)
    assert len(sent) == attempts + 1
    assert [r.dropped for r in sent] == [True] * attempts + [False]
    assert sent[-1].replayed  # the retry's commit was answered from the first one
    assert len({r.idempotency_key for r in sent}) == 1
    (lease,) = emu.ledger.leases()  # the retry got the same lease back
    assert lease.state == "committed"
    assert emu.ledger.cancels() == []
    assert len(emu.ledger.requests_to("/mgt/v1/gate/authorize")) == 2


def test_an_authorize_whose_answer_was_lost_is_left_to_the_retry(
    app: Any, client: ServiceClient, emu: Emulator
) -> None:
    from vluna_client import OutcomeUnknownError

    @app.task(bind=True, autoretry_for=(OutcomeUnknownError,), max_retries=2)
    def charge(self: Any) -> str:
        with task_lease(self, client, feature_code="llm.chat", principal_id=ORG, user_id=USER) as lease:
            lease.commit(quantity_minor=5)
        return str(lease.lease_id)

    # Every attempt of the first run's authorize opens the lease but loses its answer. The retry that Celery runs
    # replays authorize with the same key and must find that lease open, not given back.
    emu.faults.drop_response_after_processing(client.retry.max_attempts, path="/mgt/v1/gate/authorize")
    lease_id = charge.delay().get()
    (lease,) = emu.ledger.leases()
    assert (lease.lease_id, lease.state) == (lease_id, "committed")
    assert emu.ledger.cancels() == []
    assert len(emu.ledger.commits()) == 1


def test_a_task_that_fails_after_its_commit_is_retried_and_charged_once(
    app: Any, client: ServiceClient, emu: Emulator
) -> None:
    runs: list[int] = []

    @app.task(bind=True, autoretry_for=(Transient,), max_retries=3)
    def charge(self: Any) -> str:
        runs.append(self.request.retries)
        with task_lease(self, client, feature_code="llm.chat", principal_id=ORG, user_id=USER) as lease:
            lease.commit(quantity_minor=9)
        if self.request.retries == 0:
            raise Transient("saving the result failed after the commit")
        return "done"

    assert charge.delay().get() == "done"
    assert runs == [0, 1]
    (commit,) = emu.ledger.commits()
    assert commit.quantity_minor == 9
    assert [r.replayed for r in emu.ledger.requests_to(COMMITS)] == [False, True]
    assert emu.ledger.cancels() == []


def test_a_task_that_fails_before_its_commit_keeps_the_lease_for_the_retry(
    app: Any, client: ServiceClient, emu: Emulator
) -> None:
    @app.task(bind=True, autoretry_for=(Transient,), max_retries=2)
    def flaky(self: Any) -> str:
        with task_lease(self, client, feature_code="llm.chat", principal_id=ORG, user_id=USER) as lease:
            if self.request.retries == 0:
                raise Transient("the model timed out")
            lease.commit(quantity_minor=4)
        return str(lease.lease_id)

    lease_id = flaky.delay().get()
    (lease,) = emu.ledger.leases()
    assert (lease.lease_id, lease.state) == (lease_id, "committed")
    assert emu.ledger.cancels() == []
    (commit,) = emu.ledger.commits()
    assert (commit.lease_id, commit.quantity_minor, commit.application_status) == (lease_id, 4, "applied")


def test_an_explicit_self_retry_keeps_the_lease_too(app: Any, client: ServiceClient, emu: Emulator) -> None:
    @app.task(bind=True, max_retries=1)
    def manual(self: Any) -> int:
        with task_lease(self, client, feature_code="llm.chat", principal_id=ORG, user_id=USER) as lease:
            if self.request.retries == 0:
                raise self.retry(exc=Transient("try again"), countdown=0)
            lease.commit(quantity_minor=2)
        return int(self.request.retries)

    assert manual.delay().get() == 1
    (lease,) = emu.ledger.leases()
    assert lease.state == "committed"
    assert len(emu.ledger.commits()) == 1
    assert emu.ledger.cancels() == []


def test_an_error_celery_will_not_retry_cancels_the_lease(app: Any, client: ServiceClient, emu: Emulator) -> None:
    @app.task(bind=True, autoretry_for=(Transient,), dont_autoretry_for=(KeyError,))
    def broken(self: Any) -> None:
        with task_lease(self, client, feature_code="llm.chat", principal_id=ORG, user_id=USER):
            raise KeyError("a bug")

    with pytest.raises(KeyError):
        broken.delay().get()
    (lease,) = emu.ledger.leases()
    assert lease.state == "cancelled"
    assert emu.ledger.commits() == []


def test_the_last_allowed_attempt_cancels_the_lease(app: Any, client: ServiceClient, emu: Emulator) -> None:
    runs: list[int] = []

    @app.task(bind=True, autoretry_for=(Transient,), max_retries=2)
    def hopeless(self: Any) -> None:
        runs.append(self.request.retries)
        with task_lease(self, client, feature_code="llm.chat", principal_id=ORG, user_id=USER):
            raise Transient("still down")

    with pytest.raises(Transient):
        hopeless.delay().get()
    assert runs == [0, 1, 2]
    (lease,) = emu.ledger.leases()  # one lease for the whole run, cancelled once no retry was coming
    assert lease.state == "cancelled"
    assert len(emu.ledger.cancels()) == 1


def test_a_task_that_returns_without_commit_cancels_the_lease(app: Any, client: ServiceClient, emu: Emulator) -> None:
    @app.task(bind=True, autoretry_for=(Transient,))
    def nothing_to_do(self: Any) -> None:
        with task_lease(self, client, feature_code="llm.chat", principal_id=ORG, user_id=USER):
            pass

    nothing_to_do.delay().get()
    (lease,) = emu.ledger.leases()
    assert lease.state == "cancelled"


def test_a_business_key_charges_a_document_enqueued_twice_once(app: Any, client: ServiceClient, emu: Emulator) -> None:
    @app.task(bind=True)
    def summarize_doc(self: Any, doc_id: str) -> str:
        with task_lease(
            self, client, feature_code="llm.chat", principal_id=ORG, user_id=USER, key=("summary", doc_id)
        ) as lease:
            lease.commit(quantity_minor=12)
        return str(self.request.id)

    first, second = summarize_doc.delay("doc-7").get(), summarize_doc.delay("doc-7").get()
    assert first != second  # two task runs ...
    (commit,) = emu.ledger.commits()  # ... one charge
    assert commit.quantity_minor == 12
    assert [r.replayed for r in emu.ledger.requests_to(COMMITS)] == [False, True]
    (lease,) = emu.ledger.leases()
    assert lease.state == "committed"
    summarize_doc.delay("doc-8").get()  # another document is its own work
    assert len(emu.ledger.commits()) == 2


def test_a_business_key_must_be_strings_or_integers(app: Any, client: ServiceClient) -> None:
    @app.task(bind=True)
    def bad(self: Any, key: Any) -> None:
        task_lease(self, client, feature_code="llm.chat", principal_id=ORG, user_id=USER, key=key)

    for key in ((), 1.5, ("a", None)):
        with pytest.raises(InputValidationError):
            bad.apply(args=(key,)).get()


def test_task_key_is_stable_across_retries_and_distinct_per_run_and_part(app: Any) -> None:
    seen: list[tuple[str, str, str]] = []

    @app.task(bind=True, autoretry_for=(Transient,), max_retries=1)
    def keyed(self: Any) -> None:
        seen.append((self.request.id, task_key(self, "refund", 7), task_key(self, "refund", 8)))
        if self.request.retries == 0:
            raise Transient("again")

    keyed.delay()
    keyed.delay()
    (first_id, first_7, first_8), (retry_id, retry_7, _), (second_id, second_7, _), _ = seen
    assert retry_id == first_id
    assert retry_7 == first_7 == idempotency_key("celery:" + keyed.name, first_id, "refund", 7)
    assert first_8 != first_7
    assert second_id != first_id
    assert second_7 != first_7


def test_task_key_refuses_a_task_called_directly(app: Any) -> None:
    @app.task(bind=True)
    def direct(self: Any) -> str:
        return task_key(self, "x")

    with pytest.raises(InputValidationError, match="called directly"):
        direct()


def test_will_retry_follows_celerys_rules(app: Any) -> None:
    @app.task(bind=True, autoretry_for=(Transient,), retry_kwargs={"max_retries": 1})
    def probe(self: Any) -> list[bool]:
        return [will_retry(self, Transient()), will_retry(self, ValueError())]

    assert probe.apply(retries=0).get() == [True, False]
    assert probe.apply(retries=1).get() == [False, False]  # retry_kwargs' max_retries wins over the task's
    assert probe.max_retries == 3
