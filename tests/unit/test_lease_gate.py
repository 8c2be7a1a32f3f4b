"""Lease over an in-memory gate: no client, no HTTP; every assertion is on what the gate received or holds.

The fake gate keeps the server's idempotency rules (a replayed authorize key gets the same lease back, a replayed
commit key gets the stored commit, cancelling twice is harmless) and can be told how the next call of an
operation goes wrong: applied with its answer lost, refused, or never sent.
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional, TypeVar, Union

import attrs
import pytest

from vluna_client import (
    APIConnectionError,
    ConflictError,
    InvalidRequestError,
    Lease,
    LeaseError,
    LeaseGate,
    LeaseRecoveredError,
    LeaseTerms,
    OutcomeUnknownError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    Result,
    ServerError,
    ServiceClient,
    Timeout,
    VlunaError,
)
from vluna_client._generated.models.gate import AuthorizeResponse, CancelResponse, CommitResponse
from vluna_client._timeout import TimeoutTypes
from vluna_client.contrib.celery import TaskLease, task_key, task_lease

# How the next call of an operation fails: "lost" applies it and loses the answer; anything else is raised
# without applying it (a refusal, or a request that never left).
Fault = Union[str, VlunaError, BaseException]
T = TypeVar("T")


@attrs.define
class Call:
    op: str
    kwargs: dict[str, Any]


class FakeGate:
    """The three gate calls with the server's idempotency rules, in memory."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.faults: dict[str, list[Fault]] = {"authorize": [], "commit": [], "cancel": []}
        self.leases: dict[str, dict[str, Any]] = {}  # by authorize key: token, feature, status
        self.commits: dict[str, dict[str, Any]] = {}  # by commit key: the body that was recorded
        self._ids = itertools.count(1)

    # -- what the tests look at ---------------------------------------------------------------------------------

    def ops(self) -> list[str]:
        return [call.op for call in self.calls]

    def sent(self, op: str) -> list[dict[str, Any]]:
        return [call.kwargs for call in self.calls if call.op == op]

    def lease_status(self, token: str) -> str:
        return next(lease["status"] for lease in self.leases.values() if lease["token"] == token)

    # -- the gate ----------------------------------------------------------------------------------------------

    def _run(self, op: str, kwargs: dict[str, Any], apply: Callable[[], T]) -> T:
        self.calls.append(Call(op, kwargs))
        fault = self.faults[op].pop(0) if self.faults[op] else None
        if fault is None:
            return apply()
        if fault == "lost":
            apply()
            raise OutcomeUnknownError(
                f"gate.{op}: the answer was lost", operation=f"gate.{op}", idempotency_key=kwargs.get("idempotency_key")
            )
        assert isinstance(fault, BaseException)
        raise fault

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
        kwargs = dict(locals())
        del kwargs["self"]
        assert idempotency_key is not None, "a lease always sends its own authorize key"

        def apply() -> Result[AuthorizeResponse]:
            lease = self.leases.get(idempotency_key)
            if lease is None:  # a replayed key gets the lease it opened the first time
                n = next(self._ids)
                lease = {"token": f"lt_{n}", "id": f"lease_{n}", "feature": feature_code, "status": "active"}
                self.leases[idempotency_key] = lease
            data = AuthorizeResponse(lease_token=lease["token"], feature_code=feature_code, lease_id=lease["id"])
            return Result(data, operation="gate.authorize", idempotency_key=idempotency_key)

        return self._run("authorize", kwargs, apply)

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
        kwargs = dict(locals())
        del kwargs["self"]
        assert idempotency_key is not None, "a lease always sends its own commit key"

        def apply() -> Result[CommitResponse]:
            body = {"lease_token": lease_token, "quantity_minor": quantity_minor, "meters": meters, "labels": labels}
            stored = self.commits.setdefault(idempotency_key, body)  # a replay gets the stored commit
            if stored != body:
                raise ConflictError("key reused with another body", status=409, idempotency_key=idempotency_key)
            next(lease for lease in self.leases.values() if lease["token"] == lease_token)["status"] = "committed"
            data = CommitResponse(amount_xusd=str(int(quantity_minor) * 2))
            return Result(data, operation="gate.commit", idempotency_key=idempotency_key)

        return self._run("commit", kwargs, apply)

    def cancel(
        self,
        *,
        lease_token: str,
        principal_id: Optional[str],
        user_id: Optional[str],
        timeout: TimeoutTypes,
    ) -> Result[CancelResponse]:
        kwargs = dict(locals())
        del kwargs["self"]

        def apply() -> Result[CancelResponse]:
            lease = next(lease for lease in self.leases.values() if lease["token"] == lease_token)
            closed_now = lease["status"] == "active"
            if closed_now:
                lease["status"] = "cancelled"
            return Result(CancelResponse(cancelled=closed_now), operation="gate.cancel")

        return self._run("cancel", kwargs, apply)


