from __future__ import annotations

from typing import Iterator

import pytest

import vluna_client
from vluna_client.testing import Emulator
from vluna_client.testing.pytest_plugin import vluna_emulator, vluna_service_client  # noqa: F401 - fixtures

# Quick retries keep the scenarios fast; the attempts and keys are what the tests look at.
FAST_RETRY = vluna_client.RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.05, max_elapsed=10.0)


@pytest.fixture
def emu(vluna_emulator: Emulator) -> Emulator:  # noqa: F811 - the imported fixture is used by name
    return vluna_emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[vluna_client.ServiceClient]:
    with emu.service_client(retry=FAST_RETRY, timeout=5.0) as service_client:
        yield service_client
