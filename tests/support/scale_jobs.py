"""Work that the scale-out tests send to other processes (spawn pools, Dask and Spark workers).

It lives in an importable module, as a user's job would, so that workers load these functions by name; nothing
here may depend on pytest. Rows use the columns of a ``vluna usage ingest`` file.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional

import vluna_client
from vluna_client import PartitionCounts, ServiceClient, ingest_partition
from vluna_client._bulk import DEFAULT_NAMESPACE

FEATURE = "scale.ingest"
PRINCIPAL = "org_scale"


def rows(tag: str, count: int, *, users: int = 25, invalid_every: int = 0) -> List[Dict[str, Any]]:
    """``count`` usage rows with event ids unique to ``tag``; every ``invalid_every``-th one has a bad quantity."""
    out: List[Dict[str, Any]] = []
    for n in range(count):
        bad = invalid_every and n % invalid_every == invalid_every - 1
        out.append(
            {
                "event_id": f"{tag}-{n}",
                "principal_id": PRINCIPAL,
                "user_id": f"user_{n % users}",
                "feature_code": FEATURE,
                "quantity_minor": "-3" if bad else str(1 + n % 97),
            }
        )
    return out


def expected_key(row: Dict[str, Any], realm_id: str) -> str:
    """The Idempotency-Key a row is sent with (the default keys of ingest_many and the CLI)."""
    return vluna_client.idempotency_key(
        DEFAULT_NAMESPACE, row["principal_id"], row["user_id"], row["event_id"], realm_id=realm_id
    )


def valid(row: Dict[str, Any]) -> bool:
    """Whether the row is one that ``rows`` made good."""
    return not str(row["quantity_minor"]).startswith("-")


def ingest(part: Iterable[Dict[str, Any]], client: ServiceClient) -> List[PartitionCounts]:
    """A partition function (Dask's ``map_partitions``, Spark's ``mapPartitions``): its counts, as a list of one."""
    return [ingest_partition(client, part)]


def ingest_chunk(client: ServiceClient, part: List[Dict[str, Any]]) -> PartitionCounts:
    """A multiprocessing pool function: one chunk's counts."""
    return ingest_partition(client, part)


def _die_halfway(part: Iterable[Dict[str, Any]], marker: Path) -> Iterator[Dict[str, Any]]:
    """Yield the rows; halfway through, on the first attempt only, kill this process (as an OOM killer would)."""
    items = list(part)
    for index, row in enumerate(items):
        if index == len(items) // 2 and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        yield row


def ingest_or_die(part: Iterable[Dict[str, Any]], client: ServiceClient, marker: str) -> List[PartitionCounts]:
    """Like :func:`ingest`, but the first attempt's worker dies halfway through the partition (rows in flight)."""
    return [ingest_partition(client, _die_halfway(part, Path(marker)))]


def health_in_child(client: ServiceClient) -> Dict[str, Optional[str]]:
    """Calls made by a client that arrived by pickling: health, and one ingest under a fixed key."""
    status = client.health().data.status
    result = client.gate.ingest(
        feature_code=FEATURE,
        quantity_minor="7",
        principal_id=PRINCIPAL,
        user_id="user_child",
        idempotency_key=f"child-{os.getpid()}",
    )
    return {"pid": str(os.getpid()), "status": str(status), "amount": result.data.amount_xusd}
