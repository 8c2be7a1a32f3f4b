"""A small seeded chaos run in the default suite, and the scripted sequences of issue #7 against the emulator."""

from __future__ import annotations

import pytest

import vluna_client
from chaos.chaos_engine import run
from support.bindings import Who
from vluna_client import OutcomeUnknownError, RateLimitError
from vluna_client.testing import Emulator

WHO: Who = {"principal_id": "org_script", "user_id": "user_script"}
FAST = vluna_client.RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.005)


@pytest.mark.parametrize("seed", [11, 12])
def test_a_small_chaos_run_keeps_every_promise(seed: int) -> None:
    # A generous read timeout: only injected faults, not a busy CI machine, should make answers late.
    result = run(loops=120, threads=8, rate=0.25, seed=seed, read_timeout=0.5)
    assert result.violations == []
    assert len(result.faults) >= 4, f"the seed should exercise most fault kinds: {result.faults}"
    assert result.outcomes.get("committed", 0) > 0
    assert result.unknown_errors > 0, "the run should have made the client say 'outcome unknown' at least once"


def test_lost_then_rate_limited_commit_tells_the_truth(emu: Emulator) -> None:
    with emu.service_client(retry=FAST, timeout=(2.0, 0.3)) as client:
        lease = client.gate.authorize(feature_code="llm.chat", **WHO).data
        emu.faults.drop_response_after_processing(1, path="/mgt/v1/gate/commits")
        emu.faults.rate_limit_next(2, retry_after=0, path="/mgt/v1/gate/commits")
        with pytest.raises(OutcomeUnknownError) as info:
            client.gate.commit(lease_token=lease.lease_token, feature_code="llm.chat", quantity_minor=4, **WHO)
        assert isinstance(info.value.last_error, RateLimitError)
        assert len(emu.ledger.commits()) == 1  # it was recorded: "refused" would have been a lie
        # The caller does what the error says: replay with the same key. No second charge.
        again = client.gate.commit(
            lease_token=lease.lease_token,
            feature_code="llm.chat",
            quantity_minor=4,
            idempotency_key=info.value.idempotency_key,
            **WHO,
        )
    (commit,) = emu.ledger.commits()
    assert again.data.commit_id == commit.commit_id


def test_authorize_whose_answers_were_all_lost_leaves_no_lease_open(emu: Emulator) -> None:
    emu.faults.drop_response_after_processing(3, path="/mgt/v1/gate/authorize")
    with emu.service_client(retry=FAST, timeout=(2.0, 0.3)) as client:
        lease = client.lease(feature_code="llm.chat", **WHO)
        with pytest.raises(vluna_client.LeaseRecoveredError) as info, lease:
            pytest.fail("no block without an authorization")
    assert lease.state == "cancelled"
    assert info.value.may_have_applied is False
    assert [item.state for item in emu.ledger.leases()] == ["cancelled"]


def test_a_cancel_whose_connections_all_reset_stays_open_and_can_be_repeated(emu: Emulator) -> None:
    with emu.service_client(retry=FAST, timeout=(2.0, 0.3)) as client:
        with client.lease(feature_code="llm.chat", **WHO) as lease:
            emu.faults.reset_next(3, path="/mgt/v1/gate/cancel")
            with pytest.raises(OutcomeUnknownError) as info:
                lease.cancel()
            # The request left before the reset, so the client cannot know it was not processed; it says so.
            assert isinstance(info.value.last_error, vluna_client.APIConnectionError)
            assert lease.state == "open"
            assert [item.state for item in emu.ledger.leases()] == ["open"]
            assert lease.cancel() is True
        assert lease.state == "cancelled"
    assert [item.state for item in emu.ledger.leases()] == ["cancelled"]


def test_a_409_on_a_lease_commit_is_final(emu: Emulator) -> None:
    with emu.service_client(retry=FAST) as client:
        first = client.gate.authorize(feature_code="llm.chat", **WHO).data
        client.gate.commit(
            lease_token=first.lease_token, feature_code="llm.chat", quantity_minor=1, idempotency_key="k-reused", **WHO
        )
        with client.lease(feature_code="llm.chat", **WHO) as lease:
            with pytest.raises(vluna_client.ConflictError):
                lease.commit(quantity_minor=2, idempotency_key="k-reused")
            assert lease.state == "conflict"
    assert lease.state == "cancelled"
    assert len(emu.ledger.commits()) == 1
