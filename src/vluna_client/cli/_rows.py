"""Reading usage rows from CSV or JSON Lines bytes, one record at a time, with the line each record starts on.

The reader works on bytes, so one malformed record never ends the file: a byte that is not UTF-8, a cell larger than
:data:`MAX_CELL_BYTES`, JSON nested too deeply or a number with thousands of digits make *that* record a
:class:`RowError` (with its line number) and the next record is read as usual. A UTF-8 byte-order mark at the start
(what spreadsheet "CSV UTF-8" exports write) is dropped, CRLF line ends are accepted, and quoted CSV cells may span
lines.

:func:`parse_row` turns one record's cells into the mapping ``ingest_many`` takes, or a :class:`RowError`; other
readers of usage files (partitioned ingest) reuse it, so every reader refuses the same rows for the same reasons.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from typing import IO, Any, Optional, Union

import attrs

from .._validation import MAX_SAFE_INTEGER

REQUIRED = ("event_id", "principal_id", "user_id", "feature_code", "quantity_minor")
OPTIONAL = ("meters", "labels", "occurred_at", "budget_id")
MAX_CELL_BYTES = 8 * 1024 * 1024
"""The largest cell the reader takes (8 MiB); a record may hold a few of them (see :data:`MAX_RECORD_BYTES`)."""
MAX_RECORD_BYTES = 2 * MAX_CELL_BYTES + 1024 * 1024
"""The largest record (a CSV row or a JSON line) the reader holds in memory; a longer one is skipped as invalid."""

_INTEGER = re.compile(r"[0-9]+")
_BOM = b"\xef\xbb\xbf"
_QUOTE = 0x22
_MAX_DIGITS = len(str(MAX_SAFE_INTEGER))

Row = Union[dict[str, Any], "RowError"]


@attrs.frozen
class RowError:
    """A record that cannot become a usage row; nothing is sent for it.

    Attributes:
        line: 1-based line number in the input where the record starts.
        event_id: The row's event id, when it could be read.
        reason: What is wrong, in one line.
        field: The column at fault, when one is.
    """

    line: int
    event_id: Optional[str]
    reason: str
    field: Optional[str] = None


class FileFormatError(ValueError):
    """The input as a whole is unusable (e.g. a CSV header without a required column)."""


def detect_format(name: str, explicit: Optional[str]) -> str:
    """``csv`` or ``jsonl`` from ``--format`` or the file name (stdin needs ``--format``, default ``jsonl``)."""
    if explicit:
        return explicit
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name == "-":
        return "jsonl"
    raise FileFormatError(f"cannot tell the format of {name!r} from its name: pass --format csv or --format jsonl")


def read_rows(stream: IO[bytes], fmt: str) -> Iterator[tuple[int, Row]]:
    """Yield ``(line, row)`` for every record of a binary stream: a mapping for ``ingest_many`` or a RowError.

    Raises:
        FileFormatError: the CSV header is unreadable or lacks a required column (before any row is yielded).
    """
    if fmt == "csv":
        return _csv_rows(stream)
    return _jsonl_rows(stream)


# -- physical records ------------------------------------------------------------------------------------------


@attrs.define
class _Record:
    line: int  # where it starts
    data: bytes
    too_long: bool = False
    unclosed: bool = False  # a quoted CSV cell was still open at the end of the input


def _ends_quoted(chunk: bytes, quoted: bool) -> bool:
    """Whether a CSV line leaves a quoted cell open, given whether it started inside one.

    Bytes, not text: a quote and a comma are ASCII, and no byte of a multi-byte UTF-8 character is, so this holds
    even for a line that is not valid UTF-8. Like Python's csv module, a quote opens a quoted cell only at the start
    of a cell; elsewhere it is an ordinary character.
    """
    i, n = 0, len(chunk)
    while True:
        if quoted:
            j = chunk.find(b'"', i)
            if j < 0:
                return True
            if j + 1 < n and chunk[j + 1] == _QUOTE:
                i = j + 2  # an escaped quote
                continue
            quoted = False
            i = j + 1
        elif i < n and chunk[i] == _QUOTE:
            quoted = True
            i += 1
            continue
        comma = chunk.find(b",", i)
        if comma < 0:
            return False
        i = comma + 1


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes, bool]]:
    """``(line number, bytes, complete)``: lines up to MAX_RECORD_BYTES; a longer one comes in pieces."""
    number = 1
    first = True
    while True:
        chunk = stream.readline(MAX_RECORD_BYTES + 1)
        if not chunk:
            return
        if first:
            first = False
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
        complete = chunk.endswith(b"\n")
        yield number, chunk, complete
        if complete:
            number += 1


def _csv_records(stream: IO[bytes]) -> Iterator[_Record]:
    record: Optional[_Record] = None
    quoted = False
    for number, chunk, complete in _lines(stream):
        if record is None:
            record = _Record(number, b"")
        if not record.too_long:
            if len(record.data) + len(chunk) > MAX_RECORD_BYTES:
                record.too_long, record.data = True, b""
            else:
                record.data += chunk
        quoted = _ends_quoted(chunk, quoted)
        if complete and not quoted:
            yield record
            record = None
    if record is not None:  # the last line had no newline, or a quoted cell never closed
        record.unclosed = quoted
        yield record


def _jsonl_records(stream: IO[bytes]) -> Iterator[_Record]:
    record: Optional[_Record] = None
    for number, chunk, complete in _lines(stream):
        if record is None:
            record = _Record(number, chunk, too_long=not complete and len(chunk) > MAX_RECORD_BYTES)
        elif not record.too_long:
            record.too_long = True  # a continuation: the line was longer than the limit
        if complete:
            yield record
            record = None
    if record is not None:
        yield record


def _decode(record: _Record) -> Union[str, RowError]:
    if record.unclosed:
        return RowError(record.line, None, "a quoted cell opened in this record is never closed")
    if record.too_long:
        return RowError(record.line, None, f"the record is longer than {MAX_RECORD_BYTES} bytes")
    try:
        return record.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RowError(
            record.line,
            None,
            f"not UTF-8 text: byte 0x{record.data[exc.start]:02x} at offset {exc.start} of the record",
        )


# -- CSV -------------------------------------------------------------------------------------------------------


def _csv_cells(text: str) -> list[str]:
    """The cells of one CSV record (csv refuses a cell over its field size limit with csv.Error)."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if len(rows) != 1:
        raise csv.Error("a record must hold exactly one row")
    return rows[0]


