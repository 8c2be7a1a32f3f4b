"""client.lease(...): authorize on enter, commit once, cancel otherwise, never hide the caller's exception."""

from __future__ import annotations

import logging
from typing import Any, List

import pytest
import requests

from support.mock_deployment import AUTHZ_DATA, CANCEL_DATA, COMMIT_DATA, URL, err, make_client, ok, sent_json
from vluna_client import (
    NO_RETRIES,
    APIConnectionError,
    ConflictError,
    InvalidRequestError,
    Lease,
    LeaseError,
    LeaseRecoveredError,
    OutcomeUnknownError,
    PaymentRequiredError,
    RateLimitError,
    ServerError,
)


class Boom(Exception):
    pass


def paths(rsps):
    return [call.request.path_url for call in rsps.calls]


@pytest.fixture
def gate(rsps):
    rsps.add(
        "POST", URL["authorize"], json=ok(AUTHZ_DATA, hints=[{"type": "quota.remaining", "max_quantity_minor": 9}])
    )
    rsps.add("POST", URL["commit"], json=ok(COMMIT_DATA))
    rsps.add("POST", URL["cancel"], json=ok(CANCEL_DATA))
    return rsps


def open_lease(client, **kwargs):
    return client.lease(feature_code="llm.chat", principal_id="org_123", user_id="user_42", **kwargs)


def test_commit_path_authorizes_then_commits_and_never_cancels(client, gate) -> None:
    with open_lease(client, estimated_quantity_minor=2000) as lease:
        assert isinstance(lease, Lease)
        assert lease.state == "open"
        assert lease.token == "lt_abc"
        assert lease.hints[0]["max_quantity_minor"] == 9
        result = lease.commit(quantity_minor=1500)
    assert result.data.amount_xusd == "1200"
    assert lease.commit_result is result
    assert lease.state == "committed"
    assert paths(gate) == ["/mgt/v1/gate/authorize", "/mgt/v1/gate/commits"]
    assert sent_json(gate.calls[0]) == {"feature_code": "llm.chat", "estimated_quantity_minor": "2000"}
    assert sent_json(gate.calls[1]) == {"lease_token": "lt_abc", "feature_code": "llm.chat", "quantity_minor": "1500"}
    for call in gate.calls:
        assert call.request.headers["X-Principal-Id"] == "org_123"
        assert call.request.headers["X-User-Id"] == "user_42"


def test_exception_in_block_cancels_and_propagates(client, gate) -> None:
    original = Boom("model call failed")
    with pytest.raises(Boom) as info, open_lease(client):
        raise original
    assert info.value is original
    assert paths(gate) == ["/mgt/v1/gate/authorize", "/mgt/v1/gate/cancel"]
    assert sent_json(gate.calls[1]) == {"lease_token": "lt_abc"}


def test_exit_without_commit_cancels(client, gate) -> None:
    with open_lease(client) as lease:
        pass
    assert lease.state == "cancelled"
    assert paths(gate) == ["/mgt/v1/gate/authorize", "/mgt/v1/gate/cancel"]


@pytest.mark.parametrize(
    "cancel_failure",
    [
        {"json": err(403, "AUTH.INSUFFICIENT_SCOPE"), "status": 403},
        {"json": err(500, "SERVER.UNEXPECTED"), "status": 500},
        {"body": requests.exceptions.ConnectionError("gone")},
        {"body": "<html>bad gateway</html>", "status": 502},
    ],
)
def test_cancel_failure_never_masks_the_original_exception(rsps, cancel_failure, caplog) -> None:
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    rsps.add("POST", URL["cancel"], **cancel_failure)
    original = Boom("the real problem")
    lease = open_lease(client)
    with caplog.at_level(logging.WARNING, logger="vluna_client"), pytest.raises(Boom) as info, lease:
        raise original
    assert info.value is original
    # a refusal (403) is not repeated; a failure that may pass next time gets a few more rounds
    rounds = 1 if cancel_failure.get("status") == 403 else 3
    assert paths(rsps) == ["/mgt/v1/gate/authorize"] + ["/mgt/v1/gate/cancel"] * rounds
    assert any("cancel" in r.getMessage() for r in caplog.records), "a failed cancel should at least be logged"
    assert lease.state == "open", "a cancel that failed must not claim the lease is cancelled"


