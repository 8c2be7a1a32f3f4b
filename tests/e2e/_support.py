"""What the e2e suite shares: which operations are served, which a test covers, and what was really sent.

A test names the operations it covers with ``@covers("service gate.authorize", ...)``. ``test_coverage`` checks
that those names add up to exactly the served operations, and the ``_sent_what_it_covers`` fixture (conftest)
checks that a passing test really sent a request to each operation it names, so the list cannot claim more than
the suite does.
"""

from __future__ import annotations

import importlib
import re
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, TypeVar
from urllib.parse import urlsplit

import pytest

from vluna_client import RawResponse, RequestsTransport
from vluna_client._generated.operations import OPERATIONS

F = TypeVar("F", bound=Callable[..., Any])


def _operation(row: Tuple[str, ...]) -> Any:
    return getattr(importlib.import_module(row[3]), row[4])


def op_name(row: Tuple[str, ...]) -> str:
    """``"service gate.authorize"``: the surface, then the area attribute and method of the client."""
    return f"{row[0]} {row[1]}.{row[2]}"


SERVED = {op_name(row): row for row in OPERATIONS if not _operation(row).not_served}
# Routes whose handler sends its own reply: the community server answers them before the request's transaction
# commits, so a read sent at once can miss the write (reported; see CONTRIBUTING.md).
ANSWERED_EARLY = {name for name, row in SERVED.items() if _operation(row).retry == "answered"}
COMMIT_GRACE_SECONDS = 0.2
NOT_SERVED = {op_name(row) for row in OPERATIONS if _operation(row).not_served}


def covers(*names: str) -> Callable[[F], F]:
    """Mark a test as the one that exercises these operations against the deployment."""
    unknown = [name for name in names if name not in SERVED]
    if unknown:
        raise ValueError(f"not served operations: {unknown}")
    return pytest.mark.covers(*names)  # type: ignore[no-any-return]


def _template(path: str) -> re.Pattern[str]:
    return re.compile(".*" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")


# The most literal template wins: /features/needs-config before /features/{feature_id}.
_TEMPLATES = sorted(
    ((row[0], row[5], _template(row[6]), op_name(row)) for row in OPERATIONS),
    key=lambda entry: -len(re.sub(r"\[\^/\]\+", "", entry[2].pattern)),
)


def operation_for(surface: str, method: str, url: str) -> Optional[str]:
    """The operation a request on ``surface`` was for, by method and path template."""
    path = urlsplit(url).path
    for op_surface, op_method, pattern, name in _TEMPLATES:
        if op_surface == surface and op_method == method and pattern.match(path):
            return name
    return None


class Ledger:
    """Every request the suite's clients sent: ``(operation, HTTP status or None when no answer came)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: List[Tuple[Optional[str], Optional[int]]] = []
        self.server_header: Optional[str] = None

    def add(self, name: Optional[str], status: Optional[int]) -> None:
        with self._lock:
            self.sent.append((name, status))

    def since(self, mark: int) -> List[Tuple[Optional[str], Optional[int]]]:
        with self._lock:
            return list(self.sent[mark:])


class RecordingTransport:
    """The default transport, writing each attempt's operation and status into a :class:`Ledger`."""

    def __init__(self, surface: str, ledger: Ledger) -> None:
        self._inner = RequestsTransport()
        self._surface = surface
        self._ledger = ledger

    def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes, timeout: Any) -> RawResponse:
        name = operation_for(self._surface, method, url)
        try:
            raw = self._inner.send(method, url, headers, body, timeout)
        except Exception:
            self._ledger.add(name, None)
            raise
        self._ledger.add(name, raw.status)
        self._ledger.server_header = raw.header("Server")
        if name in ANSWERED_EARLY and 200 <= raw.status < 300 and self._ledger.server_header != "vluna-emulator":
            time.sleep(COMMIT_GRACE_SECONDS)
        return raw

    def close(self) -> None:
        self._inner.close()


def fresh(prefix: str) -> str:
    """A new code or id that no earlier run used (the suite can run again and again on one deployment)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def slug(prefix: str) -> str:
    """Like :func:`fresh`, in the ``[a-z0-9_.-]`` shape codes take."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def covered_by(module_names: List[str]) -> Dict[str, List[str]]:
    """Operation -> the tests in these modules that declare they cover it."""
    found: Dict[str, List[str]] = {}
    for module_name in module_names:
        module = importlib.import_module(module_name)
        for attr, value in vars(module).items():
            marks = getattr(value, "pytestmark", []) if attr.startswith("test") else []
            for mark in marks:
                if mark.name == "covers":
                    for name in mark.args:
                        found.setdefault(name, []).append(f"{module_name}.{attr}")
    return found
