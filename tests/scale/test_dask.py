"""A Dask job over worker processes ingests every row exactly once: plain, with a worker killed, and run twice.

The default run sends 2,400 rows (over 8 partitions) per job to keep the suite quick; ``VLUNA_SCALE_ROWS=20000``
gives the figure the guide quotes.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from support import scale_jobs
from vluna_client import PartitionCounts
from vluna_client.testing import Emulator

distributed = pytest.importorskip("distributed", reason="Dask needs Python 3.10+ (tests extra: dask[distributed])")
bag = pytest.importorskip("dask.bag")

ROWS = int(os.environ.get("VLUNA_SCALE_ROWS", "2400"))
PARTITIONS = 8
INVALID_EVERY = 600


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    # Two worker processes (the default nanny restarts one that dies), one thread each: the emulator, in this
    # process, is the bottleneck anyway.
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
        ) as local,
        distributed.Client(local) as dask_client,
    ):
        yield dask_client


def _check_exactly_once(emu: Emulator, rows: List[Dict[str, Any]], counts: PartitionCounts) -> None:
    valid = [row for row in rows if scale_jobs.valid(row)]
    keys = {scale_jobs.expected_key(row, emu.realm_id) for row in valid}
    records = [record for record in emu.ledger.ingests() if record.idempotency_key in keys]
    per_key = Counter(record.idempotency_key for record in records)
    assert len(per_key) == len(valid), "some row was never recorded"
    assert set(per_key.values()) == {1}, "some row was charged twice"
    assert (counts.rows, counts.recorded, counts.invalid) == (len(rows), len(valid), len(rows) - len(valid))
    assert (counts.failed, counts.unknown, counts.not_sent) == (0, 0, 0)
    assert counts.priced_xusd == sum(record.amount_xusd for record in records)


def _job(tag: str) -> List[Dict[str, Any]]:
    return scale_jobs.rows(tag, ROWS, invalid_every=INVALID_EVERY)


def test_a_bag_over_worker_processes_then_the_same_job_again(emu: Emulator, cluster: Any) -> None:
    rows = _job("dask")
    with emu.service_client() as client:
        parts = bag.from_sequence(rows, npartitions=PARTITIONS)
        started = time.perf_counter()
        first = sum(parts.map_partitions(scale_jobs.ingest, client).compute())
        elapsed = time.perf_counter() - started
        _check_exactly_once(emu, rows, first)
        started = time.perf_counter()
        again = sum(parts.map_partitions(scale_jobs.ingest, client).compute())
        rerun = time.perf_counter() - started
    assert again == first  # answered as recorded (replays), and charged nothing more
    _check_exactly_once(emu, rows, again)
    print(
        f"\ndask: {ROWS} rows over {PARTITIONS} partitions in {elapsed:.1f} s ({ROWS / elapsed:.0f} rows/s); "
        f"the same job again in {rerun:.1f} s, nothing charged twice"
    )


def test_a_worker_killed_mid_partition_is_re_run_without_charging_twice(
    emu: Emulator, cluster: Any, tmp_path: Path
) -> None:
    rows = _job("killed")
    marker = tmp_path / "killed-once"
    workers_before = set(cluster.scheduler_info()["workers"])
    with emu.service_client() as client:
        parts = bag.from_sequence(rows, npartitions=PARTITIONS)
        started = time.perf_counter()
        counts = sum(parts.map_partitions(scale_jobs.ingest_or_die, client, str(marker)).compute())
        elapsed = time.perf_counter() - started
    assert marker.exists(), "no worker was killed"
    assert set(cluster.scheduler_info()["workers"]) != workers_before  # the nanny started a new one
    _check_exactly_once(emu, rows, counts)
    # The killed attempt had sent part of its rows: the re-run replayed them (same keys) instead of charging.
    keys = {scale_jobs.expected_key(row, emu.realm_id) for row in rows}
    replays = [r for r in emu.ledger.requests_to("/mgt/v1/gate/ingest") if r.idempotency_key in keys and r.replayed]
    assert replays, "the re-run partition sent nothing the killed attempt had recorded"
    print(f"\ndask, a worker killed mid-partition: {ROWS} rows in {elapsed:.1f} s, {len(replays)} replays")
