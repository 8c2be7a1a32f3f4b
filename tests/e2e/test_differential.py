"""The money scenario on the deployment and on a fresh bundled emulator: every figure must be the same.

Needs a deployment (the ``VLUNA_*`` variables); ``nox -s differential`` runs it. Against the emulator itself it
would only compare the emulator with itself, so it is skipped there.
"""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from vluna_client import ServiceClient
from vluna_client.testing import Emulator

from .money_scenario import run


def differences(expected: Any, got: Any, path: str = "") -> List[str]:
    """Every path where two figure trees differ, with both values."""
    if isinstance(expected, dict) and isinstance(got, dict):
        found: List[str] = []
        for key in sorted(set(expected) | set(got)):
            found += differences(expected.get(key), got.get(key), f"{path}.{key}")
        return found
    return [] if expected == got else [f"{path}: deployment {expected!r}, emulator {got!r}"]


@pytest.mark.differential
def test_money_figures_are_equal_on_the_emulator(service: ServiceClient, on_emulator: bool) -> None:
    if on_emulator:
        pytest.skip("the deployment is the bundled emulator: nothing to compare it with")
    deployment: Dict[str, Any] = run(service)
    # A default community realm is prepaid and prices only the meters given a price.
    with Emulator(billing_mode="prepaid", price_per_unit_xusd=None) as emu, emu.service_client() as local:
        emulator = run(local)
    assert differences(deployment, emulator) == []
    assert deployment["commit"]["amount_xusd"] == "130"
