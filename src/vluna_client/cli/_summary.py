"""What ``vluna usage ingest`` reports: exact counts of what was charged, and an exit status that says what to do."""

from __future__ import annotations

from typing import Any, Optional

import attrs

from .._bulk import IngestOutcome
from .._errors import APIError, InputValidationError, VlunaError
from ._journal import Attribution
from ._output import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, error_json, error_line

EXIT_REFUSED = 1
"""Some rows were refused for their data (invalid, or the server said 4xx): fix them and run again."""
EXIT_RERUN = 3
"""Some rows' outcomes are unknown, failed for a passing reason, or were not sent: run the same command again."""

EXIT_HELP = """\
exit status:
  0    every row is recorded (new, replayed or duplicate)
  1    some rows were refused for their data (see the error file); fix them and run again
  2    usage or configuration error (bad option, unreadable file, missing VLUNA_* variable, refused credentials)
  3    some rows' outcomes are unknown or they were not sent (a timeout, a 5xx): run the same command again
  130  interrupted (Ctrl-C or SIGTERM): no new row was sent, the rows in flight were waited for and counted;
       run the same command again to finish
"""

_SHOWN_REASONS = 8


def _amount(outcome: IngestOutcome) -> int:
    text = outcome.amount_xusd
    if text is None or not text.lstrip("-").isdigit() or len(text) > 40:
        return 0
    return int(text)


def _passing(error: Optional[VlunaError]) -> bool:
    """A failure that says nothing about the row's data (a 5xx, a connection error, a 408 or 429)."""
    if isinstance(error, APIError):
        return error.status >= 500 or error.status in (408, 429)
    return not isinstance(error, InputValidationError)


def reason_of(outcome: IngestOutcome) -> str:
    """A short, countable reason for a row that was not recorded."""
    error = outcome.error
    if outcome.status == "invalid":
        field = error.field if isinstance(error, InputValidationError) else None
        return f"invalid {field}" if field else "invalid row"
    if outcome.status == "not_sent":
        return "not sent"
    if isinstance(error, APIError):
        return f"HTTP {error.status} {error.code or type(error).__name__}"
    return type(error).__name__ if error is not None else outcome.status


@attrs.define
class Tally:
    """Counts of one run."""

    rows: int = 0
    new: int = 0
    replayed: int = 0
    unattributed: int = 0
    duplicate: int = 0
    invalid: int = 0
    refused: int = 0
    failed: int = 0
    unknown: int = 0
    not_sent: int = 0
    priced_new: int = 0
    priced_replayed: int = 0
    priced_unattributed: int = 0
    last_line: int = 0
    reasons: dict[str, int] = attrs.field(factory=dict)

    def add(self, outcome: IngestOutcome, attribution: Attribution) -> None:
        """Count one outcome (``attribution`` matters for recorded rows only)."""
        self.rows += 1
        if isinstance(outcome.ref, int):
            self.last_line = max(self.last_line, outcome.ref)
        status = outcome.status
        if status == "recorded":
            amount = _amount(outcome)
            if attribution == "replayed":
                self.replayed += 1
                self.priced_replayed += amount
            elif attribution == "unattributed":
                self.unattributed += 1
                self.priced_unattributed += amount
            else:
                self.new += 1
                self.priced_new += amount
            return
        if status == "duplicate":
            self.duplicate += 1
            return
        if status == "invalid":
            self.invalid += 1
        elif status == "failed":
            if _passing(outcome.error):
                self.failed += 1
            else:
                self.refused += 1
        elif status == "unknown":
            self.unknown += 1
        else:
            self.not_sent += 1
        reason = reason_of(outcome)
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    @property
    def recorded(self) -> int:
        """Rows recorded, however attributed."""
        return self.new + self.replayed + self.unattributed

    def exit_code(self, *, stopped: Optional[BaseException], interrupted: bool) -> int:
        """The exit status (see :data:`EXIT_HELP`)."""
        if interrupted:
            return EXIT_INTERRUPTED
        if stopped is not None:
            return EXIT_USAGE
        if self.unknown or self.not_sent or self.failed:
            return EXIT_RERUN
        if self.invalid or self.refused:
            return EXIT_REFUSED
        return EXIT_OK


