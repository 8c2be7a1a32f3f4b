"""``vluna usage ingest FILE``: record a CSV or JSON Lines file of usage events, each exactly once."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Optional

import attrs

from .._bulk import DEFAULT_NAMESPACE, IngestOutcome
from .._errors import APIError, VlunaError
from ._checkpoint import Checkpoint, identity
from ._output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, emit, error_json, error_line
from ._progress import Progress
from ._rows import FileFormatError, RowError, detect_format, read_rows

HELP = """\
Record every row of FILE (.csv or .jsonl; - reads stdin) with gate.ingest, concurrently.

Columns (CSV header) or keys (JSON Lines):
  required  event_id, principal_id, user_id, feature_code, quantity_minor (non-negative integer)
  optional  meters (JSON array), labels (JSON object of strings), occurred_at (ISO 8601), budget_id
Other columns are ignored.

Exactly once: each row's Idempotency-Key is
  idempotency_key(NAMESPACE, principal_id, user_id, event_id, realm_id=VLUNA_REALM_ID)
so re-running the same file (after a crash, a kill, or to retry failed rows) records nothing twice: the server
keeps ingest keys with no expiry and answers a repeated key with the first result. The principal and user are
part of the key because the server's short-lived HTTP replay cache is shared by all users of a service key:
two files with the same event_id for different users never collide. Event ids must be unique per user within a
namespace; give independent sources whose ids may overlap their own --namespace (and keep using it).

Rows that cannot be sent (missing column, non-integer quantity, bad code, malformed JSON cell) are reported with
their line number before anything is sent for them; they and the rows the server refused go to the error file.

Exit status: 0 every row recorded; 1 some row failed, is unknown, was not sent, or --dry-run found bad rows;
2 usage or configuration error (bad option, unreadable file, missing VLUNA_* variable); 130 interrupted.
"""


@attrs.define
class _Tally:
    rows: int = 0
    recorded: int = 0
    replayed: int = 0
    failed: int = 0
    unknown: int = 0
    not_sent: int = 0
    priced: int = 0
    replayed_priced: int = 0
    last_line: int = 0


class _ErrorFile:
    """Failed and unknown rows as JSON Lines; created on the first one, so a clean run leaves no file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stream: Optional[IO[str]] = None
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        if self._stream is None:
            self._stream = self.path.open("w", encoding="utf-8")
        self._stream.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        self._stream.flush()
        self.count += 1

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()


