"""Importing the package stays cheap: API areas and their models load on first use, and only those.

Run in a fresh interpreter, because this test session has long since imported every endpoint module.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vluna_client

# The tree this test session imports (PYTHONPATH=src), so the child interpreter runs the same code.
SRC = Path(vluna_client.__file__).resolve().parent.parent
GENERATED = SRC / "vluna_client" / "_generated"
PKG = "vluna_client._generated"

SCRIPT = r"""
import json, sys
import vluna_client

def loaded():
    return sorted(m for m in sys.modules if m == "vluna_client._generated" or m.startswith("vluna_client._generated."))

after_import = loaded()
if sys.argv[1] == "service":
    client = vluna_client.ServiceClient(base_url="https://vluna.test/mgt/v1", realm_id="r", key_id="pk-x",
                                        key_secret="c2VjcmV0c2VjcmV0c2VjcmV0")
else:
    client = vluna_client.BearerClient(base_url="https://vluna.test/api/v1", realm_id="r", access_token="t")
area = getattr(client, sys.argv[2])
assert type(area).__name__.endswith("Api")
print(json.dumps({"after_import": after_import, "after_area": loaded()}))
"""


def _run(client: str, area: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT, client, area],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _relative_imports(path: Path) -> set:
    """Generated modules a generated module imports (``from ..models import x`` / ``from . import x``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level and node.module in ("models", None):
            out |= {alias.name for alias in node.names}
    return out


def _model_imports(path: Path) -> set:
    """Model modules a generated module imports; the shared validation schemas module is not one."""
    return _relative_imports(path) - {"schemas"}


def expected_after(client: str, area: str) -> set:
    """The endpoint module of the area and, transitively, the model modules it imports."""
    endpoint = f"{client}_{area}"
    todo = list(_model_imports(GENERATED / "endpoints" / f"{endpoint}.py"))
    models = set()
    while todo:
        name = todo.pop()
        if name in models:
            continue
        models.add(name)
        todo += list(_model_imports(GENERATED / "models" / f"{name}.py"))
    # The request validation schemas (plain dicts) load with the first area whose requests use one.
    shared = {f"{PKG}.schemas"} if "schemas" in _relative_imports(GENERATED / "endpoints" / f"{endpoint}.py") else set()
    return (
        {PKG, f"{PKG}.areas", f"{PKG}.endpoints", f"{PKG}.endpoints.{endpoint}", f"{PKG}.models"}
        | shared
        | {f"{PKG}.models.{m}" for m in models}
    )


@pytest.mark.parametrize(("client", "area"), [("service", "gate"), ("bearer", "wallet")])
def test_areas_load_lazily(client, area):
    seen = _run(client, area)
    heavy = [m for m in seen["after_import"] if m.startswith((f"{PKG}.models", f"{PKG}.endpoints"))]
    assert heavy == [], f"`import vluna_client` loaded {heavy}"

    expected = expected_after(client, area)
    assert set(seen["after_area"]) == expected
    assert f"{PKG}.endpoints.{client}_{area}" in seen["after_area"]
    endpoints = [m for m in seen["after_area"] if m.startswith(f"{PKG}.endpoints.")]
    assert endpoints == [f"{PKG}.endpoints.{client}_{area}"], "another area's endpoint module was loaded"
    # e.g. the gate needs models.gate (and models.common, which it imports), never the large ops models.
    assert f"{PKG}.models.ops" not in seen["after_area"]