def test_cancel_failure_after_no_commit_does_not_raise(rsps) -> None:
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    rsps.add("POST", URL["cancel"], json=err(500, "SERVER.UNEXPECTED"), status=500)
    with open_lease(client) as lease:
        pass
    assert paths(rsps) == ["/mgt/v1/gate/authorize"] + ["/mgt/v1/gate/cancel"] * 3
    assert lease.state == "open"


def test_double_commit_refused_locally(client, gate) -> None:
    with open_lease(client) as lease:
        lease.commit(quantity_minor=10)
        calls_before = len(gate.calls)
        with pytest.raises(LeaseError):
            lease.commit(quantity_minor=10)
        with pytest.raises(LeaseError):
            lease.commit(quantity_minor=11, idempotency_key="another-key")
        assert len(gate.calls) == calls_before
    assert paths(gate) == ["/mgt/v1/gate/authorize", "/mgt/v1/gate/commits"]


def test_commit_after_cancel_refused_locally(client, gate) -> None:
    with open_lease(client) as lease:
        lease.cancel()
        with pytest.raises(LeaseError):
            lease.commit(quantity_minor=1)
    assert paths(gate) == ["/mgt/v1/gate/authorize", "/mgt/v1/gate/cancel"]


def test_commit_outside_the_block_before_enter_is_refused(client, gate) -> None:
    lease = open_lease(client)
    with pytest.raises(LeaseError):
        lease.commit(quantity_minor=1)
    assert len(gate.calls) == 0


def test_a_lease_can_be_entered_once(client, gate) -> None:
    lease = open_lease(client)
    with lease:
        lease.commit(quantity_minor=1)
    with pytest.raises(LeaseError), lease:
        pass
    assert paths(gate) == ["/mgt/v1/gate/authorize", "/mgt/v1/gate/commits"]


def test_unknown_commit_outcome_identical_retry_reuses_the_key(rsps) -> None:
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    rsps.add("POST", URL["commit"], body=requests.exceptions.ConnectionError("reset"))
    rsps.add("POST", URL["commit"], json=ok(COMMIT_DATA))
    rsps.add("POST", URL["cancel"], json=ok(CANCEL_DATA))

    with open_lease(client) as lease:
        with pytest.raises(OutcomeUnknownError) as info:
            lease.commit(quantity_minor=1500, labels={"run": "r1"})
        first_key = rsps.calls[1].request.headers["Idempotency-Key"]
        assert info.value.idempotency_key == first_key == lease.commit_idempotency_key
        assert isinstance(info.value.last_error, APIConnectionError)
        assert lease.state == "unknown"

        calls_before = len(rsps.calls)
        with pytest.raises(LeaseError):
            lease.commit(quantity_minor=1600, labels={"run": "r1"})  # a different commit
        with pytest.raises(LeaseError):
            lease.commit(quantity_minor=1500, labels={"run": "r2"})
        with pytest.raises(LeaseError):
            lease.commit(quantity_minor=1500, labels={"run": "r1"}, idempotency_key="not-the-same")
        assert len(rsps.calls) == calls_before

        result = lease.commit(quantity_minor=1500, labels={"run": "r1"})  # the identical one: a safe replay
        assert result.data.amount_xusd == "1200"
        assert result.idempotency_key == first_key
    commits = [c for c in rsps.calls if c.request.path_url == "/mgt/v1/gate/commits"]
    assert [c.request.headers["Idempotency-Key"] for c in commits] == [first_key, first_key]
    assert sent_json(commits[0]) == sent_json(commits[1])
    assert lease.state == "committed"
    assert "/mgt/v1/gate/cancel" not in paths(rsps)


def test_unknown_commit_outcome_after_5xx_keeps_caller_key(rsps) -> None:
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    rsps.add("POST", URL["commit"], json=err(503, "SERVER.DB_UNAVAILABLE"), status=503)
    rsps.add("POST", URL["commit"], json=ok(COMMIT_DATA))
    with open_lease(client) as lease:
        with pytest.raises(OutcomeUnknownError) as info:
            lease.commit(quantity_minor=5, idempotency_key="my-commit-1")
        assert isinstance(info.value.last_error, ServerError)
        assert lease.state == "unknown"
        lease.commit(quantity_minor=5)
    keys = [c.request.headers["Idempotency-Key"] for c in rsps.calls if c.request.path_url.endswith("/commits")]
    assert keys == ["my-commit-1", "my-commit-1"]