def add_parser(usage_commands: Any, parent: argparse.ArgumentParser) -> None:
    """Register ``usage ingest``."""
    ingest = usage_commands.add_parser(
        "ingest",
        parents=[parent],
        help="record a CSV or JSON Lines file of usage events, each exactly once",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ingest.add_argument("file", help="the .csv or .jsonl file, or - for stdin")
    ingest.add_argument("--format", choices=("csv", "jsonl"), help="input format (default: from the file name)")
    ingest.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="concurrent requests (default: adaptive, 8 growing while throughput rises, up to --max-workers)",
    )
    ingest.add_argument("--max-workers", type=_positive, default=32, help="upper bound when adaptive (default: 32)")
    ingest.add_argument("--errors", metavar="PATH", help="error file (default: FILE.errors.jsonl)")
    ingest.add_argument(
        "--namespace",
        default=DEFAULT_NAMESPACE,
        help=f"key namespace: what the event ids are unique in (default: {DEFAULT_NAMESPACE})",
    )
    ingest.add_argument("--dry-run", action="store_true", help="check every row offline; send nothing")
    ingest.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    ingest.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="do not read or write FILE.vluna-checkpoint (it only tells replayed rows from new ones)",
    )
    ingest.set_defaults(handler=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _count_rows(path: Path, fmt: str) -> Optional[int]:
    """Lines in a regular file (less the CSV header): the bar's total. Read in blocks, so memory stays flat."""
    try:
        with path.open("rb") as raw:
            lines = sum(block.count(b"\n") for block in iter(lambda: raw.read(1 << 20), b""))
    except OSError:
        return None
    return max(0, lines - 1) if fmt == "csv" else lines


def run(args: argparse.Namespace) -> int:
    """Run ``vluna usage ingest``."""
    try:
        fmt = detect_format(args.file, args.format)
    except FileFormatError as exc:
        print(f"vluna: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stdin = args.file == "-"
    source = Path(args.file)
    errors_path = (
        Path(args.errors) if args.errors else Path("vluna-stdin.errors.jsonl" if stdin else f"{args.file}.errors.jsonl")
    )

    if args.dry_run:
        from .._generated.endpoints.service_gate import ServiceGateApi
        from ._offline import OfflineHost

        realm_id = os.environ.get("VLUNA_REALM_ID") or "dry-run"
        area: Any = ServiceGateApi(OfflineHost(realm_id))
        client = None
        checkpoint = None
    else:
        from .. import ServiceClient

        client = ServiceClient.from_env(timeout=args.timeout)  # ConfigurationError: reported by main, exit 2
        area = client.gate
        ident = (
            None
            if (stdin or args.no_checkpoint)
            else identity(source, realm_id=client.realm_id, base_url=client.base_url, namespace=args.namespace)
        )
        checkpoint = Checkpoint(source.with_name(source.name + ".vluna-checkpoint"), ident) if ident else None

    try:
        stream: IO[str] = sys.stdin if stdin else source.open("r", encoding="utf-8", newline="")
    except OSError as exc:
        print(f"vluna: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        errors_path.unlink()  # a stale error file from an earlier run would describe rows that may be fine now
    except FileNotFoundError:
        pass
    except OSError as exc:
        print(f"vluna: cannot replace the error file {errors_path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE

    show = not args.no_progress
    total = _count_rows(source, fmt) if (show and not stdin and sys.stderr.isatty()) else None
    progress = Progress(total=total, enabled=show)
    errors = _ErrorFile(errors_path)
    tally = _Tally()
    stopped: Optional[BaseException] = None
    interrupted = False
    started = time.monotonic()

    def rows() -> Iterator[dict[str, Any]]:
        for line, row in read_rows(stream, fmt):
            tally.rows += 1
            tally.last_line = line
            if isinstance(row, RowError):
                tally.failed += 1
                errors.write({"line": line, "event_id": row.event_id, "status": "invalid", "reason": row.reason})
                if checkpoint is not None:
                    checkpoint.stop_at(line)
                continue
            yield row

    def record(outcome: IngestOutcome) -> None:
        line = outcome.ref if isinstance(outcome.ref, int) else 0
        if outcome.status == "recorded":
            amount = int(outcome.amount_xusd or 0)
            tally.priced += amount
            if checkpoint is not None and line <= checkpoint.known_through:
                tally.replayed += 1
                tally.replayed_priced += amount
            else:
                tally.recorded += 1
        else:
            if outcome.status == "unknown":
                tally.unknown += 1
            elif outcome.status == "not_sent":
                tally.not_sent += 1
            else:
                tally.failed += 1
            errors.write(_error_record(line, outcome))
        if checkpoint is not None:
            checkpoint.seen(line, outcome.status == "recorded")

    try:
        outcomes = area.ingest_many(
            rows(),
            namespace=args.namespace,
            workers=1 if args.dry_run else args.workers,
            max_workers=args.max_workers,
            on_progress=progress.update,
        )
        for outcome in outcomes:
            record(outcome)
    except FileFormatError as exc:
        progress.close()
        print(f"vluna: {args.file}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UnicodeDecodeError as exc:
        progress.close()
        print(f"vluna: {args.file} is not UTF-8 text ({exc.reason})", file=sys.stderr)
        return EXIT_USAGE
    except VlunaError as exc:  # an error every row would hit (401/403/configuration): the job stopped
        stopped = exc
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.close()
        errors.close()
        if checkpoint is not None:
            checkpoint.save()
        if not stdin:
            stream.close()
        if client is not None:
            client.close()

    elapsed = time.monotonic() - started
    _summary(args, tally, errors, elapsed, stopped, interrupted)
    if interrupted:
        return EXIT_INTERRUPTED
    bad = tally.failed or tally.unknown or tally.not_sent or stopped is not None
    return EXIT_FAILED if bad else EXIT_OK


def _error_record(line: int, outcome: IngestOutcome) -> dict[str, Any]:
    error = outcome.error
    record: dict[str, Any] = {"line": line, "status": outcome.status, "idempotency_key": outcome.idempotency_key}
    if error is not None:
        record["reason"] = error_line(error).removeprefix("vluna: ")
        record["error"] = error_json(error)
    elif outcome.status == "not_sent":
        record["reason"] = "not sent: the job stopped before this row"
    if outcome.status == "unknown":
        record["reason"] = "may have been recorded; re-run the same command to settle it. " + record.get("reason", "")
    return record


def _summary(
    args: argparse.Namespace,
    tally: _Tally,
    errors: _ErrorFile,
    elapsed: float,
    stopped: Optional[BaseException],
    interrupted: bool,
) -> None:
    done = tally.recorded + tally.replayed + tally.failed + tally.unknown + tally.not_sent
    rate = done / elapsed if elapsed > 0 else 0.0
    data: dict[str, Any] = {
        "file": args.file,
        "dry_run": bool(args.dry_run),
        "rows": tally.rows,
        "recorded": tally.recorded,
        "replayed": tally.replayed,
        "failed": tally.failed,
        "unknown": tally.unknown,
        "not_sent": tally.not_sent,
        "priced_xusd": str(tally.priced),
        "replayed_priced_xusd": str(tally.replayed_priced),
        "seconds": round(elapsed, 3),
        "rows_per_second": round(rate, 1),
        "errors_file": str(errors.path) if errors.count else None,
        "stopped": error_json(stopped) if stopped is not None else None,
        "interrupted": interrupted,
    }
    if args.dry_run:
        valid = tally.recorded + tally.replayed
        human = [f"dry run: {tally.rows} rows checked, {valid} valid, {tally.failed} invalid; nothing was sent"]
    else:
        human = [
            f"{tally.rows} rows in {elapsed:.2f} s ({rate:.0f} rows/s)",
            f"  recorded  {tally.recorded}",
            f"  replayed  {tally.replayed}  (recorded by an earlier run; not charged again)",
            f"  failed    {tally.failed}",
            f"  unknown   {tally.unknown}",
            f"  not sent  {tally.not_sent}",
            f"  priced    {tally.priced} xusd (of which replayed {tally.replayed_priced} xusd)",
        ]
    if errors.count:
        human.append(f"  {errors.count} row(s) written to {errors.path}")
    if stopped is not None:
        reason = error_line(stopped)
        status = f" (HTTP {stopped.status})" if isinstance(stopped, APIError) else ""
        human.append(f"stopped after line {tally.last_line}{status}: {reason}; later rows were not sent")
        print(reason, file=sys.stderr)
    if interrupted:
        human.append(
            f"interrupted after line {tally.last_line}: run the same command again to finish (no double charge)"
        )
    emit(args.json, "\n".join(human), data)
