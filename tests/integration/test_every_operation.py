"""Every operation of the specs answers the real clients, and every answer decodes into its generated model."""

from __future__ import annotations

import re
import uuid
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

import vluna_client
from vluna_client.testing import Emulator
from vluna_op_calls import SCHEMAS, SPEC, Examples, Row, call_with, operation_of, rows, spec_of

pytestmark = pytest.mark.integration

ORG, USER = "org_walk", "user_walk"
WHO = {"principal_id": ORG, "user_id": USER}


def _family_of_param(path: str, param: str) -> str:
    stripped = re.sub(r"^/(mgt|api)/v1", "", path)
    return stripped[: stripped.index("{" + param + "}") + len(param) + 2]


def _phase(row: Row) -> Tuple[int, str]:
    spec = spec_of(row)
    if spec["kind"] in ("create", "create_many"):
        return 0, row[6]
    if spec["kind"] == "delete":
        return 3, row[6]
    if spec.get("verb_status") in ("revoked", "closed", "disabled"):
        return 2, row[6]  # after everything that still needs the resource usable
    return 1, row[6]


class Walk:
    """Calls operations in dependency order, remembering created ids by family."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.service = emu.service_client(retry=vluna_client.NO_RETRIES)
        self.bearer = emu.bearer_client(emu.issue_token(ORG, USER), retry=vluna_client.NO_RETRIES)
        known = dict(emu.billing_ids(ORG, USER))
        self.examples = Examples(known)
        self.ids: Dict[str, Any] = {
            "/billing-accounts/{billing_account_id}": known["billing_account_id"],
            "/billing-users/{billing_user_id}": known["billing_user_id"],
        }
        self.bootstrap_token: Optional[str] = None
        self.leases = [self.service.gate.authorize(feature_code="llm.chat", **WHO).data for _ in range(2)]

    def close(self) -> None:
        self.service.close()
        self.bearer.close()

    def path_values(self, row: Row) -> Dict[str, Any]:
        values = {}
        for param in operation_of(row).path_params:
            if operation_of(row).not_served:
                values[param] = str(uuid.uuid4())
                continue
            family = _family_of_param(row[6], param)
            if family not in self.ids:
                lists = [s for s in SPEC.values() if s["kind"] == "list" and s["family"] == family]
                assert lists, f"nothing creates or lists {family}"
                self.ids[family] = self.emu.seed(lists[0]["path"], principal_id=ORG)[param]
            values[param] = self.ids[family]
        return values

    def additions(self, row: Row) -> Dict[str, Any]:
        path = row[6]
        spec = spec_of(row)
        if spec["kind"] == "create_many":
            item_schema = SCHEMAS[spec["body"]["$ref"]]["properties"]["items"]["items"]
            return {"items": [self.examples.value(item_schema, "item")]}
        if spec["auth"] == "bootstrap":
            return {"bearer_token": self.bootstrap_token}
        if path == "/mgt/v1/gate/commits":
            return {"lease_token": self.leases[0].lease_token, "feature_code": "llm.chat", "quantity_minor": 1}
        if path == "/mgt/v1/gate/cancel":
            return {"lease_token": self.leases[1].lease_token}
        if path == "/mgt/v1/gate/ingest":
            return {"feature_code": "llm.chat", "quantity_minor": 1}
        return {}

    def call(self, row: Row) -> Any:
        client = self.service if row[0] == "service" else self.bearer
        method = getattr(getattr(client, row[1]), row[2])
        result = call_with(
            method, row, self.examples, path_values=self.path_values(row), bindings=WHO, extra=self.additions(row)
        )
        spec = spec_of(row)
        if spec["kind"] == "create" and spec["id_field"]:
            self.ids[spec["family"]] = getattr(result.data, spec["id_field"])
        if spec["kind"] == "create_many":
            self.ids[spec["family"]] = getattr(result.data.items[0], spec["id_field"])
        if row[6] == "/mgt/v1/dat/bootstrap-tokens" and row[5] == "POST":
            self.bootstrap_token = result.data.token
        return result


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
