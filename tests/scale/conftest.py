from __future__ import annotations

from typing import Iterator

import pytest

from vluna_client.testing import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    # Replays of ingest are answered (as the server does): scale tests re-run partitions on purpose.
    with Emulator() as emulator:
        yield emulator
