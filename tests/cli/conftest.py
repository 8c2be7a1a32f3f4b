"""The ``vluna`` CLI's tests: an emulator in the test process (helpers in ``support.cli_runs``)."""

from __future__ import annotations

from typing import Iterator

import pytest

from vluna_client.testing import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator
