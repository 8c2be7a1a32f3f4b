"""Open enums: a value the server adds after this client was generated is kept, never an error."""

from __future__ import annotations

from enum import Enum
from typing import Any


class OpenEnum(str, Enum):
    """A string enum that also accepts values it does not list.

    ``Rounding("floor")`` is the listed member; ``Rounding("stochastic")`` is a new pseudo-member whose
    ``value`` is ``"stochastic"``. It compares equal to its string, like every member, so code that branches on
    known members keeps working and unknown values flow through to logs and storage unchanged.
    """

    @classmethod
    def _missing_(cls, value: Any) -> OpenEnum | None:
        if not isinstance(value, str):
            return None
        # Build the pseudo-member the way Enum builds real ones, and cache it so identity is stable.
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return cls._value2member_map_.setdefault(value, member)  # type: ignore[return-value]

    @property
    def is_known(self) -> bool:
        """True for a member listed in the spec, False for a value the server added later."""
        return self._name_ in type(self).__members__

    def __str__(self) -> str:
        return str(self.value)
