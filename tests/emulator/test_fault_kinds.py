"""Every fault kind on every route, stalls that end when the client gives up, and the seeded random mode."""

from __future__ import annotations

import time
import uuid
from typing import Any, Dict, List, Optional

import pytest
import requests

from support.bindings import Who
from support.emulator_wire import Wire
from vluna_client.testing import FAULT_KINDS, Emulator


def _concrete(template: str) -> str:
    return "/".join(str(uuid.uuid4()) if part.startswith("{") else part for part in template.split("/"))


def test_every_fault_kind_applies_on_every_route(emu: Emulator) -> None:
    routes = emu.routes()
    assert ("POST", "/mgt/v1/gate/commits") in routes
    with requests.Session() as session:
        for method, template in routes:
            path = _concrete(template)
            url = emu.url + path

            emu.faults.fail_next(1, status=502, path=path, method=method)
            failed = session.request(method, url, timeout=5)
            assert (failed.status_code, failed.json()["code"]) == (502, "SERVER.UPSTREAM"), (method, template)

            emu.faults.rate_limit_next(1, retry_after=0, path=path, method=method)
            limited = session.request(method, url, timeout=5)
            assert (limited.status_code, limited.headers["Retry-After"]) == (429, "0"), (method, template)

            for schedule in (emu.faults.reset_next, emu.faults.drop_response_after_processing):
                schedule(1, path, method=method)
                with pytest.raises(requests.ConnectionError):
                    session.request(method, url, timeout=5)

            emu.faults.stall_next(1, 0.001, then="drop", path=path, method=method)
            with pytest.raises(requests.ConnectionError):
                session.request(method, url, timeout=5)

            emu.faults.stall_next(1, 0.001, then="send", path=path, method=method)
            emu.faults.delay_next(1, 0.001, path=path, method=method)
            for _ in range(2):
                answered = session.request(method, url, timeout=5)
                assert answered.status_code not in (429, 502), (method, template)
    assert emu.faults.pending == 0
    records = emu.ledger.requests
    assert len(records) == 7 * len(routes)
    by_fault: Dict[str, List[Any]] = {kind: [r for r in records if r.fault == kind] for kind in FAULT_KINDS}
    assert all(len(by_fault[kind]) == len(routes) for kind in ("fail", "rate_limit", "reset", "drop", "delay"))
    assert len(by_fault["stall"]) == 2 * len(routes)
    assert {(r.processed, r.dropped) for r in by_fault["reset"]} == {(False, True)}
    assert {(r.processed, r.dropped) for r in by_fault["fail"] + by_fault["rate_limit"]} == {(False, False)}
    assert {(r.processed, r.dropped) for r in by_fault["drop"]} == {(True, True)}
    assert {(r.processed, r.dropped, r.held_seconds) for r in by_fault["stall"]} == {
        (True, True, 0.001),
        (True, False, 0.001),
    }


def test_a_reset_happens_before_processing(emu: Emulator, wire: Wire) -> None:
    token = wire.lease_token()
    emu.faults.reset_next(1, "/mgt/v1/gate/commits")
    with pytest.raises(requests.ConnectionError):
        wire.commit(token, key="reset-1")
    assert emu.ledger.commits() == []
    (record,) = emu.ledger.requests_to("/mgt/v1/gate/commits")
    assert (record.fault, record.processed, record.dropped, record.status) == ("reset", False, True, 0)
    assert wire.commit(token, key="reset-1").status_code == 200
    assert len(emu.ledger.commits()) == 1


def test_a_stall_past_the_read_timeout_ends_when_the_client_gives_up(emu: Emulator, wire: Wire) -> None:
    token = wire.lease_token()
    emu.faults.stall_next(1, 30.0, then="send", path="/mgt/v1/gate/commits")
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        wire.svc(
            "POST",
            "/mgt/v1/gate/commits",
            {"lease_token": token, "feature_code": "llm.chat", "quantity_minor": "5"},
            key="stalled-1",
            timeout=0.2,
        )
    # The write happened although the client heard nothing; the same key replays it.
    (commit,) = emu.ledger.commits()
    retried = wire.commit(token, key="stalled-1")
    assert retried.json()["data"]["commit_id"] == commit.commit_id
    first, second = emu.ledger.requests_to("/mgt/v1/gate/commits")
    assert (first.fault, first.processed, first.held_seconds, first.status) == ("stall", True, 30.0, 200)
    assert (second.replayed, second.fault) == (True, None)
    # The 30 s hold was abandoned when the client hung up: stopping does not wait for it either.
    emu.stop()
    assert time.monotonic() - started < 15


def test_a_stall_shorter_than_the_timeout_sends_the_answer(emu: Emulator, wire: Wire) -> None:
    emu.faults.stall_next(1, 0.1, then="send", path="/health")
    reply = wire.plain("GET", "/health", timeout=5)
    assert reply.status_code == 200
    (record,) = emu.ledger.requests
    assert (record.fault, record.dropped, record.held_seconds) == ("stall", False, 0.1)


def _fault_sequence(seed: int, count: int) -> List[Optional[str]]:
    with Emulator() as emu, requests.Session() as session:
        emu.faults.random(0.3, seed=seed, kinds=("fail", "rate_limit"), paths=["/health"])
        for _ in range(count):
            session.get(emu.url + "/health", timeout=5)
        session.get(emu.url + "/nope", timeout=5)  # outside `paths`: never faulted
        records = emu.ledger.requests
    assert records[-1].fault is None
    return [record.fault for record in records[:-1]]


