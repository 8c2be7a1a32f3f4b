"""A machine-readable signal an answer carries beside its data (``quota.remaining``, ``rate.limit``...).

Apart from :mod:`._result` so that the class is built by the first answer that carries a hint, not by every
process that imports the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs


@attrs.frozen
class Hint:
    """A machine-readable signal from the server, e.g. ``quota.remaining`` or ``rate.limit``.

    ``type`` names it; every other field the server sent is in ``fields`` and readable with ``hint["seconds"]``
    or ``hint.get("seconds")``. Hint numbers are JSON numbers (not strings).
    """

    type: str
    fields: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def from_wire(cls, raw: Any) -> Hint:
        """Build from one element of an envelope's ``hints`` array; tolerant of odd shapes."""
        if not isinstance(raw, Mapping):
            return cls(type="unknown", fields={"value": raw})
        fields = {k: v for k, v in raw.items() if k != "type"}
        return cls(type=str(raw.get("type", "unknown")), fields=fields)

    def get(self, key: str, default: Any = None) -> Any:
        """A field of the hint, or ``default``."""
        return self.fields.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]
