"""Exceptions the emulator raises internally to produce the server's error replies."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

__all__ = ["HttpError", "UnexpectedError", "invalid_input"]


class HttpError(Exception):
    """An error the server raises as an HTTP exception: becomes ``{ok:false, code, message, meta, hints?}``.

    Args:
        status: HTTP status.
        code: error code (``AUTH.*``, ``VALIDATION.*``...).
        message: human-readable message exactly as the server words it.
        meta: extra ``meta`` fields (``status`` is always added).
        hints: gate hints to attach (rate limit, budget...).
        headers: extra response headers (only the emulator adds any, e.g. ``Retry-After``).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        meta: Optional[Mapping[str, Any]] = None,
        hints: Optional[List[Dict[str, Any]]] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.meta = dict(meta) if meta else {}
        self.hints = list(hints) if hints else []
        self.headers = dict(headers) if headers else {}


class UnexpectedError(Exception):
    """A non-HTTP failure inside the server (e.g. a database error): becomes a bare 500 ``SERVER.UNEXPECTED``.

    ``str(error)`` is what the server would put into a batch item's ``error.details``.
    """


def invalid_input(message: str, status: int = 422) -> HttpError:
    """The server's most common validation error: ``VALIDATION.INVALID_INPUT`` (422 unless told otherwise)."""
    return HttpError(status, "VALIDATION.INVALID_INPUT", message)
