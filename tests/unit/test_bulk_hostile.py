"""ingest_many never stops for one row: invalid placeholders, refused values, stray exceptions, duplicates, stops."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Optional

import pytest

from support.fake_gate import FakeGate, api_error, rows
from vluna_client import (
    IngestProgress,
    InputValidationError,
    InvalidRequestError,
    InvalidRow,
    OutcomeUnknownError,
    PartitionCounts,
    Result,
)
from vluna_client._generated.models.gate import CommitResponse


def test_an_invalid_placeholder_keeps_its_place_and_nothing_is_sent_for_it() -> None:
    items: List[Any] = list(rows(4))
    items.insert(2, InvalidRow(reason="not valid JSON", ref="line 3", field="meters"))
    gate = FakeGate()
    outcomes = list(gate.ingest_many(items, workers=2))
    assert [o.status for o in outcomes] == ["recorded", "recorded", "invalid", "recorded", "recorded"]
    assert outcomes[2].ref == "line 3"
    assert isinstance(outcomes[2].error, InputValidationError)
    assert outcomes[2].error.field == "meters"
    assert str(outcomes[2].error) == "not valid JSON"
    assert len(gate.calls) == 4


def test_a_value_the_client_refuses_while_encoding_is_invalid_and_the_job_goes_on() -> None:
    refused = InputValidationError("quantity_minor exceeds the bound", field="quantity_minor")
    gate = FakeGate(lambda n, key: refused if n == 5 else None)
    outcomes = list(gate.ingest_many(rows(40), workers=4))
    assert [o.index for o in outcomes] == list(range(40))
    assert outcomes[5].status == "invalid"
    assert outcomes[5].error is refused
    assert sum(o.status == "recorded" for o in outcomes) == 39


@pytest.mark.parametrize("error", [ValueError("too many digits"), RecursionError("deep"), OverflowError("inf")])
def test_a_stray_exception_from_one_row_is_that_rows_unknown_outcome(error: BaseException) -> None:
    gate = FakeGate(lambda n, key: error if n == 3 else None)
    outcomes = list(gate.ingest_many(rows(10), workers=3))
    assert [o.status for o in outcomes].count("recorded") == 9
    unknown = outcomes[3]
    assert unknown.status == "unknown"
    assert isinstance(unknown.error, OutcomeUnknownError)
    assert unknown.error.__cause__ is error
    assert unknown.error.idempotency_key == unknown.idempotency_key is not None


def test_a_server_refusal_is_failed_not_invalid() -> None:
    gate = FakeGate(lambda n, key: api_error(InvalidRequestError, 422) if n == 0 else None)
    assert next(iter(gate.ingest_many(rows(1)))).status == "failed"


def test_dedupe_sends_each_key_once_and_flags_a_conflicting_repeat() -> None:
    items = list(rows(3))
    items.append(dict(items[1]))  # the same event again, same values
    items.append({**items[2], "quantity_minor": 99})  # the same event with another quantity
    gate = FakeGate()
    outcomes = list(gate.ingest_many(items, dedupe=True, workers=2))
    assert [o.status for o in outcomes] == ["recorded", "recorded", "recorded", "duplicate", "invalid"]
    assert outcomes[3].duplicate_of == "e1"
    assert outcomes[3].idempotency_key == outcomes[1].idempotency_key
    assert outcomes[4].error is not None
    assert "different values" in str(outcomes[4].error)
    assert len(gate.calls) == 3
    # Without dedupe the repeats are sent (the server would answer the first as a replay, the second with a 409).
    plain = FakeGate()
    assert [o.status for o in plain.ingest_many(items)].count("recorded") == 5
    assert len(plain.calls) == 5


def test_on_send_comes_before_the_request_and_on_settled_as_soon_as_an_outcome_is_known() -> None:
    announced: List[str] = []
    settled: Dict[int, str] = {}
    early: List[int] = []

    def behaviour(n: int, key: str) -> Optional[BaseException]:
        assert key in announced  # the hook ran before this request left
        return None

    gate = FakeGate(behaviour, delay=lambda n: 0.3 if n == 0 else 0.0)

    def on_settled(outcome: Any) -> None:
        settled[outcome.index] = outcome.status
        if 0 not in settled:
            early.append(outcome.index)

    items: List[Any] = [*rows(6), InvalidRow(reason="bad", ref=6)]
    out = list(
        gate.ingest_many(items, workers=3, on_send=lambda i, ref, key: announced.append(key), on_settled=on_settled)
    )
    assert [o.index for o in out] == list(range(7))  # yielded in order...
    assert early  # ...but settled rows were reported while row 0 was still out
    assert settled == {**{n: "recorded" for n in range(6)}, 6: "invalid"}
    assert len(announced) == 6


def test_a_stop_sends_nothing_more_and_counts_the_rows_in_flight() -> None:
    stop = threading.Event()
    read = [0]

    def source() -> Any:
        for row in rows(10_000):
            read[0] += 1
            yield row

    gate = FakeGate(delay=lambda n: 0.05)
    outcomes = []
    for outcome in gate.ingest_many(source(), workers=4, stop=stop):
        outcomes.append(outcome)
        if len(outcomes) == 10:
            stop.set()
    statuses = [o.status for o in outcomes]
    # Every row that was read has an outcome; the ones in flight at the stop finished and were counted as recorded.
    assert len(outcomes) == read[0] < 100
    assert statuses.count("recorded") == len(gate.calls)
    assert set(statuses) <= {"recorded", "not_sent"}
    assert [o.index for o in outcomes] == list(range(len(outcomes)))


def test_rows_still_in_flight_after_the_stop_grace_are_unknown() -> None:
    stop = threading.Event()
    release = threading.Event()
    gate = FakeGate(lambda n, key: (release.wait(5), None)[1] if n == 2 else None)
    outcomes = []
    started = time.monotonic()
    try:
        for outcome in gate.ingest_many(rows(3), workers=3, stop=stop, stop_grace=0.2):
            outcomes.append(outcome)
            stop.set()
    finally:
        release.set()
    assert time.monotonic() - started < 3
    assert [o.status for o in outcomes] == ["recorded", "recorded", "unknown"]
    assert isinstance(outcomes[2].error, OutcomeUnknownError)


@pytest.mark.parametrize("grace", [-1, float("inf"), float("nan"), True, "5"])
def test_a_bad_stop_grace_is_refused(grace: Any) -> None:
    with pytest.raises(InputValidationError):
        FakeGate().ingest_many(rows(1), stop_grace=grace)


def test_dedupe_with_line_refs_and_other_refs_alike() -> None:
    items: List[Any] = [
        {"id": "a", "principal_id": "o", "user_id": "u", "feature_code": "f", "quantity_minor": 1, "ref": 2},
        {"id": "b", "principal_id": "o", "user_id": "u", "feature_code": "f", "quantity_minor": 1, "ref": "x"},
        {"id": "a", "principal_id": "o", "user_id": "u", "feature_code": "f", "quantity_minor": 1, "ref": 9},
        {"id": "b", "principal_id": "o", "user_id": "u", "feature_code": "f", "quantity_minor": 1, "ref": 10},
        {"id": "a", "principal_id": "o", "user_id": "u", "feature_code": "f", "quantity_minor": 2, "ref": 11},
    ]
    outcomes = list(FakeGate().ingest_many(items, dedupe=True))
    assert [(o.status, o.duplicate_of) for o in outcomes] == [
        ("recorded", None),
        ("recorded", None),
        ("duplicate", 2),
        ("duplicate", "x"),
        ("invalid", None),
    ]
    assert "row 2" in str(outcomes[4].error)


GARBLED_AMOUNTS = ["--5", "\u00b2", "9" * 50, "12\n", " 7", "", "-3", "40"]


class GarbledAmountGate(FakeGate):
    """Records every row, answering amounts that are no integer string (except the last two)."""

    def ingest(self, **kwargs: Any) -> Result[CommitResponse]:
        answered = super().ingest(**kwargs)
        amount = GARBLED_AMOUNTS[int(kwargs["quantity_minor"])]
        return Result(data=CommitResponse(amount_xusd=amount), idempotency_key=answered.idempotency_key)


def test_a_priced_amount_that_is_no_integer_counts_as_zero_and_the_job_goes_on() -> None:
    seen: List[IngestProgress] = []
    outcomes = list(GarbledAmountGate().ingest_many(rows(len(GARBLED_AMOUNTS)), on_progress=seen.append))
    assert [o.status for o in outcomes] == ["recorded"] * len(GARBLED_AMOUNTS)
    assert seen[-1].priced_xusd == 37
    assert PartitionCounts.of(outcomes).priced_xusd == 37
