"""Fixtures of the API tests: one ServiceClient and one BearerClient pointed at a mocked deployment."""

from __future__ import annotations

import pytest

from support.apispec import BASE_BEARER, BASE_SERVICE, KEY_ID, REALM, SECRET_B64, TOKEN
from vluna_client import NO_RETRIES, BearerClient, ServiceClient


@pytest.fixture
def service_client():
    client = ServiceClient(
        base_url=BASE_SERVICE, realm_id=REALM, key_id=KEY_ID, key_secret=SECRET_B64, retry=NO_RETRIES
    )
    yield client
    client.close()


@pytest.fixture
def bearer_client():
    client = BearerClient(base_url=BASE_BEARER, realm_id=REALM, access_token=TOKEN, retry=NO_RETRIES)
    yield client
    client.close()


@pytest.fixture
def client_for(service_client, bearer_client):
    """The client an operation of the given client kind is called on."""
    return {"service": service_client, "bearer": bearer_client}.__getitem__
