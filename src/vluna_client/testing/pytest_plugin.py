"""pytest fixtures for the Vluna emulator (registered through the ``pytest11`` entry point).

Fixtures:
    vluna_emulator: a started :class:`~vluna_client.testing.Emulator`, stopped after the test.
    vluna_service_client: a ``vluna_client.ServiceClient`` bound to that emulator, closed after the test. It
        retries like the default policy but with millisecond backoffs (:data:`FAST_RETRY_SETTINGS`), so tests
        that inject faults do not sleep; build your own with ``vluna_emulator.service_client(retry=...)``.
    fake_llm: a started :class:`~vluna_client.testing.FakeLLM` (OpenAI and Anthropic wire formats), stopped after
        the test: point ``openai.OpenAI(base_url=fake_llm.openai_base_url)`` or
        ``anthropic.Anthropic(base_url=fake_llm.url)`` at it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

from ._emulator import Emulator
from ._fake_llm import FakeLLM

if TYPE_CHECKING:
    import vluna_client

__all__ = ["FAST_RETRY_SETTINGS", "fake_llm", "vluna_emulator", "vluna_service_client"]

FAST_RETRY_SETTINGS = {"backoff_base": 0.001, "backoff_max": 0.01}
"""``RetryPolicy`` overrides of the ``vluna_service_client`` fixture: the default attempts, tiny waits."""


@pytest.fixture
def vluna_emulator() -> Iterator[Emulator]:
    """A running emulator on an ephemeral 127.0.0.1 port, stopped (threads joined) at teardown."""
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def vluna_service_client(vluna_emulator: Emulator) -> Iterator[vluna_client.ServiceClient]:
    """A ``ServiceClient`` configured for :func:`vluna_emulator`, closed at teardown."""
    import vluna_client  # only now: importing this plugin must not load the client (nor requests)

    fast = vluna_client.RetryPolicy(
        backoff_base=FAST_RETRY_SETTINGS["backoff_base"], backoff_max=FAST_RETRY_SETTINGS["backoff_max"]
    )
    client = vluna_emulator.service_client(retry=fast)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """A fake LLM provider on an ephemeral 127.0.0.1 port, stopped at teardown (see :class:`FakeLLM`)."""
    with FakeLLM() as fake:
        yield fake
