"""PySpark local mode: rows/s of the partition-ingest recipe by partition count, and whether each row was charged once.

Figures, not assertions (the tests in tests/spark assert): run with `nox -s spark` or `python
benchmarks/spark_ingest.py --rows 20000`. The emulator runs in this process; Spark's Python workers send to it.
Each measurement uses fresh event ids, then the same job runs again and must charge nothing more.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support import scale_jobs
from vluna_client import PartitionCounts, ingest_partition
from vluna_client.testing import Emulator


def charged(emu: Emulator, rows: List[Dict[str, Any]]) -> Counter[str]:
    """Ledger records per row key (exactly once: every value is 1, one per valid row)."""
    keys = {scale_jobs.expected_key(row, emu.realm_id) for row in rows}
    return Counter(r.idempotency_key for r in emu.ledger.ingests() if r.idempotency_key in keys)


def run(spark: Any, client: Any, rows: List[Dict[str, Any]], partitions: int) -> tuple[PartitionCounts, float]:
    """One job: mapPartitions over an RDD of the rows; the summed counts and the seconds it took."""
    rdd = spark.sparkContext.parallelize(rows, partitions).cache()
    rdd.count()  # materialise the input first, so the figure is the ingest alone
    started = time.perf_counter()
    counts = sum(rdd.mapPartitions(lambda part: [ingest_partition(client, part)]).collect(), PartitionCounts())
    return counts, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", default="1,2,4,8,16")
    args = parser.parse_args()

    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(args.master)
        .appName("vluna-spark-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        with Emulator() as emu, emu.service_client() as client:
            run(spark, client, scale_jobs.rows("warm", 200), 2)  # JVM, workers and emulator warm-up
            print(f"spark {spark.version}, master {args.master}, {args.rows} rows per job")
            for partitions in (int(p) for p in args.partitions.split(",")):
                rows = scale_jobs.rows(f"bench-{partitions}", args.rows)
                counts, seconds = run(spark, client, rows, partitions)
                again, again_seconds = run(spark, client, rows, partitions)
                per_key = charged(emu, rows)
                exact = len(per_key) == len(rows) and set(per_key.values()) == {1}
                print(
                    f"partitions {partitions:>2}: {args.rows / seconds:6.0f} rows/s ({seconds:.1f} s); "
                    f"recorded {counts.recorded}, ledger {sum(per_key.values())} records for {len(per_key)} keys; "
                    f"re-run {args.rows / again_seconds:.0f} rows/s, recorded {again.recorded}, charged again "
                    f"{sum(per_key.values()) - len(per_key)}; exactly once: {'yes' if exact else 'NO'}"
                )
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
