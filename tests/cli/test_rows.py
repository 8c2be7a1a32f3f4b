"""The byte-wise row reader: BOMs, CRLF, quoted newlines, huge cells and bad bytes, each handled per record."""

from __future__ import annotations

import io
import json
from typing import Any, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vluna_client.cli._rows import MAX_CELL_BYTES, FileFormatError, RowError, parse_row, read_rows

HEADER = b"event_id,principal_id,user_id,feature_code,quantity_minor"


def read(data: bytes, fmt: str) -> List[Tuple[int, Any]]:
    return list(read_rows(io.BytesIO(data), fmt))


def csv_rows(*lines: bytes, newline: bytes = b"\n") -> bytes:
    return newline.join([HEADER, *lines]) + newline


def good(n: int) -> bytes:
    return f"e{n},org,u,llm.chat,{n}".encode()


def test_a_bom_csv_with_crlf_reads_every_row() -> None:
    data = b"\xef\xbb\xbf" + csv_rows(good(1), good(2), newline=b"\r\n")
    rows = read(data, "csv")
    assert [(line, row["id"], row["quantity_minor"]) for line, row in rows] == [(2, "e1", "1"), (3, "e2", "2")]


def test_a_bom_jsonl_keeps_its_first_row() -> None:
    lines = [
        {"event_id": f"e{n}", "principal_id": "o", "user_id": "u", "feature_code": "f", "quantity_minor": n}
        for n in range(2)
    ]
    data = b"\xef\xbb\xbf" + b"\r\n".join(json.dumps(x).encode() for x in lines) + b"\r\n"
    assert [row["id"] for _, row in read(data, "jsonl")] == ["e0", "e1"]


def test_a_quoted_cell_may_span_lines_and_line_numbers_stay_right() -> None:
    labels = '"{""note"":\r\n ""two, lines""}"'
    data = HEADER + b",labels\n" + good(1) + b"," + labels.encode() + b"\n" + good(2) + b",\n"
    rows = read(data, "csv")
    assert [line for line, _ in rows] == [2, 4]
    assert rows[0][1]["labels"] == {"note": "two, lines"}


def test_a_bad_byte_makes_only_its_record_invalid() -> None:
    data = csv_rows(good(1), b"e2,org,u,llm.\xff\xfechat,2", good(3))
    rows = read(data, "csv")
    assert [line for line, _ in rows] == [2, 3, 4]
    assert isinstance(rows[1][1], RowError)
    assert "not UTF-8" in rows[1][1].reason
    assert rows[1][1].line == 3
    assert rows[2][1]["id"] == "e3"
    jsonl = b'{"event_id": "a"}\n{"event_id": "\xff"}\n'
    assert isinstance(read(jsonl, "jsonl")[1][1], RowError)


def test_a_200_kb_cell_is_read_and_one_over_the_limit_is_that_rows_error() -> None:
    big = "x" * 200_000
    data = HEADER + b",budget_id\n" + good(1) + b"," + big.encode() + b"\n" + good(2) + b",\n"
    rows = read(data, "csv")
    assert rows[0][1]["budget_id"] == big  # the reader keeps it; the client refuses the oversized body later
    huge = b"y" * (MAX_CELL_BYTES + 10)
    data = HEADER + b",budget_id\n" + good(1) + b"," + huge + b"\n" + good(2) + b",\n"
    rows = read(data, "csv")
    assert isinstance(rows[0][1], RowError)
    assert rows[1][1]["id"] == "e2"


def test_a_record_longer_than_the_limit_is_skipped_as_one_error() -> None:
    from vluna_client.cli._rows import MAX_RECORD_BYTES

    line = b'{"event_id": "' + b"z" * (MAX_RECORD_BYTES + 5) + b'"}'
    ok = b'{"event_id": "e", "principal_id": "o", "user_id": "u", "feature_code": "f", "quantity_minor": 1}'
    rows = read(line + b"\n" + ok + b"\n", "jsonl")
    assert [line for line, _ in rows] == [1, 2]
    assert "longer than" in rows[0][1].reason
    assert rows[1][1]["id"] == "e"


def test_an_unclosed_quote_is_reported_where_it_starts() -> None:
    rows = read(csv_rows(good(1), b'e2,org,"u,llm.chat,2', good(3)), "csv")
    assert rows[0][1]["id"] == "e1"
    assert isinstance(rows[1][1], RowError)
    assert rows[1][1].line == 3
    assert "never closed" in rows[1][1].reason


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"quantity_minor": "9" * 5000}, "quantity_minor"),
        ({"quantity_minor": 9007199254740992}, "quantity_minor"),
        ({"quantity_minor": "1.5"}, "quantity_minor"),
        ({"quantity_minor": True}, "quantity_minor"),
        ({"meters": "[" * 5000 + "]" * 5000}, "meters"),
        ({"labels": "{oops"}, "labels"),
        ({"labels": '{"a": 1}'}, "labels"),
        ({"user_id": None}, "user_id"),
        ({"event_id": 10**400}, "event_id"),
        ({"feature_code": ["x"]}, "feature_code"),
    ],
)
def test_parse_row_turns_every_hostile_value_into_a_row_error(cells: Any, field: str) -> None:
    base = {"event_id": "e", "principal_id": "o", "user_id": "u", "feature_code": "f", "quantity_minor": "1"}
    result = parse_row({**base, **cells}, line=7, from_text=True)
    assert isinstance(result, RowError)
    assert (result.line, result.field) == (7, field)


def test_parse_row_gives_the_ingest_row() -> None:
    row = parse_row(
        {"event_id": 7, "principal_id": "o", "user_id": "u", "feature_code": "f", "quantity_minor": 3, "x": 1},
        line=2,
        from_text=False,
    )
    assert row == {"ref": 2, "id": "7", "principal_id": "o", "user_id": "u", "feature_code": "f", "quantity_minor": "3"}


def test_a_header_without_required_columns_or_unreadable_is_a_file_error() -> None:
    with pytest.raises(FileFormatError, match="feature_code, quantity_minor"):
        read(b"event_id,principal_id,user_id\n", "csv")
    with pytest.raises(FileFormatError, match="header"):
        read(b"event_\xffid\n", "csv")
    assert read(b"", "csv") == []


ALPHABET = [
    b"a",
    b"1",
    b",",
    b'"',
    b"\n",
    b"\r\n",
    b"{",
    b"}",
    b"[",
    b"\xff",
    b"\xef\xbb\xbf",
    b"\xc3\xa9",
    b" ",
    b"\\",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(ALPHABET), max_size=80), st.sampled_from(["csv", "jsonl"]))
def test_any_bytes_give_rows_or_row_errors_and_nothing_else(pieces: List[bytes], fmt: str) -> None:
    data = (HEADER + b"\n" if fmt == "csv" else b"") + b"".join(pieces)
    lines = data.count(b"\n") + 1
    previous = 0
    for line, row in read_rows(io.BytesIO(data), fmt):
        assert previous < line <= lines  # in order, each record once, at a real line
        previous = line
        assert isinstance(row, (dict, RowError))
        if isinstance(row, dict):
            assert set(row) >= {"ref", "id", "principal_id", "user_id", "feature_code", "quantity_minor"}
