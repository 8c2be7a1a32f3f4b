"""Progress of a long ingest: a tqdm bar on a terminal when tqdm is installed, else a plain line now and then."""

from __future__ import annotations

import importlib
import sys
import time
from typing import IO, Any, Optional

from .._bulk import IngestProgress

_PLAIN_EVERY_S = 5.0


def _line(p: IngestProgress) -> str:
    return (
        f"vluna: {p.done} rows done (recorded {p.recorded}, failed {p.failed + p.invalid}, unknown {p.unknown}), "
        f"{p.rows_per_second:.0f} rows/s, {p.workers} workers"
    )


class Progress:
    """Shows :class:`IngestProgress` updates on ``stream`` (stderr), never on stdout.

    Args:
        total: Rows expected, when known (for the bar).
        enabled: ``False`` shows nothing.
        stream: Where to write.
    """

    def __init__(self, *, total: Optional[int], enabled: bool = True, stream: Optional[IO[str]] = None) -> None:
        self._stream = stream or sys.stderr
        self._enabled = enabled
        self._bar: Any = None
        self._last = time.monotonic()
        if enabled and self._stream.isatty():
            try:
                # The optional `vluna-client[cli]` extra; looked up by name, so type checking needs no stubs.
                tqdm: Any = importlib.import_module("tqdm").tqdm
            except ImportError:
                pass
            else:
                self._bar = tqdm(total=total, unit="row", file=self._stream, dynamic_ncols=True, leave=True)

    def update(self, p: IngestProgress) -> None:
        """Take the latest counters."""
        if not self._enabled:
            return
        if self._bar is not None:
            self._bar.update(p.done - self._bar.n)
            self._bar.set_postfix(failed=p.failed + p.invalid, unknown=p.unknown, workers=p.workers, refresh=False)
            return
        now = time.monotonic()
        if now - self._last >= _PLAIN_EVERY_S:
            self._last = now
            print(_line(p), file=self._stream, flush=True)

    def note(self, text: str) -> None:
        """Print one line on the stream (above the bar when there is one), even with progress turned off."""
        if self._bar is not None:
            self._bar.write(text, file=self._stream)
        else:
            print(text, file=self._stream, flush=True)

    def close(self) -> None:
        """Finish the bar (the summary follows it)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