def _is_a_lease_gate(gate: LeaseGate) -> LeaseGate:
    return gate  # mypy checks here that FakeGate has the calls a Lease makes


TERMS = LeaseTerms(
    feature_code="llm.chat",
    principal_id="org_1",
    user_id="user_1",
    estimated_quantity_minor=2000,
    feature_family_code="llm",
    budget_id="budget_9",
    labels={"team": "search"},
    timeout=7.0,
)
BINDINGS = {"principal_id": "org_1", "user_id": "user_1"}


@pytest.fixture
def gate() -> FakeGate:
    return FakeGate()


def lease_on(gate: FakeGate, terms: LeaseTerms = TERMS) -> Lease:
    return Lease(_is_a_lease_gate(gate), terms)


class Boom(Exception):
    pass


# -- one declaration of the lease's arguments -----------------------------------------------------------------------


def _params(fn: Callable[..., Any], *skip: str) -> dict[str, tuple[Any, Any, Any]]:
    return {
        p.name: (p.kind, p.annotation, p.default)
        for p in inspect.signature(fn).parameters.values()
        if p.name not in ("self", *skip)
    }


def test_the_public_lease_signatures_spell_out_exactly_the_terms() -> None:
    # LeaseTerms declares the arguments; client.lease and task_lease spell them out for readers and IDEs, and this
    # keeps the copies equal to it (names, order, types, defaults).
    terms = _params(LeaseTerms)
    assert list(_params(ServiceClient.lease)) == list(terms)
    assert _params(ServiceClient.lease) == terms
    assert _params(task_lease, "task", "client", "key") == {k: v for k, v in terms.items() if k != "idempotency_key"}


# -- the happy path ------------------------------------------------------------------------------------------------


def test_authorize_sends_every_term_and_commit_sends_the_usage_with_the_lease_token(gate: FakeGate) -> None:
    with lease_on(gate) as lease:
        assert lease.state == "open"
        result = lease.commit(quantity_minor=1500, meters=[{"meter_code": "tokens", "quantity_minor": 1500}])
    assert gate.ops() == ["authorize", "commit"]
    [authorize] = gate.sent("authorize")
    assert authorize == {
        "feature_code": "llm.chat",
        "feature_family_code": "llm",
        "estimated_quantity_minor": 2000,
        "budget_id": "budget_9",
        "labels": {"team": "search"},
        **BINDINGS,
        "idempotency_key": authorize["idempotency_key"],
        "timeout": 7.0,
    }
    [commit] = gate.sent("commit")
    assert commit == {
        "lease_token": "lt_1",
        "feature_code": "llm.chat",
        "quantity_minor": 1500,
        "labels": None,
        "meters": [{"meter_code": "tokens", "quantity_minor": 1500}],
        **BINDINGS,
        "idempotency_key": lease.commit_idempotency_key,
        "timeout": 7.0,
    }
    assert commit["idempotency_key"] != authorize["idempotency_key"]
    assert result.data.amount_xusd == "3000"
    assert lease.commit_result is result
    assert lease.state == "committed"
    assert gate.lease_status("lt_1") == "committed"


def test_the_callers_keys_and_a_commits_own_timeout_are_sent(gate: FakeGate) -> None:
    terms = attrs.evolve(TERMS, idempotency_key="authz-key-1")
    with lease_on(gate, terms) as lease:
        lease.commit(quantity_minor=5, idempotency_key="commit-key-1", timeout=Timeout(connect=1.0, read=2.0))
    assert [c["idempotency_key"] for c in gate.sent("authorize")] == ["authz-key-1"]
    assert [(c["idempotency_key"], c["timeout"]) for c in gate.sent("commit")] == [
        ("commit-key-1", Timeout(connect=1.0, read=2.0))
    ]