@attrs.define
class RunFacts:
    """What the summary says besides the counts."""

    file: str
    dry_run: bool
    seconds: float
    attributed: bool  # a journal told replays from new charges
    errors_file: Optional[str]
    errors_count: int
    stopped: Optional[BaseException] = None
    interrupted: bool = False
    journal_note: Optional[str] = None


def summary_data(tally: Tally, facts: RunFacts) -> dict[str, Any]:
    """The ``--json`` summary."""
    rate = tally.rows / facts.seconds if facts.seconds > 0 else 0.0
    return {
        "file": facts.file,
        "dry_run": facts.dry_run,
        "rows": tally.rows,
        "recorded": tally.new,
        "replayed": tally.replayed,
        "unattributed": tally.unattributed,
        "duplicate": tally.duplicate,
        "invalid": tally.invalid,
        "refused": tally.refused,
        "failed": tally.failed,
        "unknown": tally.unknown,
        "not_sent": tally.not_sent,
        "priced_xusd": str(tally.priced_new + tally.priced_replayed + tally.priced_unattributed),
        "recorded_priced_xusd": str(tally.priced_new),
        "replayed_priced_xusd": str(tally.priced_replayed),
        "unattributed_priced_xusd": str(tally.priced_unattributed),
        "reasons": dict(sorted(tally.reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "attributed": facts.attributed,
        "journal_note": facts.journal_note,
        "last_line": tally.last_line,
        "seconds": round(facts.seconds, 3),
        "rows_per_second": round(rate, 1),
        "errors_file": facts.errors_file,
        "stopped": error_json(facts.stopped) if facts.stopped is not None else None,
        "interrupted": facts.interrupted,
        "exit_status": tally.exit_code(stopped=facts.stopped, interrupted=facts.interrupted),
    }


def summary_text(tally: Tally, facts: RunFacts) -> str:
    """The summary for people."""
    if facts.dry_run:
        valid = tally.recorded
        lines = [
            f"dry run: {tally.rows} rows checked, {valid} valid, {tally.invalid} invalid, "
            f"{tally.duplicate} duplicate; nothing was sent"
        ]
    else:
        rate = tally.rows / facts.seconds if facts.seconds > 0 else 0.0
        lines = [f"{tally.rows} rows in {facts.seconds:.2f} s ({rate:.0f} rows/s)"]
        if facts.attributed:
            lines += [
                f"  recorded      {tally.new}  (new charges, {tally.priced_new} xusd)",
                f"  replayed      {tally.replayed}  (charged by an earlier run, not again; "
                f"{tally.priced_replayed} xusd)",
            ]
            if tally.unattributed:
                lines.append(
                    f"  unattributed  {tally.unattributed}  (in flight when an earlier run ended: charged once, by it "
                    f"or by this run, which cannot be told; {tally.priced_unattributed} xusd)"
                )
        else:
            lines.append(
                f"  recorded      {tally.unattributed + tally.new + tally.replayed}  (new charges or replays: without "
                f"a journal they cannot be told apart; {tally.priced_unattributed + tally.priced_new} xusd)"
            )
        lines += [
            f"  duplicate     {tally.duplicate}  (repeats of an earlier row of the file: counted once)",
            f"  invalid       {tally.invalid}  (refused before sending)",
            f"  refused       {tally.refused}  (refused by the server for their data)",
            f"  failed        {tally.failed}  (not recorded for a passing reason: run again)",
            f"  unknown       {tally.unknown}  (may have been recorded: run again to settle them)",
            f"  not sent      {tally.not_sent}",
        ]
    if tally.reasons:
        ranked = sorted(tally.reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{reason}: {count}" for reason, count in ranked[:_SHOWN_REASONS])
        more = f", and {len(ranked) - _SHOWN_REASONS} more reasons" if len(ranked) > _SHOWN_REASONS else ""
        lines.append(f"  reasons: {shown}{more}")
    if facts.errors_file:
        lines.append(f"  {facts.errors_count} row(s) written to {facts.errors_file}")
    if facts.journal_note:
        lines.append(f"  note: {facts.journal_note}")
    if facts.stopped is not None:
        status = f" (HTTP {facts.stopped.status})" if isinstance(facts.stopped, APIError) else ""
        lines.append(
            f"stopped after line {tally.last_line}{status}: {error_line(facts.stopped)}; later rows were not sent"
        )
    if facts.interrupted:
        lines.append(
            f"interrupted after line {tally.last_line}: run the same command again to finish (no double charge)"
        )
    return "\n".join(lines)
