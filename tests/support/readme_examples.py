"""Shared by the contrib tests: the payer ids, and the README's examples (the tests run exactly what it shows)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

ORG = "org_acme"
USER = "user_42"

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks(heading: str) -> list[str]:
    """The ```python blocks of the README section ``### <heading>``, in order."""
    blocks: list[str] = []
    inside, fence = False, None
    current: list[str] = []
    for line in README.read_text(encoding="utf-8").splitlines():
        if fence is None and line.startswith("#"):
            if inside:
                break
            inside = line == f"### {heading}"
        elif inside and line.startswith("```"):
            if fence is None:
                fence, current = line[3:], []
            else:
                if fence == "python":
                    blocks.append("\n".join(current) + "\n")
                fence = None
        elif fence is not None:
            current.append(line)
    if not blocks:
        raise LookupError(f"README.md has no python example under ### {heading}")
    return blocks


def load_module(heading: str, index: int, name: str) -> types.ModuleType:
    """Run one README block as a fresh module registered as ``name`` (so dotted paths can name it)."""
    module = types.ModuleType(name)
    module.__file__ = str(README)
    sys.modules[name] = module
    exec(compile(python_blocks(heading)[index], f"README.md ({heading} #{index})", "exec"), module.__dict__)  # noqa: S102
    return module
