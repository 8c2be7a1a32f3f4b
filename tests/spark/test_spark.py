"""The partition-ingest recipe on PySpark in local mode: every row charged once, also when a Python worker dies.

Runs in ``nox -s spark`` (it needs PySpark and a Java runtime); elsewhere it is skipped.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from support import scale_jobs
from vluna_client import PartitionCounts, ingest_partition
from vluna_client.testing import Emulator

if shutil.which("java") is None:
    pytest.skip("PySpark needs a Java runtime (run `nox -s spark`)", allow_module_level=True)
pyspark_sql = pytest.importorskip("pyspark.sql", reason="PySpark is not installed (run `nox -s spark`)")

ROWS = int(os.environ.get("VLUNA_SCALE_ROWS", "2400"))
PARTITIONS = 8


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    # local[2,4]: two task threads, and a failed task is tried up to 4 times (local mode's default is once).
    session = (
        pyspark_sql.SparkSession.builder.master("local[2,4]")
        .appName("vluna-scale-test")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def _check(emu: Emulator, rows: List[Dict[str, Any]], counts: PartitionCounts) -> None:
    valid = [row for row in rows if scale_jobs.valid(row)]
    keys = {scale_jobs.expected_key(row, emu.realm_id) for row in valid}
    records = [r for r in emu.ledger.ingests() if r.idempotency_key in keys]
    per_key = Counter(r.idempotency_key for r in records)
    assert len(per_key) == len(valid), "some row was never recorded"
    assert set(per_key.values()) == {1}, "some row was charged twice"
    assert (counts.rows, counts.recorded, counts.invalid) == (len(rows), len(valid), len(rows) - len(valid))
    assert counts.settled
    assert counts.priced_xusd == sum(r.amount_xusd for r in records)


def test_map_partitions_over_a_dataframe_then_foreach_partition_again(emu: Emulator, spark: Any) -> None:
    rows = scale_jobs.rows("spark", ROWS, invalid_every=600)
    frame = spark.createDataFrame(rows).repartition(PARTITIONS)
    with emu.service_client() as client:
        counts = sum(
            frame.rdd.mapPartitions(lambda part: [ingest_partition(client, (row.asDict() for row in part))]).collect()
        )
        _check(emu, rows, counts)
        before = len(emu.ledger.ingests())
        # The whole job again, as a job that needs no counts back would send it: nothing more is charged.
        frame.foreachPartition(lambda part: ingest_partition(client, (row.asDict() for row in part)))
    assert len(emu.ledger.ingests()) == before


def test_a_python_worker_killed_mid_partition_is_retried_without_charging_twice(
    emu: Emulator, spark: Any, tmp_path: Path
) -> None:
    rows = scale_jobs.rows("spark-killed", ROWS, invalid_every=600)
    marker = str(tmp_path / "killed-once")
    with emu.service_client() as client:
        rdd = spark.sparkContext.parallelize(rows, PARTITIONS)
        counts = sum(rdd.mapPartitions(lambda part: scale_jobs.ingest_or_die(part, client, marker)).collect())
    assert Path(marker).exists(), "no worker was killed"
    _check(emu, rows, counts)