def _csv_rows(stream: IO[bytes]) -> Iterator[tuple[int, Row]]:
    if csv.field_size_limit() < MAX_CELL_BYTES:
        csv.field_size_limit(MAX_CELL_BYTES)
    records = _csv_records(stream)
    header_record = next(records, None)
    if header_record is None:
        return
    text = _decode(header_record)
    if isinstance(text, RowError):
        raise FileFormatError(f"the CSV header (line {header_record.line}) is unreadable: {text.reason}")
    try:
        header = [name.strip() for name in _csv_cells(text)]
    except csv.Error as exc:
        raise FileFormatError(f"the CSV header is malformed: {exc}") from None
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise FileFormatError(f"the CSV header lacks required column(s): {', '.join(missing)}")
    for record in records:
        text = _decode(record)
        if isinstance(text, RowError):
            yield record.line, text
            continue
        if not text.strip():
            continue
        try:
            cells = _csv_cells(text)
        except csv.Error as exc:
            yield record.line, RowError(record.line, None, f"malformed CSV: {exc}")
            continue
        values = dict(zip(header, cells))
        if len(cells) > len(header):
            yield record.line, RowError(record.line, values.get("event_id") or None, "more cells than the header")
            continue
        picked = {k: v for k, v in values.items() if k in REQUIRED or k in OPTIONAL}
        yield record.line, parse_row(picked, line=record.line, from_text=True)


# -- JSON Lines ------------------------------------------------------------------------------------------------


def _jsonl_rows(stream: IO[bytes]) -> Iterator[tuple[int, Row]]:
    for record in _jsonl_records(stream):
        text = _decode(record)
        if isinstance(text, RowError):
            yield record.line, text
            continue
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except RecursionError:
            yield record.line, RowError(record.line, None, "not usable JSON: nested too deeply")
            continue
        except ValueError as exc:
            yield record.line, RowError(record.line, None, f"not valid JSON: {_first_line(exc)}")
            continue
        if not isinstance(value, dict):
            yield (
                record.line,
                RowError(record.line, None, f"a line must hold a JSON object, got {type(value).__name__}"),
            )
            continue
        yield record.line, parse_row(value, line=record.line, from_text=False)


# -- one row ---------------------------------------------------------------------------------------------------