def test_a_second_commit_is_refused_without_reaching_the_gate(gate: FakeGate) -> None:
    with lease_on(gate) as lease:
        lease.commit(quantity_minor=1)
        with pytest.raises(LeaseError, match="already committed"):
            lease.commit(quantity_minor=1)
    assert gate.ops() == ["authorize", "commit"]
    assert len(gate.commits) == 1


# -- giving the lease back -----------------------------------------------------------------------------------------


def test_work_that_fails_cancels_the_lease_and_the_callers_exception_escapes(gate: FakeGate) -> None:
    with pytest.raises(Boom), lease_on(gate) as lease:
        raise Boom()
    assert gate.ops() == ["authorize", "cancel"]
    assert gate.sent("cancel") == [{"lease_token": "lt_1", **BINDINGS, "timeout": 7.0}]
    assert gate.lease_status("lt_1") == "cancelled"
    assert lease.state == "cancelled"


def test_leaving_without_a_commit_cancels(gate: FakeGate) -> None:
    with lease_on(gate) as lease:
        pass
    assert gate.ops() == ["authorize", "cancel"]
    assert lease.state == "cancelled"
    assert lease.cancel() is None  # settled: nothing more is sent
    assert gate.ops() == ["authorize", "cancel"]


def test_a_failing_cancel_is_repeated_logged_and_never_hides_the_callers_exception(
    gate: FakeGate, caplog: pytest.LogCaptureFixture
) -> None:
    gate.faults["cancel"] = [ServerError("down", status=503)] * 3
    with pytest.raises(Boom), caplog.at_level(logging.ERROR, logger="vluna_client"), lease_on(gate) as lease:
        raise Boom()
    assert gate.ops() == ["authorize", "cancel", "cancel", "cancel"]
    assert lease.state == "open"  # still held on the server: a later lease.cancel() may give it back
    assert gate.lease_status("lt_1") == "active"
    assert "cancel after an exception in the block failed" in caplog.text
    assert lease.cancel() is True
    assert gate.lease_status("lt_1") == "cancelled"


def test_a_cancel_refused_for_good_is_not_repeated(gate: FakeGate) -> None:
    gate.faults["cancel"] = [PermissionDeniedError("no", status=403)]
    with lease_on(gate):
        pass
    assert gate.ops() == ["authorize", "cancel"]


# -- a commit whose answer is lost ---------------------------------------------------------------------------------


def test_a_lost_commit_answer_is_outcome_unknown_and_only_the_identical_replay_is_sent(gate: FakeGate) -> None:
    gate.faults["commit"] = ["lost"]
    with lease_on(gate) as lease:
        with pytest.raises(OutcomeUnknownError) as caught:
            lease.commit(quantity_minor=40)
        assert caught.value.may_have_applied is True
        assert lease.state == "unknown"
        key = lease.commit_idempotency_key
        assert key is not None
        assert gate.commits[key]["quantity_minor"] == 40  # the server did record it

        with pytest.raises(LeaseError, match="only the identical commit"):
            lease.commit(quantity_minor=41)
        with pytest.raises(LeaseError, match="only the identical commit"):
            lease.commit(quantity_minor=40, idempotency_key="another-key")
        assert gate.ops() == ["authorize", "commit"]  # neither reached the gate

        replay = lease.commit(quantity_minor=40)
    assert [c["idempotency_key"] for c in gate.sent("commit")] == [key, key]
    assert list(gate.commits) == [key]  # charged once
    assert replay.data.amount_xusd == "80"
    assert lease.state == "committed"
    assert "cancel" not in gate.ops()


def test_a_lease_left_unknown_is_not_cancelled_on_exit(gate: FakeGate, caplog: pytest.LogCaptureFixture) -> None:
    gate.faults["commit"] = ["lost"]
    lease = lease_on(gate)
    with caplog.at_level(logging.WARNING, logger="vluna_client"), lease, pytest.raises(OutcomeUnknownError):
        lease.commit(quantity_minor=3)
    assert gate.ops() == ["authorize", "commit"]  # a cancel could not undo the charge and would block the replay
    assert lease.state == "unknown"
    assert str(lease.commit_idempotency_key) in caplog.text


def test_an_interrupted_commit_keeps_its_key_for_the_replay(gate: FakeGate) -> None:
    gate.faults["commit"] = [KeyboardInterrupt()]
    lease = lease_on(gate).open()
    with pytest.raises(KeyboardInterrupt):
        lease.commit(quantity_minor=9)
    assert lease.state == "unknown"
    key = lease.commit_idempotency_key
    lease.commit(quantity_minor=9)
    assert [c["idempotency_key"] for c in gate.sent("commit")] == [key, key]
    assert lease.state == "committed"


