"""``import vluna_client.testing`` (and its pytest plugin, loaded into every user's test run) stays light.

Each check runs in a fresh interpreter: this test session has long since imported the whole client.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import vluna_client

SRC = Path(vluna_client.__file__).resolve().parent.parent

SCRIPT = """
import json, sys
import {module}
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("module", ["vluna_client.testing", "vluna_client.testing.pytest_plugin"])
def test_importing_the_emulator_loads_neither_requests_nor_the_client(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(module=module)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(SRC), "PATH": ""},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert module in loaded
    assert "requests" not in loaded
    assert "vluna_client._client" not in loaded
    client_modules = {name for name in loaded if name.startswith("vluna_client.")}
    # The package's __init__ names its version from a leaf module of one constant; nothing else outside testing.
    outside = sorted(name for name in client_modules if not name.startswith("vluna_client.testing"))
    assert outside == ["vluna_client._version"], outside


def test_the_client_still_loads_on_first_use() -> None:
    script = (
        "import sys, vluna_client\n"
        "assert 'requests' not in sys.modules\n"
        "from vluna_client import ServiceClient, RetryPolicy\n"
        "assert ServiceClient.__module__ == 'vluna_client._client'\n"
        "assert 'requests' not in sys.modules  # the transport loads it on the first request\n"
        "assert 'ServiceClient' in dir(vluna_client)\n"
        "try:\n"
        "    vluna_client.NoSuchName\n"
        "except AttributeError:\n"
        "    print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(SRC), "PATH": ""},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