def parse_row(cells: Mapping[str, Any], *, line: int, from_text: bool) -> Row:
    """One record's cells (CSV text, or the values of a JSON object) as an ``ingest_many`` row, or a RowError.

    The row is a mapping with ``id``, ``principal_id``, ``user_id``, ``feature_code``, ``quantity_minor`` and
    any of ``meters``, ``labels``, ``occurred_at``, ``budget_id``, and ``ref=line``. Keys other than the columns of
    :data:`REQUIRED` and :data:`OPTIONAL` are ignored. Never raises for any input.

    Args:
        cells: Column name to value.
        line: The record's line number (the row's ``ref`` and the error's line).
        from_text: ``True`` for CSV, where ``meters`` and ``labels`` must be JSON text; ``False`` for JSON, where
            they may also be the array or object itself.
    """
    raw_id = cells.get("event_id")
    event_id = str(raw_id) if isinstance(raw_id, str) or _is_int(raw_id) else None
    if event_id is not None and len(event_id) > 200:
        event_id = event_id[:200] + "..."
    try:
        row: dict[str, Any] = {"ref": line}
        for name in ("event_id", "principal_id", "user_id", "feature_code"):
            row[name] = _text(cells.get(name), name, required=True)
        row["id"] = row.pop("event_id")
        row["quantity_minor"] = _quantity(cells.get("quantity_minor"))
        meters = _json_cell(cells.get("meters"), "meters", list, from_text)
        if meters is not None:
            if not all(isinstance(m, dict) for m in meters):
                raise _Bad("meters", "meters must be a JSON array of objects")
            row["meters"] = meters
        labels = _json_cell(cells.get("labels"), "labels", dict, from_text)
        if labels is not None:
            if not all(isinstance(v, str) for v in labels.values()):
                raise _Bad("labels", "labels must be a JSON object of strings")
            row["labels"] = labels
        for name in ("occurred_at", "budget_id"):
            value = _text(cells.get(name), name, required=False)
            if value is not None:
                row[name] = value
    except _Bad as exc:
        return RowError(line, event_id, exc.reason, exc.field)
    except (ValueError, TypeError, RecursionError) as exc:  # defensive: a value no check above foresaw
        return RowError(line, event_id, f"unusable row: {type(exc).__name__}")
    return row


class _Bad(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _text(value: Any, name: str, *, required: bool) -> Optional[str]:
    if _is_int(value) and name == "event_id":
        if value.bit_length() > 256:
            raise _Bad(name, f"{name} is an integer of more than 256 bits; write it as a string")
        value = str(value)  # 7 and "7" must give the same key, whichever format the file is in
    if value is None or value == "":
        if required:
            raise _Bad(name, f"{name} is missing")
        return None
    if not isinstance(value, str):
        raise _Bad(name, f"{name} must be a string, got {type(value).__name__}")
    if value != value.strip():
        raise _Bad(name, f"{name} must not start or end with whitespace")
    return value


def _quantity(value: Any) -> str:
    name = "quantity_minor"
    if value is None or value == "":
        raise _Bad(name, "quantity_minor is missing")
    if _is_int(value):
        text = str(value) if -(10**_MAX_DIGITS) < value < 10**_MAX_DIGITS else "9" * (_MAX_DIGITS + 1)
    elif isinstance(value, str) and _INTEGER.fullmatch(value):
        text = value
    else:
        shown = repr(value) if not isinstance(value, str) or len(value) <= 40 else repr(value[:40]) + "..."
        raise _Bad(name, f"quantity_minor must be a non-negative integer, got {shown}")
    if text.startswith("-"):
        raise _Bad(name, f"quantity_minor must be a non-negative integer, got {text}")
    # The bound is the server's: it reads quantities as JavaScript numbers, exact only up to 2**53 - 1.
    if len(text.lstrip("0")) > _MAX_DIGITS or int(text) > MAX_SAFE_INTEGER:
        shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text)} digits)"
        raise _Bad(name, f"quantity_minor must be at most {MAX_SAFE_INTEGER}, got {shown}")
    return text


def _json_cell(value: Any, name: str, kind: type, from_text: bool) -> Any:
    """A JSON array/object cell: text in CSV (and accepted as text in JSONL), the value itself in JSONL."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except RecursionError:
            raise _Bad(name, f"{name} is nested too deeply") from None
        except ValueError as exc:
            raise _Bad(name, f"{name} is not valid JSON: {_first_line(exc)}") from None
    elif from_text:
        raise _Bad(name, f"{name} must be JSON text")
    if not isinstance(value, kind):
        expected = "array" if kind is list else "object"
        raise _Bad(name, f"{name} must be a JSON {expected}, got {type(value).__name__}")
    return value
