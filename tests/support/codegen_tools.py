"""The code generator's modules for the codegen tests, imported as the ``codegen`` package of the checkout.

``codegen/`` sits at the root of the checkout, outside ``src/``: the package is never installed, so the tests make
the checkout's root importable (once) and import ``codegen.<name>`` from it.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load(name: str) -> ModuleType:
    """The module ``codegen.<name>`` of this checkout."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))  # last, so it never shadows the vluna_client under test
    module = importlib.import_module(f"codegen.{name}")
    where = Path(module.__file__ or "").resolve()
    assert ROOT / "codegen" in where.parents, f"imported codegen.{name} from {where}, not from this checkout"
    return module
