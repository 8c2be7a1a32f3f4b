"""Fixtures for the LLM adapters: the emulator with per-meter prices, the fake provider, real SDK clients."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

import vluna_client
from vluna_client.testing import Emulator, FakeLLM

FAST_RETRY = vluna_client.RetryPolicy(max_attempts=4, backoff_base=0.001, backoff_max=0.01, max_elapsed=10.0)

# xusd per token, per meter: every kind of token has its own price, so a token in the wrong meter changes the sum.
PRICES = {"input": 3, "output": 11, "cached_input": 1, "cache_write": 5, "reasoning": 17}


def price(feature: str, **tokens: int) -> int:
    """The amount the emulator must charge for these tokens of ``feature``."""
    return sum(PRICES[kind] * count for kind, count in tokens.items())


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("VLUNA_", "OPENAI_", "ANTHROPIC_")):
            monkeypatch.delenv(name)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        for feature in ("llm.chat", "llm.claude", "llm.lc", "llm.gpt4o", "llm.o3"):
            for kind, unit_price in PRICES.items():
                emulator.set_price(f"{feature}.{kind}", unit_price)
        yield emulator


@pytest.fixture
def vc(emu: Emulator) -> Iterator[vluna_client.ServiceClient]:
    with emu.service_client(retry=FAST_RETRY, timeout=5.0) as client:
        yield client


@pytest.fixture
def fake(fake_llm: FakeLLM) -> FakeLLM:
    return fake_llm


def lines(commit: object) -> dict[str, int]:
    """A commit record's meters as {meter_code: quantity}."""
    return {line.meter_code: line.quantity_minor for line in commit.lines}  # type: ignore[attr-defined]
