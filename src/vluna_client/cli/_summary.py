"""What ``vluna usage ingest`` reports: exact counts of what was charged, and an exit status that says what to do."""

from __future__ import annotations

from typing import Any, Optional

import attrs

from .._bulk import IngestOutcome, OutcomeTally, priced_amount
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


def _counted_reason(outcome: IngestOutcome) -> Optional[str]:
    """The reason the summary counts a row under: every row not recorded, except a duplicate (it was, once)."""
    return None if outcome.status in ("recorded", "duplicate") else reason_of(outcome)


def _attribution_counts() -> dict[Attribution, int]:
    return {"new": 0, "replayed": 0, "unattributed": 0}


@attrs.define
class Tally:
    """Counts of one run: the outcomes by status, and what only the command tells apart.

    A recorded row is a new charge, a replay of an earlier run's or unattributed (from the journal); a failed row
    was refused for its data, or failed for a passing reason (a 5xx, a lost connection: run again).
    """

    outcomes: OutcomeTally = attrs.field(factory=lambda: OutcomeTally(reason=_counted_reason))
    recorded_as: dict[Attribution, int] = attrs.field(factory=_attribution_counts)
    priced_as: dict[Attribution, int] = attrs.field(factory=_attribution_counts)
    refused: int = 0
    last_line: int = 0

    def add(self, outcome: IngestOutcome, attribution: Attribution) -> None:
        """Count one outcome (``attribution`` matters for recorded rows only)."""
        self.outcomes.add(outcome)
        if isinstance(outcome.ref, int):
            self.last_line = max(self.last_line, outcome.ref)
        if outcome.status == "recorded":
            self.recorded_as[attribution] += 1
            self.priced_as[attribution] += priced_amount(outcome)
        elif outcome.status == "failed" and not _passing(outcome.error):
            self.refused += 1

    @property
    def rows(self) -> int:
        """Rows counted."""
        return self.outcomes.rows

    @property
    def new(self) -> int:
        """Rows recorded as new charges."""
        return self.recorded_as["new"]

    @property
    def replayed(self) -> int:
        """Rows an earlier run charged (answered as a replay, not charged again)."""
        return self.recorded_as["replayed"]

    @property
    def unattributed(self) -> int:
        """Rows recorded that the journal cannot attribute (or there is no journal)."""
        return self.recorded_as["unattributed"]

    @property
    def duplicate(self) -> int:
        """Rows repeating an earlier row of the file (not sent)."""
        return self.outcomes.count("duplicate")

    @property
    def invalid(self) -> int:
        """Rows refused before sending."""
        return self.outcomes.count("invalid")

    @property
    def failed(self) -> int:
        """Rows not recorded for a passing reason (run again)."""
        return self.outcomes.count("failed") - self.refused

    @property
    def unknown(self) -> int:
        """Rows that may have been recorded."""
        return self.outcomes.count("unknown")

    @property
    def not_sent(self) -> int:
        """Rows never sent because the run stopped."""
        return self.outcomes.count("not_sent")

    @property
    def reasons(self) -> dict[str, int]:
        """Rows not recorded (duplicates aside), by reason."""
        return self.outcomes.reasons

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
    priced = tally.priced_as
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
        "priced_xusd": str(tally.outcomes.priced_xusd),
        "recorded_priced_xusd": str(priced["new"]),
        "replayed_priced_xusd": str(priced["replayed"]),
        "unattributed_priced_xusd": str(priced["unattributed"]),
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
    priced = tally.priced_as
    priced_new, priced_replayed, priced_unattributed = priced["new"], priced["replayed"], priced["unattributed"]
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
                f"  recorded      {tally.new}  (new charges, {priced_new} xusd)",
                f"  replayed      {tally.replayed}  (charged by an earlier run, not again; {priced_replayed} xusd)",
            ]
            if tally.unattributed:
                lines.append(
                    f"  unattributed  {tally.unattributed}  (in flight when an earlier run ended: charged once, by it "
                    f"or by this run, which cannot be told; {priced_unattributed} xusd)"
                )
        else:
            lines.append(
                f"  recorded      {tally.unattributed + tally.new + tally.replayed}  (new charges or replays: without "
                f"a journal they cannot be told apart; {priced_unattributed + priced_new} xusd)"
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
