"""The glue stays optional: importing the client loads no framework, and the Celery helper never imports Celery."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import {module}
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("flask", "django", "celery", "kombu"))
contrib = sorted(name for name in sys.modules if name.startswith("vluna_client.contrib"))
print(repr((loaded, contrib)))
"""


def probe(module: str) -> tuple[list[str], list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded, contrib = eval(out)  # noqa: S307 - our own repr
    return loaded, contrib


def test_import_vluna_client_loads_no_contrib_module_and_no_framework() -> None:
    assert probe("vluna_client") == ([], [])


def test_the_celery_helper_does_not_import_celery() -> None:
    loaded, contrib = probe("vluna_client.contrib.celery")
    assert loaded == []
    assert "vluna_client.contrib.flask" not in contrib
    assert "vluna_client.contrib.django" not in contrib
