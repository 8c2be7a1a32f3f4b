"""A write whose outcome is unknown carries a JSON record of itself, and any client of the realm can replay it."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import pytest
import requests

from support.mock_deployment import COMMIT_DATA, KEY_ID, REALM, SECRET_B64, URL, err, make_client, ok, verify_request
from vluna_client import (
    NO_RETRIES,
    APIConnectionError,
    ConfigurationError,
    InputValidationError,
    OutcomeUnknownError,
    PaymentRequiredError,
    PendingWrite,
)

LOST = requests.exceptions.ConnectionError("reset after sending")


def lose_commit(client, **extra):
    with pytest.raises(OutcomeUnknownError) as info:
        client.gate.commit(lease_token="lt_abc", feature_code="llm.chat", quantity_minor=1500, **extra)
    return info.value


def test_an_unknown_commit_carries_a_json_record_that_replays_the_identical_request(rsps) -> None:
    rsps.add("POST", URL["commit"], body=LOST)
    rsps.add("POST", URL["commit"], json=ok(COMMIT_DATA))
    client = make_client(retry=NO_RETRIES)
    view = client.bind(principal_id="org_123", user_id="user_42")
    error = lose_commit(view, labels={"doc": "d-1"}, idempotency_key="commit-k1")

    record = error.pending
    assert isinstance(record, PendingWrite)
    assert (record.operation, record.surface, record.realm_id) == ("gate.commit", "service", REALM)
    assert record.idempotency_key == "commit-k1" == error.idempotency_key
    assert record.bindings == {"principal_id": "org_123", "user_id": "user_42"}
    assert record.body == {
        "feature_code": "llm.chat",
        "labels": {"doc": "d-1"},
        "lease_token": "lt_abc",
        "quantity_minor": "1500",
    }
    wire = json.dumps(record.to_dict())  # plain JSON, as a task queue carries it
    assert SECRET_B64 not in wire
    assert KEY_ID not in wire
    assert "Authorization" not in wire

    # Another client of the realm (a worker, with no bindings of its own) settles it from the JSON form.
    worker = make_client(retry=NO_RETRIES)
    result = worker.replay(json.loads(wire))
    assert result.data.commit_id == COMMIT_DATA["commit_id"]
    assert result.idempotency_key == "commit-k1"
    first, replay = (call.request for call in rsps.calls)
    assert replay.body == first.body  # the same bytes, so the server sees the same write
    for header in ("Idempotency-Key", "X-Principal-Id", "X-User-Id", "X-Realm-Id"):
        assert replay.headers[header] == first.headers[header]
    assert verify_request(replay)
    client.close()
    worker.close()


def test_a_replay_takes_no_binding_the_record_lacks(rsps) -> None:
    rsps.add("POST", URL["commit"], body=LOST)
    rsps.add("POST", URL["commit"], json=ok(COMMIT_DATA))
    client = make_client(retry=NO_RETRIES)
    record = lose_commit(client, principal_id="org_123", user_id="user_42").pending
    other = client.bind(principal_id="org_other", user_id="user_other", billing_account_id="ba_9")
    other.replay(record)
    replay = rsps.calls[1].request
    assert (replay.headers["X-Principal-Id"], replay.headers["X-User-Id"]) == ("org_123", "user_42")
    assert "X-Billing-Account-Id" not in replay.headers


def test_a_replay_that_is_refused_raises_the_refusal(rsps) -> None:
    rsps.add("POST", URL["commit"], body=LOST)
    rsps.add("POST", URL["commit"], json=err(402, "FUNDING.INSUFFICIENT"), status=402)
    client = make_client(retry=NO_RETRIES)
    record = lose_commit(client, principal_id="o", user_id="u").pending
    with pytest.raises(PaymentRequiredError):
        client.replay(record)


def test_a_replay_whose_answer_is_lost_again_carries_the_same_record(rsps) -> None:
    rsps.add("POST", URL["commit"], body=LOST)
    rsps.add("POST", URL["commit"], body=LOST)
    client = make_client(retry=NO_RETRIES)
    record = lose_commit(client, principal_id="o", user_id="u").pending
    with pytest.raises(OutcomeUnknownError) as again:
        client.replay(record)
    assert again.value.pending == record


def test_a_record_for_another_realm_or_client_is_refused_before_any_io(rsps) -> None:
    rsps.add("POST", URL["commit"], body=LOST)
    client = make_client(retry=NO_RETRIES)
    record = lose_commit(client, principal_id="o", user_id="u").pending.to_dict()
    with pytest.raises(ConfigurationError, match="realm"):
        make_client(realm_id="realm_other").replay(record)
    with pytest.raises(ConfigurationError, match="bearer"):
        client.replay({**record, "surface": "bearer"})
    with pytest.raises(InputValidationError, match="no operation"):
        client.replay({**record, "operation": "gate.nothing"})
    with pytest.raises(InputValidationError, match="not a write"):
        client.replay({**record, "operation": "gate.limits"})
    with pytest.raises(InputValidationError, match="version"):
        client.replay({**record, "version": 99})
    with pytest.raises(InputValidationError, match="idempotency_key"):
        client.replay({**record, "idempotency_key": ""})
    assert len(rsps.calls) == 1


def test_reads_carry_no_record(rsps) -> None:
    rsps.add("GET", URL["limits"], body=LOST)
    client = make_client(retry=NO_RETRIES)
    with pytest.raises(APIConnectionError) as info:  # a read is never "unknown"
        client.gate.limits(principal_id="o", user_id="u")
    assert not hasattr(info.value, "pending")


def test_an_error_rebuilt_from_json_rebuilds_its_record_without_the_module_that_makes_records() -> None:
    # The record type lives beside the error that carries it: a process that only receives errors (a Celery
    # result consumer) rebuilds `exc.pending` as a PendingWrite without ever importing vluna_client._pending.
    script = """
import json, sys
from vluna_client._errors import OutcomeUnknownError, PendingWrite
record = PendingWrite(operation="gate.commit", surface="service", realm_id="r1", idempotency_key="k1",
                      body={"quantity_minor": "5"}, bindings={"principal_id": "org_1"})
sent = OutcomeUnknownError("lost", operation="gate.commit", idempotency_key="k1", pending=record)
back = OutcomeUnknownError(*json.loads(json.dumps(sent.args)))
assert back.pending == record, back.pending
assert "vluna_client._pending" not in sys.modules
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_records_pickled_under_the_old_module_name_still_load() -> None:
    from vluna_client import _pending

    assert _pending.PendingWrite is PendingWrite
    record = PendingWrite(operation="gate.cancel", surface="service", realm_id="r1", idempotency_key="k2")
    # A pickle made before the record moved names its old module (protocol 0 spells the name as a line of text).
    old = pickle.dumps(record, protocol=0).replace(b"vluna_client._errors\n", b"vluna_client._pending\n")
    assert b"vluna_client._pending" in old
    assert pickle.loads(old) == record  # noqa: S301 - bytes this test made
