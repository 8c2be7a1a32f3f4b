"""The chaos run's fault proxy, in front of the emulator: each fault kind does to the client what its name says."""

from __future__ import annotations

from typing import Any, Iterator, Tuple

import pytest

import vluna_client
from chaos.fault_proxy import FaultProxy
from support.bindings import Who
from vluna_client import APIConnectionError, OutcomeUnknownError, RateLimitError, ServerError
from vluna_client.testing import Emulator

WHO: Who = {"principal_id": "org_proxy", "user_id": "user_proxy"}
ONCE = vluna_client.RetryPolicy(max_attempts=1)


@pytest.fixture
def behind_proxy() -> Iterator[Tuple[Emulator, FaultProxy]]:
    with Emulator() as emu, FaultProxy(emu.url, paths=["/mgt/v1/gate/"], hold_seconds=1.0) as proxy:
        yield emu, proxy


def _client(emu: Emulator, proxy: FaultProxy) -> vluna_client.ServiceClient:
    return vluna_client.ServiceClient(
        base_url=proxy.url + "/mgt/v1",
        realm_id=emu.realm_id,
        key_id=emu.key_id,
        key_secret=emu.key_secret,
        retry=ONCE,
        timeout=(2.0, 0.3),
    )


@pytest.mark.parametrize(
    ("kind", "error", "leases"),
    [
        # A reset or a 503 after the request was sent: the client cannot know it was not processed.
        ("reset", (APIConnectionError, OutcomeUnknownError), 0),
        ("fail", (ServerError, OutcomeUnknownError), 0),
        ("rate_limit", RateLimitError, 0),
        ("drop", OutcomeUnknownError, 1),
        ("stall", OutcomeUnknownError, 1),
        ("delay", OutcomeUnknownError, 1),
    ],
)
def test_each_fault_kind(behind_proxy: Tuple[Emulator, FaultProxy], kind: str, error: Any, leases: int) -> None:
    emu, proxy = behind_proxy
    proxy.reseed(1.0, seed=1, kinds=[kind], hold_seconds=1.0)
    with _client(emu, proxy) as client:
        with pytest.raises(error) as info:
            client.gate.authorize(feature_code="llm.chat", **WHO)
        if kind == "rate_limit":
            assert isinstance(info.value, RateLimitError)
            assert info.value.retry_after == 0
        proxy.stop_faults()
        if kind == "delay":
            # The held request is forwarded after the client gave up.
            proxy.stopping.wait(1.5)
        assert len(emu.ledger.leases()) == leases
        # Faults off: the same client goes through.
        assert client.gate.authorize(feature_code="llm.chat", **WHO).data.lease_id
    (record, after) = proxy.requests
    assert (record.fault, record.forwarded) == (kind, leases == 1)
    assert (after.fault, after.status) == (None, 200)


def test_paths_outside_the_filter_are_relayed_faithfully(behind_proxy: Tuple[Emulator, FaultProxy]) -> None:
    emu, proxy = behind_proxy
    proxy.reseed(1.0, seed=1, kinds=["reset"], hold_seconds=1.0)
    with _client(emu, proxy) as client:
        assert client.token.issue(**WHO).data.access_token
    assert [(r.fault, r.status) for r in proxy.requests] == [(None, 200)]