def test_commit_refused_as_invalid_leaves_the_lease_usable(rsps) -> None:
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    rsps.add("POST", URL["commit"], json=err(422, "WRITE.INVALID_PAYLOAD", "feature mismatch"), status=422)
    rsps.add("POST", URL["commit"], json=ok(COMMIT_DATA))
    with open_lease(client) as lease:
        with pytest.raises(InvalidRequestError):
            lease.commit(quantity_minor=5)
        assert lease.state == "open"
        lease.commit(quantity_minor=6)
    assert lease.state == "committed"


def test_local_validation_error_on_commit_sends_nothing_and_keeps_lease_open(client, gate) -> None:
    with open_lease(client) as lease:
        with pytest.raises(ValueError):
            lease.commit(quantity_minor=-5)
        assert lease.state == "open"
        lease.commit(quantity_minor=5)
    assert paths(gate) == ["/mgt/v1/gate/authorize", "/mgt/v1/gate/commits"]


def test_authorize_failure_propagates_without_cancel(rsps) -> None:
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], json=err(402, "BUDGET.EXHAUSTED", "budget exhausted"), status=402)
    rsps.add("POST", URL["cancel"], json=ok(CANCEL_DATA))
    body_ran = False
    with pytest.raises(PaymentRequiredError), open_lease(client):
        body_ran = True
    assert body_ran is False
    assert paths(rsps) == ["/mgt/v1/gate/authorize"]


def test_lease_uses_bound_client_defaults(client, gate) -> None:
    bound = client.bind(principal_id="org_bound", user_id="user_bound")
    with bound.lease(feature_code="llm.chat") as lease:
        lease.commit(quantity_minor=1)
    for call in gate.calls:
        assert call.request.headers["X-Principal-Id"] == "org_bound"
        assert call.request.headers["X-User-Id"] == "user_bound"


def test_authorize_idempotency_key_is_passed_through(client, gate) -> None:
    with open_lease(client, idempotency_key="authz-job-7") as lease:
        lease.commit(quantity_minor=1, idempotency_key="commit-job-7")
    assert gate.calls[0].request.headers["Idempotency-Key"] == "authz-job-7"
    assert gate.calls[1].request.headers["Idempotency-Key"] == "commit-job-7"


class Interrupted(Exception):
    """What a signal-based time limit (e.g. a task runner's soft timeout) raises in the middle of I/O."""


def test_commit_interrupted_mid_request_keeps_its_key_for_the_retry(rsps) -> None:
    """The commit went out; the caller's code was interrupted before the answer. The outcome is unknown, so the
    only safe next commit is the identical one with the same Idempotency-Key -- a fresh key could charge twice."""
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    rsps.add("POST", URL["commit"], body=Interrupted("soft time limit"))
    rsps.add("POST", URL["commit"], json=ok(COMMIT_DATA))
    rsps.add("POST", URL["cancel"], json=ok(CANCEL_DATA))
    with open_lease(client) as lease:
        with pytest.raises(Interrupted):
            lease.commit(quantity_minor=1500)
        assert len(rsps.calls) == 2  # the commit request was sent
        assert lease.state == "unknown"
        lease.commit(quantity_minor=1500)
    keys = [c.request.headers["Idempotency-Key"] for c in rsps.calls if c.request.path_url.endswith("/commits")]
    assert len(keys) == 2
    assert keys[0] == keys[1]


def test_leaving_with_an_unknown_commit_outcome_does_not_cancel(rsps, caplog) -> None:
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    rsps.add("POST", URL["commit"], body=requests.exceptions.ConnectionError("reset"))
    rsps.add("POST", URL["cancel"], json=ok(CANCEL_DATA))
    caplog.set_level(logging.WARNING, logger="vluna_client")
    with pytest.raises(OutcomeUnknownError) as info, open_lease(client) as lease:
        lease.commit(quantity_minor=10)
    # The charge may exist: a cancel would not undo it, and would turn the safe retry into a quarantined commit.
    assert "/mgt/v1/gate/cancel" not in paths(rsps)
    assert lease.state == "unknown"
    assert info.value.idempotency_key in caplog.text


def test_cancel_while_a_commit_is_in_flight_is_refused(rsps) -> None:
    client = make_client()
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    seen: List[Any] = []

    def commit_callback(request):
        with pytest.raises(LeaseError):
            lease.cancel()
        seen.append("checked")
        return (200, {}, '{"ok":true,"code":"OK","data":{"amount_xusd":"1"}}')

    rsps.add_callback("POST", URL["commit"], callback=commit_callback)
    with open_lease(client) as lease:
        lease.commit(quantity_minor=1)
    assert seen == ["checked"]
    assert lease.state == "committed"
    assert "/mgt/v1/gate/cancel" not in paths(rsps)


