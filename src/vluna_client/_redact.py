"""How credentials look in a repr: generated models and argument bundles use it for their token fields."""

from __future__ import annotations


def redacted(value: object) -> str:
    """What ``repr()`` shows for a credential field: ``<redacted>`` (or ``None`` when it is unset)."""
    return "None" if value is None else "<redacted>"