def test_a_refused_commit_leaves_the_lease_open_for_a_new_commit_with_a_new_key(gate: FakeGate) -> None:
    gate.faults["commit"] = [InvalidRequestError("bad quantity", status=400)]
    with lease_on(gate) as lease:
        with pytest.raises(InvalidRequestError):
            lease.commit(quantity_minor=-1)
        assert lease.state == "open"
        assert lease.commit_idempotency_key is None
        lease.commit(quantity_minor=2)
    first, second = (c["idempotency_key"] for c in gate.sent("commit"))
    assert first != second
    assert list(gate.commits) == [second]
    assert lease.state == "committed"


def test_a_commit_refused_after_an_unknown_one_stays_unknown(gate: FakeGate) -> None:
    # The first attempt may have been applied; a later refusal of its replay says nothing about it.
    gate.faults["commit"] = ["lost", RateLimitError("slow down", status=429)]
    with lease_on(gate) as lease:
        with pytest.raises(OutcomeUnknownError):
            lease.commit(quantity_minor=4)
        with pytest.raises(RateLimitError):
            lease.commit(quantity_minor=4)
        assert lease.state == "unknown"
        lease.commit(quantity_minor=4)
    assert len({c["idempotency_key"] for c in gate.sent("commit")}) == 1


def test_a_conflicting_commit_is_final_and_the_lease_is_cancelled_on_exit(gate: FakeGate) -> None:
    gate.faults["commit"] = [ConflictError("key used with another body", status=409)]
    with lease_on(gate) as lease:
        with pytest.raises(ConflictError):
            lease.commit(quantity_minor=4)
        assert lease.state == "conflict"
        with pytest.raises(LeaseError, match="conflict"):
            lease.commit(quantity_minor=4)
    assert gate.ops() == ["authorize", "commit", "cancel"]


def test_an_unreadable_commit_answer_counts_as_committed(gate: FakeGate) -> None:
    gate.faults["commit"] = [ResponseDecodeError("garbled", status=200, raw=b"{")]
    with lease_on(gate) as lease, pytest.raises(ResponseDecodeError):
        lease.commit(quantity_minor=4)
    assert lease.state == "committed"
    assert gate.ops() == ["authorize", "commit"]  # never cancelled: the server accepted it


# -- an authorize whose answer is lost -----------------------------------------------------------------------------


def test_a_lost_authorize_is_replayed_with_its_key_found_and_given_back(gate: FakeGate) -> None:
    gate.faults["authorize"] = ["lost"]
    lease = lease_on(gate)
    with pytest.raises(LeaseRecoveredError) as caught:
        lease.__enter__()
    error = caught.value
    assert error.may_have_applied is False
    assert isinstance(error.last_error, OutcomeUnknownError)
    first, replay = gate.sent("authorize")
    assert replay == {**first, "timeout": 7.0}  # the identical authorize, same key
    assert error.idempotency_key == first["idempotency_key"]
    assert error.lease_id == "lease_1"
    assert gate.ops() == ["authorize", "authorize", "cancel"]
    assert gate.lease_status("lt_1") == "cancelled"  # nothing held
    assert lease.state == "cancelled"


def test_recovery_waits_out_failures_of_its_own_replay(gate: FakeGate) -> None:
    gate.faults["authorize"] = ["lost", APIConnectionError("never sent", unsent=True)]
    with pytest.raises(LeaseRecoveredError):
        lease_on(gate).open()
    assert gate.ops() == ["authorize", "authorize", "authorize", "cancel"]
    assert len({c["idempotency_key"] for c in gate.sent("authorize")}) == 1
    assert gate.lease_status("lt_1") == "cancelled"


def test_a_refused_replay_of_a_lost_authorize_is_what_the_caller_gets(gate: FakeGate) -> None:
    refusal = PaymentRequiredError("no funds", status=402)
    gate.faults["authorize"] = [OutcomeUnknownError("lost before the server"), refusal]
    lease = lease_on(gate)
    with pytest.raises(PaymentRequiredError) as caught:
        lease.__enter__()
    assert caught.value is refusal
    assert lease.state == "refused"
    assert gate.ops() == ["authorize", "authorize"]  # nothing was opened, so nothing to cancel