def test_the_cleanup_cancel_uses_a_short_timeout(rsps) -> None:
    client = make_client()
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    rsps.add("POST", URL["cancel"], json=ok(CANCEL_DATA))
    with pytest.raises(Boom), open_lease(client):
        raise Boom
    cancel = next(c for c in rsps.calls if c.request.path_url == "/mgt/v1/gate/cancel")
    assert cancel.request.req_kwargs["timeout"] == (3.0, 10.0)


# -- the scripted sequences of issue #7: the caller is told the truth and no lease is left open -------------------


def test_authorize_whose_answers_were_all_lost_is_recovered_and_given_back(rsps) -> None:
    client = make_client()  # 3 attempts
    lost = requests.exceptions.ConnectionError("reset after sending")
    for _ in range(3):
        rsps.add("POST", URL["authorize"], body=lost)
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))  # the replay finds the lease the first attempt opened
    rsps.add("POST", URL["cancel"], json=ok(CANCEL_DATA))
    lease = open_lease(client)
    with pytest.raises(LeaseRecoveredError) as info, lease:
        pytest.fail("the block must not run without an authorization")
    authorizes = [c for c in rsps.calls if c.request.path_url.endswith("/authorize")]
    assert len(authorizes) == 4
    assert len({c.request.headers["Idempotency-Key"] for c in authorizes}) == 1, "the replay uses the same key"
    assert sent_json(authorizes[0]) == sent_json(authorizes[3])
    assert paths(rsps)[-1] == "/mgt/v1/gate/cancel"
    assert sent_json(rsps.calls[-1]) == {"lease_token": "lt_abc"}
    assert lease.state == "cancelled"
    error = info.value
    assert error.idempotency_key == authorizes[0].request.headers["Idempotency-Key"]
    # The outcome is known now: nothing applied, the lease given back.
    assert error.may_have_applied is False
    assert (error.operation, error.lease_id) == ("gate.authorize", AUTHZ_DATA["lease_id"])
    assert "nothing was charged" in str(error)
    assert "gave it back" in str(error)
    assert isinstance(error.last_error, OutcomeUnknownError)
    assert isinstance(error.__cause__, OutcomeUnknownError)


def test_authorize_recovery_waits_out_a_rate_limited_replay(rsps) -> None:
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], body=requests.exceptions.ReadTimeout("stalled"))
    rsps.add("POST", URL["authorize"], json=err(429, "RATE.LIMITED"), status=429)
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    rsps.add("POST", URL["cancel"], json=ok(CANCEL_DATA))
    lease = open_lease(client)
    with pytest.raises(LeaseRecoveredError), lease:
        pass
    assert paths(rsps) == ["/mgt/v1/gate/authorize"] * 3 + ["/mgt/v1/gate/cancel"]
    assert lease.state == "cancelled"


def test_authorize_recovered_but_not_given_back_stays_unknown(rsps) -> None:
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], body=requests.exceptions.ReadTimeout("stalled"))
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    rsps.add("POST", URL["cancel"], json=err(403, "AUTH.FORBIDDEN"), status=403)
    lease = open_lease(client)
    with pytest.raises(OutcomeUnknownError), lease:
        pass
    assert lease.state == "unknown"


def test_authorize_recovery_that_is_refused_means_no_lease_is_held(rsps) -> None:
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], body=requests.exceptions.ReadTimeout("stalled"))
    rsps.add("POST", URL["authorize"], json=err(402, "BUDGET.EXHAUSTED"), status=402)
    lease = open_lease(client)
    with pytest.raises(PaymentRequiredError) as info, lease:
        pass
    assert paths(rsps) == ["/mgt/v1/gate/authorize", "/mgt/v1/gate/authorize"]
    assert lease.state == "refused"
    assert info.value.may_have_applied is False
    assert isinstance(info.value.__cause__, OutcomeUnknownError)


def test_authorize_that_cannot_be_recovered_says_unknown(rsps, caplog) -> None:
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], body=requests.exceptions.ConnectionError("reset"))
    lease = open_lease(client)
    with caplog.at_level(logging.ERROR, logger="vluna_client"), pytest.raises(OutcomeUnknownError), lease:
        pass
    assert lease.state == "unknown"
    key = rsps.calls[0].request.headers["Idempotency-Key"]
    assert key in caplog.text


