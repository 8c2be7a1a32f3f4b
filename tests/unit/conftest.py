"""Fixtures of the unit tests (helpers and the independent verifier live in vluna_unit_support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, List

import pytest
import requests
import responses
from vluna_unit_support import BEARER_BASE_URL, BEARER_TOKEN, REALM, LocalServer, make_client

from vluna_client import BearerClient, ServiceClient

# -- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> List[float]:
    """Every test: backoff waits are recorded, never slept."""
    recorded: List[float] = []
    monkeypatch.setattr("vluna_client._client._sleep", recorded.append)
    return recorded


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client() -> Iterator[ServiceClient]:
    c = make_client()
    yield c
    c.close()


@pytest.fixture
def bearer_client() -> Iterator[BearerClient]:
    c = BearerClient(base_url=BEARER_BASE_URL, realm_id=REALM, access_token=BEARER_TOKEN)
    yield c
    c.close()


@pytest.fixture
def sent_timeouts(monkeypatch: pytest.MonkeyPatch) -> List[Any]:
    """The ``timeout`` keyword every ``requests.Session.send`` call received (``MISSING`` if none)."""
    seen: List[Any] = []
    original = requests.Session.send

    def spy(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        seen.append(kwargs.get("timeout", "MISSING"))
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", spy)
    return seen


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()
