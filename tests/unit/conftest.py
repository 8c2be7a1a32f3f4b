"""Fixtures of the unit tests (helpers live in tests/support: mock_deployment, svcauth)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, List

import pytest
import requests
import responses

from support.mock_deployment import BEARER_BASE_URL, BEARER_TOKEN, REALM, SLEEPS, fast_retrier, make_client
from vluna_client import BearerClient, ServiceClient

# -- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def sleeps() -> List[float]:
    """Every test: backoff waits are recorded, never slept."""
    SLEEPS.clear()
    return SLEEPS


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
    c = BearerClient(base_url=BEARER_BASE_URL, realm_id=REALM, access_token=BEARER_TOKEN, retry=fast_retrier())
    yield c
    c.close()


@pytest.fixture
def sent_timeouts(rsps: responses.RequestsMock) -> Iterator[List[Any]]:
    """The ``timeout`` keyword every ``HTTPAdapter.send`` call received (``MISSING`` if none).

    It wraps the adapter method that ``responses`` has already patched and is undone before ``responses`` puts the
    real one back (monkeypatch would restore its wrapper later, leaking the mock into the following tests).
    """
    seen: List[Any] = []
    original = requests.adapters.HTTPAdapter.send

    def spy(self: requests.adapters.HTTPAdapter, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        seen.append(kwargs.get("timeout", "MISSING"))
        return original(self, request, **kwargs)

    requests.adapters.HTTPAdapter.send = spy  # type: ignore[method-assign,assignment]
    try:
        yield seen
    finally:
        requests.adapters.HTTPAdapter.send = original  # type: ignore[method-assign]
