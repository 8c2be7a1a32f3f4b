"""Reading usage rows from CSV or JSON Lines, one at a time, with the line each came from."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from typing import IO, Any, Optional, Union

import attrs

REQUIRED = ("event_id", "principal_id", "user_id", "feature_code", "quantity_minor")
OPTIONAL = ("meters", "labels", "occurred_at", "budget_id")
_INTEGER = re.compile(r"^[0-9]+$")


@attrs.frozen
class RowError:
    """A line that cannot become a usage row; nothing is sent for it.

    Attributes:
        line: 1-based line number in the input (for CSV, the line the record ends on).
        event_id: The row's event id, when it could be read.
        reason: What is wrong, in one line.
    """

    line: int
    event_id: Optional[str]
    reason: str


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


def read_rows(stream: IO[str], fmt: str) -> Iterator[tuple[int, Union[dict[str, Any], RowError]]]:
    """Yield ``(line, row)`` for every record: a dict ready for ``ingest_many`` or a :class:`RowError`.

    Raises:
        FileFormatError: a CSV header lacks a required column (raised before any row is yielded).
    """
    if fmt == "csv":
        yield from _csv_rows(stream)
    else:
        yield from _jsonl_rows(stream)


def _csv_rows(stream: IO[str]) -> Iterator[tuple[int, Union[dict[str, Any], RowError]]]:
    reader = csv.DictReader(stream)
    header = reader.fieldnames or []
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise FileFormatError(f"the CSV header lacks required column(s): {', '.join(missing)}")
    for record in reader:
        line = reader.line_num
        if None in record:
            yield line, RowError(line, record.get("event_id") or None, "more fields than the header has columns")
            continue
        cells = {k: v for k, v in record.items() if k in REQUIRED or k in OPTIONAL}
        yield line, _row(line, cells, from_text=True)


def _jsonl_rows(stream: IO[str]) -> Iterator[tuple[int, Union[dict[str, Any], RowError]]]:
    for line, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            yield line, RowError(line, None, f"not valid JSON: {exc.args[0] if exc.args else exc}")
            continue
        if not isinstance(value, dict):
            yield line, RowError(line, None, f"a line must hold a JSON object, got {type(value).__name__}")
            continue
        yield line, _row(line, value, from_text=False)


def _row(line: int, cells: dict[str, Any], *, from_text: bool) -> Union[dict[str, Any], RowError]:
    raw_id = cells.get("event_id")
    event_id = str(raw_id) if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else None
    try:
        row: dict[str, Any] = {"ref": line}
        for name in ("event_id", "principal_id", "user_id", "feature_code"):
            row[name] = _text(cells.get(name), name, required=True)
        row["id"] = row.pop("event_id")
        row["quantity_minor"] = _quantity(cells.get("quantity_minor"))
        meters = _json_cell(cells.get("meters"), "meters", list, from_text)
        if meters is not None:
            if not all(isinstance(m, dict) for m in meters):
                raise ValueError("meters must be a JSON array of objects")
            row["meters"] = meters
        labels = _json_cell(cells.get("labels"), "labels", dict, from_text)
        if labels is not None:
            if not all(isinstance(v, str) for v in labels.values()):
                raise ValueError("labels must be a JSON object of strings")
            row["labels"] = labels
        for name in ("occurred_at", "budget_id"):
            value = _text(cells.get(name), name, required=False)
            if value is not None:
                row[name] = value
    except ValueError as exc:
        return RowError(line, event_id, str(exc))
    return row


def _text(value: Any, name: str, *, required: bool) -> Optional[str]:
    if isinstance(value, int) and not isinstance(value, bool) and name == "event_id":
        value = str(value)  # 7 and "7" must give the same key, whichever format the file is in
    if value is None or value == "":
        if required:
            raise ValueError(f"{name} is missing")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    if value != value.strip():
        raise ValueError(f"{name} must not start or end with whitespace")
    return value


def _quantity(value: Any) -> str:
    if value is None or value == "":
        raise ValueError("quantity_minor is missing")
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"quantity_minor must be a non-negative integer, got {value}")
        return str(value)
    if not isinstance(value, str) or not _INTEGER.match(value):
        raise ValueError(f"quantity_minor must be a non-negative integer, got {value!r}")
    return value


def _json_cell(value: Any, name: str, kind: type, from_text: bool) -> Any:
    """A JSON array/object cell: text in CSV (and accepted as text in JSONL), the value itself in JSONL."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"{name} is not valid JSON: {exc.args[0] if exc.args else exc}") from None
    elif from_text:
        raise ValueError(f"{name} must be JSON text")
    if not isinstance(value, kind):
        expected = "array" if kind is list else "object"
        raise ValueError(f"{name} must be a JSON {expected}, got {type(value).__name__}")
    return value
