"""``vluna usage ingest FILE``: record a CSV or JSON Lines file of usage events, each exactly once."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Optional, Union

import attrs

from .._bulk import DEFAULT_NAMESPACE, IngestOutcome, InvalidRow
from .._errors import VlunaError
from ._errorfile import ErrorFile
from ._files import FileRefused, stat_target
from ._journal import Attribution, Journal, JournalBusy
from ._output import EXIT_USAGE, emit, error_json, error_line
from ._progress import Progress
from ._rows import FileFormatError, RowError, detect_format, read_rows
from ._summary import EXIT_HELP, RunFacts, Tally, reason_of, summary_data, summary_text

HELP = (
    """\
Record every row of FILE (.csv or .jsonl; - reads stdin) with gate.ingest, concurrently.

Columns (CSV header) or keys (JSON Lines), UTF-8 (a byte-order mark is fine), LF or CRLF line ends:
  required  event_id, principal_id, user_id, feature_code, quantity_minor (integer, 0 to 2**53-1)
  optional  meters (JSON array), labels (JSON object of strings), occurred_at (ISO 8601), budget_id
Other columns are ignored.

Exactly once: each row's Idempotency-Key is
  idempotency_key(NAMESPACE, principal_id, user_id, event_id, realm_id=VLUNA_REALM_ID)
so re-running the same file (after a crash, a kill, or to retry failed rows) records nothing twice: the server
keeps ingest keys with no expiry and answers a repeated key with the first result. The principal and user are
part of the key because the server's short-lived HTTP replay cache is shared by all users of a service key:
two files with the same event_id for different users never collide. Event ids must be unique per user within a
namespace; give independent sources whose ids may overlap their own --namespace (and keep using it). A row that
repeats an earlier row of the file is counted once (duplicate) and not sent.

One bad row never stops the file: a row that cannot be read or sent (a bad byte, a missing column, a
non-integer quantity, a malformed JSON cell) is invalid with its line number; it and the rows the server
refused go to the error file (FILE.errors.jsonl, in line order) and the first few are shown on the terminal.

The summary counts new charges apart from replays of rows an earlier run charged, using FILE.vluna-journal (a
record per row sent and per answer; --no-journal runs without it, and then cannot tell the two apart). Rows that
were in flight when an earlier run was killed are "unattributed": charged once, by that run or this one.

The error file and the journal are never written through a link. An existing error file is replaced only when an
earlier run of this job wrote it, or with --force; the input file never.

"""
    + EXIT_HELP
)

_STOP_GRACE_S = 15.0
_SHOW_FAILURES = 5


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
        "--force", action="store_true", help="replace an existing error file that no earlier run of this job wrote"
    )
    ingest.add_argument(
        "--namespace",
        default=DEFAULT_NAMESPACE,
        help=f"key namespace: what the event ids are unique in (default: {DEFAULT_NAMESPACE})",
    )
    ingest.add_argument("--dry-run", action="store_true", help="check every row offline; send nothing")
    ingest.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    ingest.add_argument(
        "--no-journal",
        "--no-checkpoint",
        dest="no_journal",
        action="store_true",
        help="do not read or write FILE.vluna-journal (it only tells replays from new charges)",
    )
    ingest.set_defaults(handler=run)


def _positive(text: str) -> int:
    try:
        value = int(text) if len(text) < 20 else -1
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text[:40]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text[:40]!r}")
    return value


def _count_rows(path: Path, fmt: str) -> Optional[int]:
    """Lines in a regular file (less the CSV header): the bar's total. Read in blocks, so memory stays flat."""
    try:
        with path.open("rb") as raw:
            lines = sum(block.count(b"\n") for block in iter(lambda: raw.read(1 << 20), b""))
    except OSError:
        return None
    return max(0, lines - 1) if fmt == "csv" else lines


def _usage_error(message: str, as_json: bool = False) -> int:
    """Report a usage problem found before anything was sent: one line on stderr (and JSON on stdout)."""
    print(f"vluna: {message} (nothing was sent)", file=sys.stderr)
    if as_json:
        print(json.dumps({"ok": False, "error": {"type": "UsageError", "message": message}}, ensure_ascii=False))
    return EXIT_USAGE


