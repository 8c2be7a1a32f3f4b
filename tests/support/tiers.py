"""Which tier each folder of tests/ is: ``unit`` (in process, no network), ``integration`` (127.0.0.1), ``e2e``."""

from __future__ import annotations

from pathlib import Path

import pytest

#: tests/
ROOT = Path(__file__).resolve().parents[1]

#: The tier of every folder of tests/ that holds tests.
TIERS = {
    "unit": "unit",
    "api": "unit",
    "codegen": "unit",
    "emulator": "integration",
    "integration": "integration",
    "contrib": "integration",
    "llm": "integration",
    "cli": "integration",
    "chaos": "integration",
    "scale": "integration",
    "spark": "integration",
    "docs": "integration",
    "e2e": "e2e",
}
TIER_MARKERS = frozenset(TIERS.values())


def tier_of(path: Path) -> str:
    """The tier of a test file, from the first folder below tests/.

    Raises:
        pytest.UsageError: the file is in no listed folder.
    """
    parts = path.resolve().relative_to(ROOT).parts
    tier = TIERS.get(parts[0]) if len(parts) > 1 else None
    if tier is None:
        raise pytest.UsageError(f"{path}: tests live in one of the folders of TIERS in tests/support/tiers.py")
    return tier
