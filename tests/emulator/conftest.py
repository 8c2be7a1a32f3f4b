from __future__ import annotations

from typing import Iterator

import pytest

from support.emulator_wire import Wire
from vluna_client.testing import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def wire(emu: Emulator) -> Iterator[Wire]:
    client = Wire(emu)
    try:
        yield client
    finally:
        client.close()
