"""One call to a spec-driven operation and its answer: what :mod:`.resources` and :mod:`.rules` pass each other.

A leaf of the engine (it imports neither module), so the generic semantics and the server's rules around them
depend on it instead of on each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

from .._jsutil import JsonValue
from .._spec_data.spec_types import EmulatorOperation
from .._state import CallContext

__all__ = ["Answer", "SpecCall", "family_of"]

Answer = Tuple[int, JsonValue, Optional[Dict[str, Any]]]
"""``(status, data, meta)`` of a spec-driven operation."""


@dataclass
class SpecCall:
    """One call to a spec-driven operation: the operation's data, the caller, and validated inputs."""

    op: EmulatorOperation
    ctx: CallContext
    body: Dict[str, Any]
    query: Mapping[str, JsonValue]
    path_params: Dict[str, str]


def family_of(op: EmulatorOperation) -> str:
    """The operation's resource family; ``""`` for one that acts on none (``kind == "call"``), which stores nothing."""
    return op["family"] or ""
