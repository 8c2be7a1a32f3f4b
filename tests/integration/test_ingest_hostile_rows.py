"""ingest_many against the emulator: hostile values among real rows cost only their own rows."""

from __future__ import annotations

from typing import Any, Dict, List

from vluna_client import InputValidationError
from vluna_client.testing import Emulator


def test_hostile_values_among_real_rows_cost_only_their_rows() -> None:
    nested: Dict[str, Any] = {}
    inner = nested
    for _ in range(4000):
        inner["x"] = {}
        inner = inner["x"]
    items: List[Dict[str, Any]] = [
        {"id": f"e{n}", "principal_id": "o", "user_id": "u", "feature_code": "llm.chat", "quantity_minor": n}
        for n in range(40)
    ]
    items[7]["quantity_minor"] = "9" * 5000
    items[9]["meters"] = [{"meter_code": "llm.chat", "quantity_minor": "1", "metadata": nested}]
    items[11]["feature_code"] = "llm\ud800chat"
    with Emulator() as emu, emu.service_client() as client:
        outcomes = list(client.gate.ingest_many(items, workers=4))
        recorded = len(emu.ledger.ingests())
    assert [o.index for o in outcomes if o.status == "invalid"] == [7, 9, 11]
    assert all(isinstance(outcomes[i].error, InputValidationError) for i in (7, 9, 11))
    assert sum(o.status == "recorded" for o in outcomes) == recorded == 37
