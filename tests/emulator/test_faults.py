"""Fault injection and strict mode, over real loopback HTTP."""

from __future__ import annotations

import time

import pytest
import requests

from support.emulator_wire import Wire
from vluna_client.testing import Emulator


def test_fail_next_then_ok(emu: Emulator, wire: Wire) -> None:
    emu.faults.fail_next(1, status=500, path="/mgt/v1/gate/commits")
    token = wire.lease_token()
    failed = wire.commit(token, key="k")
    assert failed.status_code == 500
    assert failed.json() == {
        "ok": False,
        "code": "SERVER.UNEXPECTED",
        "message": "Unexpected server error. Please try again later.",
    }
    assert emu.ledger.commits() == []
    retried = wire.commit(token, key="k")
    assert retried.status_code == 200
    assert len(emu.ledger.commits()) == 1
    assert [(r.status, r.fault) for r in emu.ledger.requests_to("/mgt/v1/gate/commits")] == [(500, "fail"), (200, None)]


def test_fail_next_503_uses_the_error_envelope(emu: Emulator, wire: Wire) -> None:
    emu.faults.fail_next(2, status=503)
    first = wire.plain("GET", "/health")
    assert (first.status_code, first.json()["meta"]) == (503, {"status": 503})
    assert wire.plain("GET", "/health").status_code == 503
    assert wire.plain("GET", "/health").status_code == 200
    assert emu.faults.pending == 0


def test_dropped_response_leaves_one_commit(emu: Emulator, wire: Wire) -> None:
    token = wire.lease_token()
    emu.faults.drop_response_after_processing(1, path="/mgt/v1/gate/commits")
    with pytest.raises(requests.ConnectionError):
        wire.commit(token, key="charge-1")
    assert len(emu.ledger.commits()) == 1  # the charge went through although nobody heard about it
    retried = wire.commit(token, key="charge-1")
    assert retried.status_code == 200
    assert retried.json()["data"]["commit_id"] == emu.ledger.commits()[0].commit_id
    assert len(emu.ledger.commits()) == 1
    log = emu.ledger.requests_to("/mgt/v1/gate/commits")
    assert [(r.dropped, r.replayed, r.idempotency_key) for r in log] == [
        (True, False, "charge-1"),
        (False, True, "charge-1"),
    ]


def test_rate_limit_next_sends_retry_after(emu: Emulator, wire: Wire) -> None:
    emu.faults.rate_limit_next(1, retry_after=2)
    response = wire.authorize()
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    body = response.json()
    assert body["code"] == "LIMIT.RATE_EXCEEDED"
    assert body["hints"][0]["seconds"] == 2
    assert emu.ledger.leases() == []
    assert wire.authorize().status_code == 200


def test_delay_next(emu: Emulator, wire: Wire) -> None:
    emu.faults.delay_next(1, 0.3, path="/health")
    started = time.monotonic()
    assert wire.plain("GET", "/health").status_code == 200
    assert time.monotonic() - started >= 0.3
    emu.faults.delay_next(1, 5.0)
    with pytest.raises(requests.ReadTimeout):
        wire.plain("GET", "/health", timeout=0.2)
    # Stopping the emulator cuts the pending sleep short (checked by teardown staying fast).


def test_faults_match_in_order_and_by_path(emu: Emulator, wire: Wire) -> None:
    emu.faults.fail_next(1, status=502, path="/mgt/v1/gate/*").fail_next(1, status=504)
    assert wire.plain("GET", "/health").status_code == 504
    assert wire.plain("GET", "/health").status_code == 200
    assert wire.svc("GET", "/mgt/v1/gate/limits").status_code == 502
    emu.faults.fail_next(3).clear()
    assert emu.faults.pending == 0


def test_strict_mode_rejects_reused_nonces_and_stale_timestamps() -> None:
    with Emulator(strict=True) as emulator:
        wire = Wire(emulator)
        try:
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            assert wire.svc("GET", "/mgt/v1/wallet/balance", ts=now, nonce="n-1").status_code == 200
            reused = wire.svc("GET", "/mgt/v1/wallet/balance", ts=now, nonce="n-1")
            assert reused.status_code == 401
            assert reused.json()["message"] == "Nonce already used (strict mode)"
            stale = wire.svc("GET", "/mgt/v1/wallet/balance", ts="2020-01-01T00:00:00Z")
            assert stale.status_code == 401
            assert stale.json()["code"] == "AUTH.INVALID_SERVICE_SIGNATURE"
            assert wire.svc("GET", "/mgt/v1/wallet/balance", ts=now).status_code == 200
        finally:
            wire.close()


def test_lenient_mode_accepts_old_timestamps_and_reused_nonces(wire: Wire) -> None:
    for _ in range(2):
        response = wire.svc("GET", "/mgt/v1/wallet/balance", ts="1999-01-01T00:00:00Z", nonce="same")
        assert response.status_code == 200
