"""pytest fixtures for the Vluna emulator (registered through the ``pytest11`` entry point).

Fixtures:
    vluna_emulator: a started :class:`~vluna_client.testing.Emulator`, stopped after the test.
    vluna_service_client: a ``vluna_client.ServiceClient`` bound to that emulator, closed after the test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

from ._emulator import Emulator

if TYPE_CHECKING:
    import vluna_client

__all__ = ["vluna_emulator", "vluna_service_client"]


@pytest.fixture
def vluna_emulator() -> Iterator[Emulator]:
    """A running emulator on an ephemeral 127.0.0.1 port, stopped (threads joined) at teardown."""
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def vluna_service_client(vluna_emulator: Emulator) -> Iterator[vluna_client.ServiceClient]:
    """A ``ServiceClient`` configured for :func:`vluna_emulator`, closed at teardown."""
    client = vluna_emulator.service_client()
    try:
        yield client
    finally:
        client.close()
