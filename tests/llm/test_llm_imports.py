"""The LLM adapters import no provider SDK until one is used; the runtime and mappers need none at all."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
import {module}
print(sorted(n for n in sys.modules if n.split(".")[0] in ("openai", "anthropic", "langchain_core", "httpx")))
"""


@pytest.mark.parametrize(
    "module",
    ["vluna_client.contrib.openai", "vluna_client.contrib.anthropic", "vluna_client.contrib.llm_usage"],
)
def test_adapter_modules_load_no_provider_sdk(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"
