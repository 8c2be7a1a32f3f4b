"""Every operation of the specs answers the real clients, and every answer decodes into its generated model."""

from __future__ import annotations

from typing import Any, Iterator, List, Tuple

import pytest

import vluna_client
from support.operation_calls import Row, operation_of, rows, spec_of
from support.operation_walk import Walk, create_rank
from vluna_client.testing import Emulator


def _phase(row: Row) -> Tuple[int, int, str]:
    spec = spec_of(row)
    if spec["kind"] in ("create", "create_many"):
        return create_rank(spec["family"]), 0, row[6]
    if spec["kind"] == "delete":
        return 6, -row[6].count("/"), row[6]  # sub-resources before their parents
    if spec.get("verb_status") in ("revoked", "closed", "disabled"):
        return 5, 0, row[6]  # after everything that still needs the resource usable
    return 4, 0, row[6]


@pytest.fixture
def walk(emu: Emulator) -> Iterator[Walk]:
    walker = Walk(emu)
    try:
        yield walker
    finally:
        walker.close()


def _decoded(result: Any, op: Any) -> bool:
    data = result.data
    if op.pagination in ("meta", "items"):
        return isinstance(result, vluna_client.Page) and all(isinstance(item, op.result_type) for item in data)
    result_type = getattr(op.result_type, "__origin__", op.result_type)
    if isinstance(result_type, type):
        return isinstance(data, result_type)
    return data is not None or result_type is Any


def test_every_served_operation_answers_and_decodes(emu: Emulator, walk: Walk) -> None:
    served = [row for row in rows() if not operation_of(row).not_served]
    answered: List[str] = []
    for row in sorted(served, key=_phase):
        result = walk.call(row)
        op = operation_of(row)
        assert isinstance(result, vluna_client.Result), row
        assert _decoded(result, op), (row, type(result.data))
        answered.append(f"{row[0]} {op.name}")
    assert len(answered) == len(served) >= 130
    statuses = {(r.method, r.path.split("/")[1]) for r in emu.ledger.requests if not 200 <= r.status < 300}
    assert statuses == set(), statuses


@pytest.mark.parametrize("row", [row for row in rows() if operation_of(row).not_served], ids=lambda row: row[6])
def test_operations_the_server_does_not_serve_answer_404(emu: Emulator, walk: Walk, row: Row) -> None:
    with pytest.raises(vluna_client.NotFoundError) as caught:
        walk.call(row)
    assert caught.value.code == "RESOURCE.NOT_FOUND"
    assert caught.value.message.startswith(f"Cannot {row[5]} ")