def test_an_authorize_that_cannot_be_recovered_stays_unknown(gate: FakeGate, caplog: pytest.LogCaptureFixture) -> None:
    gate.faults["authorize"] = ["lost"] + [APIConnectionError("down")] * 3
    lease = lease_on(gate)
    with pytest.raises(OutcomeUnknownError), caplog.at_level(logging.ERROR, logger="vluna_client"):
        lease.__enter__()
    assert gate.ops() == ["authorize"] * 4
    assert lease.state == "unknown"
    assert "could not be recovered" in caplog.text
    assert gate.lease_status("lt_1") == "active"  # held until it expires: the caller was told it is unknown


def test_a_refused_authorize_is_raised_as_is_and_not_replayed(gate: FakeGate) -> None:
    gate.faults["authorize"] = [PaymentRequiredError("no funds", status=402)]
    lease = lease_on(gate)
    with pytest.raises(PaymentRequiredError), lease:
        pytest.fail("the block must not run")
    assert gate.ops() == ["authorize"]
    assert lease.state == "refused"
    with pytest.raises(LeaseError):
        lease.authorization  # noqa: B018 - the property raises


def test_a_lease_is_entered_once(gate: FakeGate) -> None:
    with lease_on(gate) as lease:
        lease.commit(quantity_minor=1)
    with pytest.raises(LeaseError, match="only once"):
        lease.__enter__()
    assert gate.ops() == ["authorize", "commit"]


# -- the Celery lease over the same gate ---------------------------------------------------------------------------


@attrs.define
class FakeRequest:
    id: str = "task-run-1"
    retries: int = 0
    called_directly: bool = False


@attrs.define
class FakeTask:
    name: str = "tasks.summarize"
    request: FakeRequest = attrs.field(factory=FakeRequest)
    autoretry_for: tuple[type[BaseException], ...] = (OutcomeUnknownError,)
    max_retries: Optional[int] = 3


def test_a_task_lease_uses_the_task_runs_keys_for_authorize_and_commit(gate: FakeGate) -> None:
    task = FakeTask()
    with TaskLease(task, gate, TERMS) as lease:
        lease.commit(quantity_minor=6)
    assert [c["idempotency_key"] for c in gate.sent("authorize")] == [task_key(task, "vluna.authorize")]
    assert [c["idempotency_key"] for c in gate.sent("commit")] == [task_key(task, "vluna.commit")]
    assert gate.sent("authorize")[0]["budget_id"] == "budget_9"  # the other terms are kept


def test_a_task_lease_is_left_open_for_a_retry_that_gets_it_back_and_commits_once(gate: FakeGate) -> None:
    task = FakeTask()
    with pytest.raises(OutcomeUnknownError), TaskLease(task, gate, TERMS) as lease:
        raise OutcomeUnknownError("the work's own call was lost")  # Celery retries this task
    assert lease.state == "open"
    assert gate.ops() == ["authorize"]  # not cancelled: the retry needs this lease
    task.request.retries = 1
    with TaskLease(task, gate, TERMS) as retry:
        retry.commit(quantity_minor=6)
    assert retry.token == lease.token  # the replayed authorize found the first lease
    assert gate.ops() == ["authorize", "authorize", "commit"]


def test_a_task_lease_whose_retries_are_spent_is_cancelled(gate: FakeGate) -> None:
    task = FakeTask(request=FakeRequest(retries=3))
    with pytest.raises(OutcomeUnknownError), TaskLease(task, gate, TERMS):
        raise OutcomeUnknownError("lost again")
    assert gate.ops() == ["authorize", "cancel"]


def test_a_task_lease_commit_lost_then_replayed_by_the_retry_is_charged_once(gate: FakeGate) -> None:
    task = FakeTask()
    gate.faults["commit"] = ["lost"]
    with pytest.raises(OutcomeUnknownError), TaskLease(task, gate, TERMS) as lease:
        lease.commit(quantity_minor=6)
    task.request.retries = 1
    with TaskLease(task, gate, TERMS) as retry:
        result = retry.commit(quantity_minor=6)
    assert [c["idempotency_key"] for c in gate.sent("commit")] == [task_key(task, "vluna.commit")] * 2
    assert len(gate.commits) == 1
    assert result.data.amount_xusd == "12"
    assert "cancel" not in gate.ops()
