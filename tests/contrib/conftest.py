from __future__ import annotations

import os
from typing import Iterator

import pytest

from vluna_client.testing import Emulator


@pytest.fixture(autouse=True)
def _clean_vluna_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own VLUNA_* settings must not leak into (or rescue) these tests.
    for name in list(os.environ):
        if name.startswith("VLUNA_"):
            monkeypatch.delenv(name)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def vluna_env(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = emu.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
