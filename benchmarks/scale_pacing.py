"""Several worker processes against one rate limit: aggregate throughput as a share of the limit, and 429 count.

Figures, not assertions: `python benchmarks/scale_pacing.py [--workers 8 --limit 200 --rows 400]`. The emulator
(in this process) limits ingest with the token bucket of benchmarks/ingest.py (429 + Retry-After: 1 beyond the
rate); a spawn pool of worker processes each ingests its partition with `ingest_partition`, first pacing by the
429s alone, then with `max_rate` = limit / workers. Every row must be recorded exactly once either way.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from ingest import TokenBucket  # noqa: E402 - benchmarks/ingest.py, on the path above

from support import scale_jobs  # noqa: E402
from vluna_client import PartitionCounts, ServiceClient, ingest_partition  # noqa: E402
from vluna_client.testing import Emulator  # noqa: E402


def partition(client: ServiceClient, rows: List[Dict[str, Any]], max_rate: Optional[float]) -> PartitionCounts:
    """One worker's share (a pool function, so it must live at module level)."""
    return ingest_partition(client, rows, max_rate=max_rate)


def measure(emu: Emulator, pool: Any, args: argparse.Namespace, max_rate: Optional[float], tag: str) -> None:
    """One job of `workers` partitions under the limit; prints throughput, 429s and exactness."""
    rows = scale_jobs.rows(tag, args.workers * args.rows)
    parts = [rows[n :: args.workers] for n in range(args.workers)]
    with emu.service_client() as client, TokenBucket(emu, args.limit, latency_ms=0) as bucket:
        started = time.perf_counter()
        counts = sum(pool.starmap(partition, [(client, part, max_rate) for part in parts]), PartitionCounts())
        seconds = time.perf_counter() - started
    keys = {scale_jobs.expected_key(row, emu.realm_id) for row in rows}
    per_key = Counter(r.idempotency_key for r in emu.ledger.ingests() if r.idempotency_key in keys)
    exact = len(per_key) == len(rows) and set(per_key.values()) == {1}
    rate = counts.recorded / seconds
    label = "429 feedback alone" if max_rate is None else f"max_rate={max_rate:g}/worker"
    print(
        f"{args.workers} workers, limit {args.limit:g}/s, {label}: {rate:.0f} rows/s = {rate / args.limit:.0%} of "
        f"the limit, {bucket.refused} answers 429 ({bucket.refused / max(1, len(rows)):.0%} of rows); "
        f"recorded {counts.recorded}/{len(rows)}, failed {counts.failed}, unknown {counts.unknown}; "
        f"exactly once: {'yes' if exact else 'NO'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--limit", type=float, default=200.0, help="ingest requests per second the server allows")
    parser.add_argument("--rows", type=int, default=400, help="rows per worker")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    with Emulator() as emu, context.Pool(args.workers) as pool:
        pool.map(abs, range(args.workers))  # start the workers before timing anything
        for n in range(args.repeat):
            measure(emu, pool, args, None, f"feedback-{n}")
            measure(emu, pool, args, args.limit / args.workers, f"shared-{n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
