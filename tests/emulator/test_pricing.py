"""Per-meter pricing computed like the server: meter prices, block sizes, rounding modes, residual carry."""

from __future__ import annotations

from typing import Any, Iterator, List

import pytest

from support.bindings import Who
from vluna_client.testing import Emulator

WHO: Who = {"principal_id": "org_price", "user_id": "u_price"}


@pytest.fixture
def client(emu: Emulator) -> Iterator[Any]:
    with emu.service_client() as service:
        yield service.bind(**WHO)


def commit(client: Any, feature: str, meters: List[Any], quantity: int = 1) -> Any:
    lease = client.gate.authorize(feature_code=feature).data
    token = lease.lease_token
    return client.gate.commit(lease_token=token, feature_code=feature, quantity_minor=quantity, meters=meters)


def test_input_and_output_meters_are_priced_each_at_their_own_price(emu: Emulator, client: Any) -> None:
    # The case: the server prices 10 input + 20 output at 130 xusd (3 and 5 per unit), not at one price.
    emu.set_feature(
        "llm.chat",
        {
            "llm.chat": {"unit_price_xusd": 2, "unit_cost_xusd": 1},
            "llm.chat.in": {"unit_price_xusd": 3, "unit_cost_xusd": 1},
            "llm.chat.out": {"unit_price_xusd": 5, "unit_cost_xusd": 2},
        },
    )
    result = commit(
        client,
        "llm.chat",
        [{"meter_code": "llm.chat.in", "quantity_minor": 10}, {"meter_code": "llm.chat.out", "quantity_minor": 20}],
        quantity=30,
    ).data
    assert (result.amount_xusd, result.cost_xusd) == ("130", "50")
    assert [(line.meter_code, line.amount_xusd, line.cost_xusd) for line in result.lines] == [
        ("llm.chat.in", "30", "10"),
        ("llm.chat.out", "100", "40"),
    ]
    # Without meters the feature's own meter is charged.
    plain = commit(client, "llm.chat", [], quantity=7).data
    assert [(line.meter_code, line.amount_xusd) for line in plain.lines] == [("llm.chat", "14")]


def test_constructor_takes_features_with_meter_prices() -> None:
    spec = {"llm.embed": {"llm.embed.tokens": {"unit_price_xusd": 4, "unit_quantity_minor": 1000, "rounding": "ceil"}}}
    with Emulator(features=spec) as emu, emu.service_client() as service:
        gate = service.bind(**WHO)
        lines = commit(gate, "llm.embed", [{"meter_code": "llm.embed.tokens", "quantity_minor": 1001}]).data.lines
        assert [(line.amount_xusd, line.pricing_snapshot.unit_quantity_minor) for line in lines] == [("8", "1000")]
        assert lines[0].pricing_snapshot.rounding == "ceil"


@pytest.mark.parametrize(
    ("rounding", "quantities", "amounts"),
    [
        # floor: the uncharged rest is carried to the next commit (300 + 800 = 1100 -> 1 block, 100 carried).
        ("floor", [300, 800, 900], ["0", "10", "10"]),
        # nearest: half a block or more rounds up and clears the rest; less is carried.
        ("nearest", [300, 500, 1600], ["0", "10", "20"]),
        # ceil: every started block is charged, nothing is carried.
        ("ceil", [300, 800, 900], ["10", "10", "10"]),
    ],
)
def test_block_rounding_and_residual_carry(
    emu: Emulator, client: Any, rounding: str, quantities: List[int], amounts: List[str]
) -> None:
    emu.set_feature("img.gen", {"img.gen.px": None})
    emu.set_price("img.gen.px", 10, unit_quantity_minor=1000, rounding=rounding)
    got = [
        commit(client, "img.gen", [{"meter_code": "img.gen.px", "quantity_minor": q}]).data.amount_xusd
        for q in quantities
    ]
    assert got == amounts


def test_prepaid_residual_mode_charges_started_blocks_and_uses_their_rest(emu: Emulator, client: Any) -> None:
    emu.set_feature("img.gen", {"img.gen.px": None})
    emu.set_price("img.gen.px", 10, unit_quantity_minor=1000, residual_mode="prepaid")
    got = [
        commit(client, "img.gen", [{"meter_code": "img.gen.px", "quantity_minor": q}]).data.amount_xusd
        for q in (300, 600, 200, 1000)
    ]
    # 300 starts a block (700 left), 600 fits in it (100 left), 200 starts another (900 left), 1000 uses 900 + 1.
    assert got == ["10", "0", "10", "10"]


def test_an_unpriced_meter_quarantines_the_commit(emu: Emulator, client: Any) -> None:
    emu.set_feature("llm.chat", {"llm.chat.in": 3, "llm.chat.out": None})
    result = commit(
        client,
        "llm.chat",
        [{"meter_code": "llm.chat.in", "quantity_minor": 10}, {"meter_code": "llm.chat.out", "quantity_minor": 20}],
    )
    assert result.data.amount_xusd == "30"
    missing = [h for h in result.hints if h.type == "pricing.not_configured"]
    assert [dict(h.fields) for h in missing] == [{"feature_code": "llm.chat", "meters": ["llm.chat.out"]}]
    out = result.data.lines[1].pricing_snapshot
    assert (out.unit_price_xusd, out.provenance.source) == ("0", "missing")
    (record,) = emu.ledger.commits()
    assert (record.application_status, record.applied_amount_xusd) == ("quarantined", 0)


def test_without_a_default_price_unconfigured_meters_are_unpriced() -> None:
    with Emulator(price_per_unit_xusd=None) as emu, emu.service_client() as service:
        gate = service.bind(**WHO)
        result = commit(gate, "llm.chat", [], quantity=5)
        assert result.data.amount_xusd == "0"
        assert [h.type for h in result.hints] == ["pricing.not_configured"]


def test_meters_view_shows_block_size_rounding_and_coverage(emu: Emulator, client: Any) -> None:
    emu.set_feature("img.gen", {"img.gen.px": None})
    emu.set_price("img.gen.px", 10, unit_quantity_minor=1000, rounding="floor")
    emu.set_wallet_balance(WHO["principal_id"], 25)
    (meter,) = client.gate.meters(expand=["pricing", "coverage"]).data
    assert (meter.pricing.unit_price_xusd, meter.pricing.unit_quantity_minor, meter.pricing.rounding) == (
        "10",
        "1000",
        "floor",
    )
    assert meter.coverage.max_quantity_minor_estimated == "2000"


def test_a_meter_mapping_must_not_be_a_string(emu: Emulator) -> None:
    with pytest.raises(TypeError):
        emu.set_features({"llm.chat": "llm.chat.in"})
    with pytest.raises(ValueError):
        emu.set_price("llm.chat.in", 3, rounding="up")
    with pytest.raises(ValueError):
        emu.set_price("llm.chat.in", -1)
