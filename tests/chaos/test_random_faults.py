"""The real client under seeded random faults: what it reports must agree with what the emulator recorded."""

from __future__ import annotations

from typing import Dict, Optional

import pytest

import vluna_client
from support.bindings import Who
from vluna_client.testing import Emulator

WHO: Who = {"principal_id": "org_chaos", "user_id": "user_chaos"}


@pytest.mark.parametrize(("seed", "rate", "attempts"), [(1, 0.3, 5), (2, 0.3, 5), (3, 0.6, 2)])
def test_gate_writes_under_random_faults_are_never_doubled_nor_misreported(
    emu: Emulator, seed: int, rate: float, attempts: int
) -> None:
    retry = vluna_client.RetryPolicy(max_attempts=attempts, backoff_base=0.001, backoff_max=0.01, max_elapsed=30.0)
    emu.faults.random(
        rate,
        seed=seed,
        kinds=("fail", "rate_limit", "reset", "drop", "stall"),
        paths=["/mgt/v1/gate/*"],
        stall_seconds=5.0,  # far beyond the 0.2 s read timeout: the hold ends when the client hangs up
    )
    told: Dict[str, Optional[vluna_client.VlunaError]] = {}
    commit_ids: Dict[str, Optional[str]] = {}
    with emu.service_client(retry=retry, timeout=(2.0, 0.2)) as client:
        for n in range(12):
            try:
                lease = client.gate.authorize(feature_code="llm.chat", idempotency_key=f"a-{seed}-{n}", **WHO)
            except vluna_client.VlunaError:
                continue
            key = f"c-{seed}-{n}"
            try:
                result = client.gate.commit(
                    lease_token=lease.data.lease_token,
                    feature_code="llm.chat",
                    quantity_minor=3,
                    idempotency_key=key,
                    **WHO,
                )
            except vluna_client.VlunaError as exc:
                told[key] = exc
            else:
                told[key] = None
                commit_ids[key] = result.data.commit_id
    emu.faults.clear()

    faulted = [r for r in emu.ledger.requests if r.fault is not None]
    assert {r.fault for r in faulted} >= {"fail", "drop"}, "the seed should exercise several kinds"
    for key, error in told.items():
        stored = emu.ledger.commits(idempotency_key=key)
        assert len(stored) <= 1, key
        sent = emu.ledger.requests_to("/mgt/v1/gate/commits")
        processed_ok = [a for a in sent if a.idempotency_key == key and a.processed and a.status == 200]
        if error is None:
            assert [c.commit_id for c in stored] == [commit_ids[key]]
        elif not error.may_have_applied:
            assert stored == [], f"{key}: the client said 'not applied' but the emulator applied it"
        assert bool(stored) == bool(processed_ok), key
