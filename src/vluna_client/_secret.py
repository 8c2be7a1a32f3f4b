"""A wrapper that keeps a credential out of every repr, ``vars()`` dump and log line (a leaf: imports nothing)."""

from __future__ import annotations


class Secret:
    """Holds a credential so that no repr, vars() dump or log line can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The credential itself, for the Authorization header only."""
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"