def test_random_faults_are_reproducible_from_the_seed() -> None:
    first = _fault_sequence(seed=11, count=60)
    assert first == _fault_sequence(seed=11, count=60)
    assert first != _fault_sequence(seed=12, count=60)
    faulted = [kind for kind in first if kind is not None]
    assert set(faulted) == {"fail", "rate_limit"}
    assert 5 <= len(faulted) <= 35  # 0.3 of 60, with room for chance


def test_random_mode_with_per_kind_probabilities(emu: Emulator, wire: Wire) -> None:
    emu.faults.random({"fail": 1.0}, seed=1, methods=["GET"], status=504)
    assert wire.plain("GET", "/health").status_code == 504
    emu.faults.fail_next(1, status=418 + 82)  # a scheduled fault wins over the random mode
    assert wire.plain("GET", "/health").status_code == 500
    emu.faults.stop_random()
    assert wire.plain("GET", "/health").status_code == 200
    with pytest.raises(ValueError, match="add up"):
        emu.faults.random({"fail": 0.7, "drop": 0.7})
    with pytest.raises(ValueError, match="unknown fault kind"):
        emu.faults.random(0.5, kinds=("explode",))


# -- hostile answers: trickled and oversized ---------------------------------------------------------------

WHO: Who = {"principal_id": "org-trickle", "user_id": "user-trickle"}


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_trickled_answer_ends_the_call_at_its_deadline_and_the_write_is_recorded(emu: Emulator, part: str) -> None:
    from vluna_client import NO_RETRIES, OutcomeUnknownError

    emu.faults.trickle_next(1, interval=0.05, part=part, path="/mgt/v1/gate/ingest")
    with emu.service_client(retry=NO_RETRIES, timeout=(2, 1.0)) as client:
        started = time.monotonic()
        with pytest.raises(OutcomeUnknownError) as info:
            client.gate.ingest(feature_code="llm.chat", quantity_minor=3, idempotency_key=f"tr-{part}", **WHO)
        elapsed = time.monotonic() - started
        assert elapsed <= 1.0 + 0.5, elapsed  # the read budget, however the bytes keep coming
        assert len(emu.ledger.ingests()) == 1  # processed before the dribble: the charge exists
        # The caller does what the error says: a replay with the same key answers with the first result.
        again = client.gate.ingest(feature_code="llm.chat", quantity_minor=3, idempotency_key=f"tr-{part}", **WHO)
        assert again.data.commit_id == emu.ledger.ingests()[0].commit_id
    assert info.value.idempotency_key == f"tr-{part}"
    (record,) = [r for r in emu.ledger.requests if r.fault == "trickle"]
    assert (record.processed, record.dropped) == (True, True)


def test_a_trickled_read_is_a_timeout(emu: Emulator) -> None:
    from vluna_client import NO_RETRIES, APITimeoutError

    emu.faults.trickle_next(1, interval=0.05, part="headers", path="/mgt/v1/gate/limits")
    with emu.service_client(retry=NO_RETRIES, timeout=(2, 0.8)) as client:
        with pytest.raises(APITimeoutError):
            client.gate.limits(**WHO)
        assert client.gate.limits(**WHO).status_code == 200  # the next answer is fine


def test_an_oversized_answer_is_refused_and_a_write_says_its_outcome_is_unknown(emu: Emulator) -> None:
    from vluna_client import NO_RETRIES, APIConnectionError, OutcomeUnknownError

    emu.faults.oversized_next(1, path="/mgt/v1/gate/limits")
    emu.faults.oversized_next(1, path="/mgt/v1/gate/ingest")
    with emu.service_client(retry=NO_RETRIES) as client:
        with pytest.raises(APIConnectionError, match="larger than"):
            client.gate.limits(**WHO)
        with pytest.raises(OutcomeUnknownError):
            client.gate.ingest(feature_code="llm.chat", quantity_minor=2, idempotency_key="big-1", **WHO)
        assert len(emu.ledger.ingests()) == 1


def test_an_oversized_answer_is_valid_json_a_client_without_a_cap_would_accept(emu: Emulator) -> None:
    emu.faults.oversized_next(1, size=300_000, path="/mgt/v1/gate/limits")
    answer = requests.get(emu.url + "/mgt/v1/gate/limits", timeout=5)
    assert len(answer.content) == 300_000
    assert "Content-Length" not in answer.headers
    assert isinstance(answer.json(), dict)


def test_the_random_mode_draws_trickles_and_oversized_answers(emu: Emulator) -> None:
    emu.faults.random(1.0, seed=3, kinds=["trickle", "oversized"], trickle_interval=0.01, oversized_bytes=2048)
    drawn = [emu.faults.take("GET", "/mgt/v1/gate/limits") for _ in range(40)]
    kinds = {fault.kind for fault in drawn if fault is not None}
    assert kinds == {"trickle", "oversized"}
    assert {fault.then for fault in drawn if fault is not None and fault.kind == "trickle"} == {"headers", "body"}
    assert {fault.size for fault in drawn if fault is not None and fault.kind == "oversized"} == {2048}
