"""Lease.open() / Lease.close(): a lease settled outside a `with` block, and the meters' sum guard."""

from __future__ import annotations

import pytest

from vluna_client import InputValidationError
from vluna_client.contrib.llm import _check_meters


def test_open_commit_close_charges_once_and_close_is_idempotent(vc, emu):
    lease = vc.lease(feature_code="llm.chat", principal_id="org_1", user_id="u_1")
    lease.close()  # never opened: nothing to do
    assert emu.ledger.leases() == []
    assert lease.open() is lease
    lease.commit(quantity_minor=5, meters=[{"meter_code": "llm.chat.input", "quantity_minor": 5}])
    lease.close()
    lease.close()
    assert [x.state for x in emu.ledger.leases()] == ["committed"]
    assert emu.ledger.cancels() == []


def test_close_without_commit_cancels(vc, emu):
    lease = vc.lease(feature_code="llm.chat", principal_id="org_1", user_id="u_1").open()
    lease.close(RuntimeError("the stream failed"))
    assert lease.state == "cancelled"
    assert [x.state for x in emu.ledger.leases()] == ["cancelled"]


def test_quantity_must_match_the_meters():
    _check_meters(7, [{"meter_code": "a", "quantity_minor": 3}, {"meter_code": "b", "quantity_minor": 4}])
    with pytest.raises(InputValidationError, match="differs from the meters' sum"):
        _check_meters(8, [{"meter_code": "a", "quantity_minor": 3}, {"meter_code": "b", "quantity_minor": 4}])
