"""The pytest plugin's client retries without sleeping, and the emulator hands out clients with any policy."""

from __future__ import annotations

from typing import List

import pytest

import vluna_client
from support.bindings import Who
from vluna_client.testing import Emulator
from vluna_client.testing.pytest_plugin import FAST_RETRY_SETTINGS

WHO: Who = {"principal_id": "org_fx", "user_id": "user_fx"}


def test_the_fixture_client_retries_with_tiny_backoffs(
    vluna_emulator: Emulator, vluna_service_client: vluna_client.ServiceClient
) -> None:
    assert vluna_service_client.retry == vluna_client.RetryPolicy(**FAST_RETRY_SETTINGS)  # type: ignore[arg-type]  # floats only
    assert FAST_RETRY_SETTINGS["backoff_max"] <= 0.05
    vluna_emulator.faults.fail_next(2, status=503, path="/mgt/v1/gate/authorize")
    vluna_service_client.gate.authorize(feature_code="llm.chat", **WHO)
    assert [r.status for r in vluna_emulator.ledger.requests_to("/mgt/v1/gate/authorize")] == [503, 503, 200]


def test_a_retrier_sees_every_wait(emu: Emulator) -> None:
    waits: List[float] = []
    policy = vluna_client.RetryPolicy(**FAST_RETRY_SETTINGS)  # type: ignore[arg-type]  # floats only
    retrier = vluna_client.Retrier(policy, sleep=waits.append)
    emu.faults.fail_next(2, status=503, path="/mgt/v1/gate/authorize")
    with emu.service_client(retry=retrier) as client:  # type: ignore[arg-type]  # a Retrier works too
        client.gate.authorize(feature_code="llm.chat", **WHO)
    assert len(waits) == 2
    assert all(0 <= wait <= FAST_RETRY_SETTINGS["backoff_max"] for wait in waits)


def test_service_client_takes_a_retry_policy_and_timeout(emu: Emulator) -> None:
    emu.faults.fail_next(1, status=503, path="/mgt/v1/gate/limits")
    with (
        emu.service_client(retry=vluna_client.NO_RETRIES, timeout=(1.0, 2.0)) as client,
        pytest.raises(vluna_client.ServerError) as caught,
    ):
        client.gate.limits(**WHO)
    assert caught.value.status == 503
    assert len(emu.ledger.requests) == 1


def test_bearer_client_takes_a_retry_policy(emu: Emulator) -> None:
    token = emu.issue_token("org_fx", "user_fx")
    emu.faults.fail_next(1, status=503, path="/api/v1/wallet/balance")
    with emu.bearer_client(token, retry=vluna_client.NO_RETRIES) as client, pytest.raises(vluna_client.ServerError):
        client.wallet.get_balance()
    with emu.bearer_client(token, retry=vluna_client.RetryPolicy(backoff_base=0.001, backoff_max=0.01)) as client:
        emu.faults.fail_next(1, status=503, path="/api/v1/wallet/balance")
        assert (
            client.wallet.get_balance().data.billing_user_id == emu.billing_ids("org_fx", "user_fx")["billing_user_id"]
        )