class _Run:
    """One run of the command: its files, its counters and what it tells the journal."""

    def __init__(self, args: argparse.Namespace, fmt: str, journal: Optional[Journal], errors: ErrorFile) -> None:
        self.args = args
        self.fmt = fmt
        self.journal = journal
        self.errors = errors
        self.tally = Tally()
        self.stop = threading.Event()
        self.progress = Progress(total=None, enabled=False)
        self.shown = 0
        self.event_ids: dict[int, Optional[str]] = {}  # line -> event id of rows the reader refused (until reported)
        self.journal_note: Optional[str] = None

    def items(self, stream: IO[bytes]) -> Iterator[Union[dict[str, Any], InvalidRow]]:
        for line, row in read_rows(stream, self.fmt):
            if isinstance(row, RowError):
                self.event_ids[line] = row.event_id
                yield InvalidRow(reason=row.reason, ref=line, field=row.field)
            else:
                yield row

    # -- hooks of ingest_many (on this thread) -------------------------------------------------------------------

    def sending(self, index: int, ref: Any, key: str) -> None:
        if self.journal is None:
            return
        self.journal.sending(key)
        if self.journal.broken is not None:
            self.journal_note = self.journal.broken + "; the run stopped so that the next run can still count exactly"
            self.stop.set()

    def settled(self, outcome: IngestOutcome) -> None:
        # Only rows that were sent: a duplicate, an invalid or a never-sent row says nothing about its key.
        if self.journal is not None and outcome.status in ("recorded", "failed", "unknown"):
            self.journal.settled(outcome.idempotency_key, outcome.status)

    # -- outcomes, in input order --------------------------------------------------------------------------------

    def attribution(self, outcome: IngestOutcome) -> Attribution:
        if self.args.dry_run:
            return "new"
        if self.journal is None:
            return "unattributed"
        return self.journal.attribute(outcome.idempotency_key)

    def record(self, outcome: IngestOutcome) -> None:
        self.tally.add(outcome, self.attribution(outcome))
        if outcome.status in ("recorded", "duplicate"):
            return
        line = outcome.ref if isinstance(outcome.ref, int) else 0
        record = _error_record(line, outcome, self.event_ids.pop(line, None))
        self.errors.write(record)
        if self.shown < _SHOW_FAILURES:
            self.shown += 1
            self.progress.note(f"vluna: line {line}: {outcome.status}: {record['reason']}")

    def on_signal(self, signum: int, frame: Any) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()
        self.progress.note(
            f"vluna: stopping: no new rows are sent; waiting up to {_STOP_GRACE_S:.0f} s for the rows in flight "
            "(Ctrl-C again to quit at once)"
        )


def _error_record(line: int, outcome: IngestOutcome, event_id: Optional[str]) -> dict[str, Any]:
    error = outcome.error
    record: dict[str, Any] = {"line": line, "status": outcome.status, "idempotency_key": outcome.idempotency_key}
    if event_id is not None:
        record["event_id"] = event_id
    if outcome.status == "invalid" and error is not None:
        record["reason"] = " ".join(str(error).split())
        field = getattr(error, "field", None)
        if field:
            record["field"] = field
    elif error is not None:
        record["reason"] = error_line(error).removeprefix("vluna: ")
        record["error"] = error_json(error)
    else:
        record["reason"] = "not sent: the run stopped before this row"
    if outcome.status == "unknown":
        record["reason"] = "may have been recorded; re-run the same command to settle it. " + record["reason"]
    record["kind"] = reason_of(outcome)
    return record


def run(args: argparse.Namespace) -> int:
    """Run ``vluna usage ingest``."""
    try:
        fmt = detect_format(args.file, args.format)
    except FileFormatError as exc:
        return _usage_error(str(exc), args.json)
    stdin = args.file == "-"
    source = Path(args.file)
    try:
        stream: IO[bytes] = sys.stdin.buffer if stdin else source.open("rb")
    except OSError as exc:
        return _usage_error(f"cannot read {args.file}: {exc.strerror or exc}", args.json)
    opened = _Opened(stream, stdin)
    try:
        return _run_opened(args, fmt, opened)
    finally:
        opened.close()


@attrs.define
class _Opened:
    """What a run opened, closed in this order when it ends: the error file, the journal, the input, the client."""

    stream: IO[bytes]
    stdin: bool
    client: Any = None
    journal: Optional[Journal] = None
    errors: Optional[ErrorFile] = None

    def close(self) -> None:
        if self.errors is not None:
            kept = self.errors.close()
            if self.journal is not None and not kept:
                self.journal.error_file(self.errors.stat, kept=False)
        if self.journal is not None:
            self.journal.close()
        if not self.stdin:
            self.stream.close()
        if self.client is not None:
            self.client.close()


