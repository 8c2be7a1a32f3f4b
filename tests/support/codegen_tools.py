"""The code generator's own modules, loaded from ``codegen/`` by file path for the codegen tests.

``codegen/`` is a folder of scripts, not a package: its modules import each other by bare name (``from resolver
import ...``), as they do when ``python codegen/generate.py`` runs. Loading them here registers each under that
name in ``sys.modules``, so those imports resolve without putting ``codegen/`` on ``sys.path``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Optional

CODEGEN = Path(__file__).resolve().parents[2] / "codegen"


def load(name: str, *, as_name: Optional[str] = None) -> ModuleType:
    """Load ``codegen/<name>.py`` once, registered as ``as_name`` (default: its own bare name)."""
    registered = as_name or name
    if registered in sys.modules:
        return sys.modules[registered]
    spec = importlib.util.spec_from_file_location(registered, CODEGEN / f"{name}.py")
    assert spec is not None, f"codegen/{name}.py is missing"
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[registered] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[registered]
        raise
    return module
