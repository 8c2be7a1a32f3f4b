from __future__ import annotations

from typing import Iterator, List

import pytest

import vluna_client
from support.local_server import LocalServer
from support.mock_deployment import SLEEPS
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


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 must not go through a proxy the environment names."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
def server(no_proxy: None) -> Iterator[LocalServer]:
    """A recording HTTP server on 127.0.0.1 (an ephemeral port), for what only the real wire shows."""
    srv = LocalServer()
    yield srv
    srv.close()


@pytest.fixture
def sleeps(no_proxy: None) -> List[float]:
    """The backoff waits of clients from ``support.mock_deployment.make_client``: recorded, never slept."""
    SLEEPS.clear()
    return SLEEPS