def _run_opened(args: argparse.Namespace, fmt: str, opened: _Opened) -> int:
    """Open the client, the journal and the error file, then ingest (``opened`` closes them afterwards)."""
    area, realm_id, base_url = _target(args, opened)
    source = Path(args.file)
    note: Optional[str] = None
    journal_path = source.with_name(source.name + ".vluna-journal")
    try:
        if not opened.stdin and not args.no_journal:
            try:
                opened.journal = Journal.open(journal_path, base_url=base_url, realm_id=realm_id)
            except JournalBusy:
                note = "another run of this file holds its journal: this run cannot tell new charges from replays"
        errors = _open_error_file(args, opened, journal_path)
    except FileRefused as exc:
        return _usage_error(str(exc), args.json)
    state = _Run(args, fmt, opened.journal, errors)
    state.journal_note = note
    return _ingest(state, area, opened.stream, source, opened.stdin)


def _target(args: argparse.Namespace, opened: _Opened) -> tuple[Any, str, str]:
    """The gate area the rows go through, with the realm and base URL the journal is kept for."""
    if args.dry_run:
        from .._generated.endpoints.service_gate import ServiceGateApi
        from ._offline import OfflineHost

        realm_id = os.environ.get("VLUNA_REALM_ID") or "dry-run"
        return ServiceGateApi(OfflineHost(realm_id)), realm_id, "dry-run"
    from .. import ServiceClient

    opened.client = client = ServiceClient.from_env(timeout=args.timeout)  # ConfigurationError: main says it, exit 2
    return client.gate, client.realm_id, client.base_url


def _open_error_file(args: argparse.Namespace, opened: _Opened, journal_path: Path) -> ErrorFile:
    """Create the error file (never over the journal or the input file) and tell the journal which file it is.

    Raises:
        FileRefused: the path is a link, the journal, the input file, or a file no earlier run of this job wrote.
    """
    if args.errors:
        errors_path = Path(args.errors)
    else:
        errors_path = Path("vluna-stdin.errors.jsonl" if opened.stdin else f"{args.file}.errors.jsonl")
    protected = {"the journal": stat_target(journal_path)}
    if not opened.stdin:
        protected["the input file"] = os.fstat(opened.stream.fileno())
    journal = opened.journal
    opened.errors = errors = ErrorFile.create(
        errors_path,
        force=args.force,
        owned=journal.owns if journal is not None else (lambda st: False),
        protected=protected,
        default_name=not args.errors,
    )
    if journal is not None:
        if errors.replaced is not None:
            journal.error_file(errors.replaced, kept=False)
        journal.error_file(errors.stat, kept=True)
    return errors


def _ingest(state: _Run, area: Any, stream: IO[bytes], source: Path, stdin: bool) -> int:
    args = state.args
    show = not args.no_progress
    total = _count_rows(source, state.fmt) if (show and not stdin and sys.stderr.isatty()) else None
    state.progress = Progress(total=total, enabled=show)
    stopped: Optional[BaseException] = None
    hard_stop = False
    started = time.monotonic()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C, and SIGTERM (what cron, systemd and container runtimes send to stop a job), stop it cleanly.
        for signum in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
            if signum is not None:
                previous[signum] = signal.signal(signum, state.on_signal)
    try:
        outcomes = area.ingest_many(
            state.items(stream),
            namespace=args.namespace,
            workers=1 if args.dry_run else args.workers,
            max_workers=args.max_workers,
            on_progress=state.progress.update,
            dedupe=True,
            on_send=None if args.dry_run else state.sending,
            on_settled=None if args.dry_run else state.settled,
            stop=state.stop,
            stop_grace=_STOP_GRACE_S,
        )
        for outcome in outcomes:
            state.record(outcome)
    except FileFormatError as exc:
        state.progress.close()
        return _usage_error(f"{args.file}: {exc}", args.json)
    except VlunaError as exc:  # an error every row would hit (401/403/configuration): the job stopped
        stopped = exc
    except KeyboardInterrupt:
        hard_stop = True
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        state.progress.close()
    interrupted = hard_stop or (state.stop.is_set() and state.journal_note is None)
    journal_note = state.journal_note
    if hard_stop:
        journal_note = "quit at once: rows in flight were not waited for; run the same command again to settle them"
    facts = RunFacts(
        file=args.file,
        dry_run=bool(args.dry_run),
        seconds=time.monotonic() - started,
        attributed=state.journal is not None or bool(args.dry_run),
        errors_file=str(state.errors.path) if state.errors.count else None,
        errors_count=state.errors.count,
        stopped=stopped,
        interrupted=interrupted,
        journal_note=journal_note,
    )
    if stopped is not None:
        print(error_line(stopped), file=sys.stderr)
    emit(args.json, summary_text(state.tally, facts), summary_data(state.tally, facts))
    return state.tally.exit_code(stopped=stopped, interrupted=interrupted)
