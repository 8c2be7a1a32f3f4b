"""ingest_partition: counts that add up, keys that make any re-run charge nothing twice, spawn pools."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from typing import Any, Dict, List

from support import scale_jobs
from vluna_client import PartitionCounts, ingest_partition
from vluna_client.testing import Emulator


def _charged(emu: Emulator, rows: List[Dict[str, Any]]) -> Counter[str]:
    """How many ledger records each valid row's key has (exactly once: all ones)."""
    keys = {scale_jobs.expected_key(row, emu.realm_id) for row in rows if scale_jobs.valid(row)}
    return Counter(record.idempotency_key for record in emu.ledger.ingests() if record.idempotency_key in keys)


def test_counts_of_a_partition_match_the_ledger(emu: Emulator) -> None:
    rows = scale_jobs.rows("p1", 120, invalid_every=40)
    with emu.service_client() as client:
        counts = ingest_partition(client, rows)
    records = emu.ledger.ingests()
    assert counts.rows == 120
    assert (counts.recorded, counts.invalid, counts.failed, counts.unknown, counts.not_sent) == (117, 3, 0, 0, 0)
    assert counts.reasons == {"invalid quantity_minor": 3}
    assert counts.settled
    assert len(records) == 117
    assert set(_charged(emu, rows).values()) == {1}
    assert counts.priced_xusd == sum(record.amount_xusd for record in records)


def test_running_a_partition_again_charges_nothing(emu: Emulator) -> None:
    rows = scale_jobs.rows("again", 60)
    with emu.service_client() as client:
        first = ingest_partition(client, rows)
        second = ingest_partition(client, rows)
        # The command line's keys are the same keys: rows it already sent are replays too.
        overlap = ingest_partition(client, scale_jobs.rows("again", 80))
    assert first == second
    assert overlap.recorded == 80
    assert len(emu.ledger.ingests()) == 80
    assert set(_charged(emu, scale_jobs.rows("again", 80)).values()) == {1}
    assert first.priced_xusd == sum(r.amount_xusd for r in emu.ledger.ingests()[:60])


def test_rows_in_the_ingest_many_shape_work_too(emu: Emulator) -> None:
    rows = [
        {"id": f"m-{n}", "principal_id": "org_m", "user_id": "u", "feature_code": "scale.m", "quantity_minor": 2}
        for n in range(5)
    ]
    rows.append({"id": "m-bad", "principal_id": "org_m", "user_id": "u", "quantity_minor": 1})  # no feature
    with emu.service_client() as client:
        counts = ingest_partition(client, rows)
    assert (counts.recorded, counts.invalid, counts.priced_xusd) == (5, 1, 100)
    assert counts.reasons == {"invalid feature_code": 1}


def test_server_refusals_and_lost_answers_are_counted_by_reason(emu: Emulator) -> None:
    emu.set_features(["scale.ingest"])
    rows = scale_jobs.rows("refused", 6)
    rows[1]["feature_code"] = "scale.unknown"  # 422 from the server
    emu.faults.drop_response_after_processing(1, "/mgt/v1/gate/ingest")
    with emu.service_client(timeout=5.0) as client:
        counts = ingest_partition(client, rows, workers=1)
    assert counts.failed == 1
    assert counts.reasons == {"422 RESOURCE.NOT_FOUND": 1}
    assert counts.recorded == 5
    assert counts.unknown == 0


def test_counts_add_up_with_sum() -> None:
    a = PartitionCounts(rows=3, recorded=2, invalid=1, priced_xusd=50, reasons={"invalid user_id": 1})
    b = PartitionCounts(rows=4, recorded=1, failed=2, unknown=1, priced_xusd=7, reasons={"invalid user_id": 2})
    total = sum([a, b], PartitionCounts())
    assert total == PartitionCounts(
        rows=7, recorded=3, failed=2, invalid=1, unknown=1, priced_xusd=57, reasons={"invalid user_id": 3}
    )
    assert not total.settled
    assert sum([], PartitionCounts()) == PartitionCounts()


def test_a_spawn_pool_ingests_every_row_once(emu: Emulator) -> None:
    rows = scale_jobs.rows("spawn", 400, invalid_every=100)
    chunks = [rows[i : i + 50] for i in range(0, len(rows), 50)]
    context = multiprocessing.get_context("spawn")
    with emu.service_client() as client, context.Pool(2) as pool:
        counts = sum(pool.starmap(scale_jobs.ingest_chunk, [(client, chunk) for chunk in chunks]))
        again = sum(pool.starmap(scale_jobs.ingest_chunk, [(client, chunk) for chunk in chunks]))
    assert isinstance(counts, PartitionCounts)
    assert (counts.rows, counts.recorded, counts.invalid) == (400, 396, 4)
    assert again == counts
    charged = _charged(emu, rows)
    assert len(charged) == 396
    assert set(charged.values()) == {1}
    assert counts.priced_xusd == sum(record.amount_xusd for record in emu.ledger.ingests())


def test_two_copies_of_a_partition_at_once_charge_each_row_once(emu: Emulator) -> None:
    # A speculative duplicate: the same partition runs twice concurrently. (The emulator serialises two first
    # requests with one key; the server's database envelope per user and key is what dedupes them there.)
    from concurrent.futures import ThreadPoolExecutor

    rows = scale_jobs.rows("twins", 200)
    with emu.service_client() as client, ThreadPoolExecutor(2) as pool:
        copies = list(pool.map(lambda _: ingest_partition(client, rows), range(2)))
    assert [c.recorded for c in copies] == [200, 200]
    assert copies[0].priced_xusd == copies[1].priced_xusd
    charged = _charged(emu, rows)
    assert len(charged) == 200
    assert set(charged.values()) == {1}
