"""``vluna_client.models`` is the public import path of every generated model; the generated package stays private."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

import vluna_client._generated.models as generated
from vluna_client import models


def _generated_models() -> dict[tuple[str, str], object]:
    """Every class and type alias that a generated model module assigns at its top level (read from its source)."""
    found = {}
    for info in pkgutil.iter_modules(generated.__path__):
        module = importlib.import_module(f"{generated.__name__}.{info.name}")
        tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                name = node.name
            elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
            else:
                continue
            if name[:1].isupper():
                found[(info.name, name)] = getattr(module, name)
    return found


def test_every_generated_model_has_a_public_name() -> None:
    found = _generated_models()
    by_value: Dict[int, List[str]] = {}
    for public in models.__all__:
        by_value.setdefault(id(getattr(models, public)), []).append(public)
    missing = [f"{module}.{name}" for (module, name), value in found.items() if id(value) not in by_value]
    assert missing == []
    assert len(models.__all__) >= len({id(v) for v in found.values()})


def test_names_defined_by_several_documents_carry_the_documents_prefix() -> None:
    from vluna_client._generated.models import billing, gate, ops

    assert models.GateStatus is gate.Status
    assert models.BillingStatus is billing.Status
    assert models.OpsStatus is ops.Status
    assert "Status" not in models.__all__
    with pytest.raises(AttributeError, match="no model 'Status'"):
        models.Status  # noqa: B018 - ambiguous on its own, so not exported


def test_the_usual_models_import_by_their_own_names() -> None:
    from vluna_client._generated.models.gate import AuthorizeResponse, CommitResponse
    from vluna_client.models import AuthorizeResponse as public_authorize
    from vluna_client.models import CommitResponse as public_commit

    assert (public_authorize, public_commit) == (AuthorizeResponse, CommitResponse)
    assert "AuthorizeResponse" in dir(models)


def test_importing_the_models_module_loads_no_model_until_one_is_used() -> None:
    probe = (
        "import sys, vluna_client.models as m\n"
        "loaded = lambda: sorted(k for k in sys.modules if k.startswith('vluna_client._generated.models.'))\n"
        "assert loaded() == [], loaded()\n"
        "m.CommitResponse\n"
        "assert 'vluna_client._generated.models.gate' in loaded(), loaded()\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)
