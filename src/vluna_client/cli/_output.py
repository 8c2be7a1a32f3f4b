"""What the CLI prints: human text by default, JSON with ``--json``; errors as one line on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

from .._errors import APIError, VlunaError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def error_line(exc: BaseException) -> str:
    """One line naming the error: its class and message (errors never carry a secret or a token)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"vluna: {type(exc).__name__}: {text}"


def error_json(exc: BaseException) -> dict[str, Any]:
    """The error as JSON-ready data."""
    out: dict[str, Any] = {"type": type(exc).__name__, "message": " ".join(str(exc).split())}
    if isinstance(exc, APIError):
        out.update(status=exc.status, code=exc.code, request_id=exc.request_id)
    if isinstance(exc, VlunaError):
        out["may_have_applied"] = exc.may_have_applied
        key = getattr(exc, "idempotency_key", None)
        if key:
            out["idempotency_key"] = key
    return out


def emit(as_json: bool, human: str, data: Any) -> None:
    """Print the command's answer on stdout."""
    if as_json:
        print(json.dumps(data, ensure_ascii=False, sort_keys=True))
    else:
        print(human)


def fail(as_json: bool, exc: BaseException, code: int = EXIT_FAILED, *, hint: Optional[str] = None) -> int:
    """Report an error (one line on stderr; a JSON object on stdout with ``--json``) and return the exit code."""
    line = error_line(exc) + (f" ({hint})" if hint else "")
    print(line, file=sys.stderr)
    if as_json:
        print(json.dumps({"ok": False, "error": error_json(exc)}, ensure_ascii=False, sort_keys=True))
    return code
