"""The server's arithmetic for meter prices: how a price row is completed, and how quantities become blocks.

A meter price charges ``unit_price_xusd`` per block of ``unit_quantity_minor`` meter units, rounded by ``rounding``
(``floor``, ``nearest`` or ``ceil``); the cost side has its own block size and rounding. In the default (postpaid)
residual mode the part of a quantity that rounding left uncharged is carried to the user's next commit on the same
price; in the ``prepaid`` residual mode a started block is charged at once and its unused rest is used up first
next time.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Mapping, Optional, Tuple

from .._jsutil import js_number, parse_js_date
from .._state import Price

__all__ = ["ROUNDING_MODES", "blocks_postpaid", "blocks_prepaid", "price_from_fields", "worst_case_blocks"]

ROUNDING_MODES = ("floor", "nearest", "ceil")


def _to_int(value: Any, fallback: Optional[int]) -> Optional[int]:
    # JavaScript's Math.trunc(Number(value)), with the fallback for absent or non-finite values.
    if value is None:
        return fallback
    number = js_number(value)
    if number is None or not math.isfinite(number):
        return fallback
    return math.trunc(number)


def _rounding(value: Any, field: str) -> Optional[str]:
    if value is None:
        return None
    if value not in ROUNDING_MODES:
        raise ValueError(f"{field} must be one of floor, nearest, ceil")
    return str(value)


def price_from_fields(fields: Mapping[str, Any], now: datetime) -> Price:
    """Complete a ``meter_prices`` object the way the server stores it.

    Missing block sizes default to each other and then to 1, missing roundings to each other and then to
    ``nearest``; the cost defaults to 0 and a missing price to base + dynamic, where the base defaults to the cost.

    Raises:
        ValueError: a negative price or cost, a block size below 1, or an unknown rounding mode.
    """
    unit_qty = _to_int(fields.get("unit_quantity_minor"), None)
    cost_qty = _to_int(fields.get("cost_unit_quantity_minor"), None)
    rounding = _rounding(fields.get("rounding"), "rounding")
    cost_rounding = _rounding(fields.get("cost_rounding"), "cost_rounding")
    resolved_qty = unit_qty if unit_qty is not None else (cost_qty if cost_qty is not None else 1)
    resolved_cost_qty = cost_qty if cost_qty is not None else resolved_qty
    resolved_rounding = rounding or cost_rounding or "nearest"
    resolved_cost_rounding = cost_rounding or resolved_rounding
    unit_cost = _to_int(fields.get("unit_cost_xusd"), 0) or 0
    base_given = fields.get("unit_price_base_xusd")
    dynamic_given = fields.get("unit_price_dynamic_xusd")
    price_given = fields.get("unit_price_xusd")
    dynamic = _to_int(dynamic_given, 0) or 0
    inferred_base = _to_int(base_given, 0) if base_given is not None else unit_cost
    inferred_price = _to_int(price_given, (inferred_base or 0) + dynamic)
    base = _to_int(base_given, inferred_base) if base_given is not None else max((inferred_price or 0) - dynamic, 0)
    price = _to_int(price_given, (base or 0) + dynamic)
    effective_raw = fields.get("effective_at")
    effective_at = now
    if isinstance(effective_raw, datetime):
        effective_at = effective_raw
    elif isinstance(effective_raw, str) and effective_raw:
        effective_at = parse_js_date(effective_raw) or now
    result = Price(
        unit_price_xusd=int(price or 0),
        unit_cost_xusd=int(unit_cost),
        effective_at=effective_at,
        unit_quantity_minor=int(resolved_qty),
        rounding=resolved_rounding,
        cost_unit_quantity_minor=int(resolved_cost_qty),
        cost_rounding=resolved_cost_rounding,
        unit_price_base_xusd=int(base or 0),
        unit_price_dynamic_xusd=int(dynamic),
        residual_mode="prepaid" if str(fields.get("residual_mode", "")).lower() == "prepaid" else "postpaid",
    )
    check_price(result)
    return result


def check_price(price: Price) -> None:
    """The server's sanity checks on a price row (it answers 500 ``SERVER.CONFIG`` when one fails)."""
    if price.unit_price_xusd < 0 or price.unit_price_base_xusd < 0 or price.unit_cost_xusd < 0:
        raise ValueError("prices and costs must be non-negative")
    if price.unit_quantity_minor < 1 or price.cost_unit_quantity_minor < 1:
        raise ValueError("unit_quantity_minor and cost_unit_quantity_minor must be >= 1")
    if price.rounding not in ROUNDING_MODES or price.cost_rounding not in ROUNDING_MODES:
        raise ValueError("rounding must be one of floor, nearest, ceil")


def blocks_postpaid(quantity: int, denom: int, rounding: str, carried: int) -> Tuple[int, int]:
    """``(blocks charged, remainder carried on)`` for ``quantity`` plus what earlier commits left uncharged."""
    if denom <= 1:
        return quantity, 0
    carried = max(0, carried)
    if carried >= denom:
        carried %= denom
    whole, rest = divmod(carried + quantity, denom)
    if rounding == "ceil":
        return (whole + 1 if rest > 0 else whole), 0
    if rounding == "nearest":
        return (whole + 1, 0) if rest * 2 >= denom else (whole, rest)
    return whole, rest


def blocks_prepaid(quantity: int, denom: int, prepaid: int) -> Tuple[int, int]:
    """``(blocks charged, units already paid for)``: the prepaid rest is used first, new blocks are started whole."""
    prepaid = max(0, prepaid)
    if quantity <= 0:
        return 0, prepaid
    if denom > 1 and prepaid >= denom:
        prepaid %= denom
    if prepaid >= quantity:
        return 0, prepaid - quantity
    remaining = quantity - prepaid
    if denom <= 1:
        return remaining, 0
    blocks = -(-remaining // denom)
    return blocks, blocks * denom - remaining


def worst_case_blocks(quantity: int, denom: int) -> int:
    """Blocks an estimate may cost at most (every started block charged), as authorize computes it."""
    quantity = max(0, quantity)
    return quantity if denom <= 1 else -(-quantity // denom)