def test_a_refused_authorize_is_not_recovered(rsps) -> None:
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], json=err(402, "FUNDING.INSUFFICIENT"), status=402)
    lease = open_lease(client)
    with pytest.raises(PaymentRequiredError), lease:
        pass
    assert paths(rsps) == ["/mgt/v1/gate/authorize"]
    assert lease.state == "refused"


def test_failed_cancel_rolls_back_and_can_be_called_again(rsps) -> None:
    client = make_client()  # 3 attempts per call
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    reset = requests.exceptions.ConnectionError("reset")
    for _ in range(3):
        rsps.add("POST", URL["cancel"], body=reset)
    rsps.add("POST", URL["cancel"], json=ok(CANCEL_DATA))
    with open_lease(client) as lease:
        with pytest.raises(OutcomeUnknownError):
            lease.cancel()
        assert lease.state == "open"
        assert lease.cancel() is True
        assert lease.state == "cancelled"
        assert lease.cancel() is None  # nothing more to do
    assert paths(rsps).count("/mgt/v1/gate/cancel") == 4


def test_conflict_on_commit_is_final(rsps) -> None:
    client = make_client()
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    rsps.add("POST", URL["commit"], json=err(409, "WRITE.INVALID_PAYLOAD", "idempotency_conflict"), status=409)
    rsps.add("POST", URL["cancel"], json=ok(CANCEL_DATA))
    with open_lease(client) as lease:
        with pytest.raises(ConflictError):
            lease.commit(quantity_minor=5, idempotency_key="reused-key")
        assert lease.state == "conflict"
        with pytest.raises(LeaseError):
            lease.commit(quantity_minor=5, idempotency_key="reused-key")
        with pytest.raises(LeaseError):
            lease.commit(quantity_minor=5)
    assert paths(rsps) == ["/mgt/v1/gate/authorize", "/mgt/v1/gate/commits", "/mgt/v1/gate/cancel"]
    assert lease.state == "cancelled"


@pytest.mark.parametrize(
    "first",
    [requests.exceptions.ConnectionError("answer lost"), requests.exceptions.ReadTimeout("stalled past the timeout")],
)
def test_lost_then_rate_limited_commit_is_reported_as_unknown_not_refused(rsps, first) -> None:
    client = make_client()
    rsps.add("POST", URL["commit"], body=first)
    rsps.add("POST", URL["commit"], json=err(429, "LIMIT.RATE_EXCEEDED"), status=429)
    with pytest.raises(OutcomeUnknownError) as info:
        client.gate.commit(
            lease_token="lt_abc", feature_code="llm.chat", quantity_minor=5, principal_id="o", user_id="u"
        )
    assert not isinstance(info.value, RateLimitError)
    assert isinstance(info.value.last_error, RateLimitError)
    assert info.value.may_have_applied is True
    assert info.value.attempts == 3
    assert {c.request.headers["Idempotency-Key"] for c in rsps.calls} == {info.value.idempotency_key}


def test_only_rate_limited_commit_is_a_plain_refusal(rsps) -> None:
    client = make_client()
    rsps.add("POST", URL["commit"], json=err(429, "LIMIT.RATE_EXCEEDED"), status=429)
    with pytest.raises(RateLimitError) as info:
        client.gate.commit(
            lease_token="lt_abc", feature_code="llm.chat", quantity_minor=5, principal_id="o", user_id="u"
        )
    assert info.value.may_have_applied is False
    assert len(rsps.calls) == 3


def test_state_is_a_plain_string_named_by_lease_state_and_documented(client, gate) -> None:
    import re
    import typing

    from vluna_client import LeaseState

    names = typing.get_args(LeaseState)
    lease = open_lease(client, estimated_quantity_minor=10)
    seen = [lease.state]
    with lease:
        seen.append(lease.state)
        lease.commit(quantity_minor=5)
    seen.append(lease.state)
    assert seen == ["new", "open", "committed"]
    assert all(type(state) is str and state in names for state in seen)
    # The class docstring explains each state; the Literal and the explanation name the same ten.
    documented = set(re.findall(r"``([a-z]+)``", (Lease.__doc__ or "").split("States", 1)[1]))
    assert documented == set(names)
