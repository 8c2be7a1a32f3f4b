"""Find the ```python examples of a Markdown page and the markers written right before them.

A marker is an HTML comment on the line(s) just above the opening fence (blank lines between are allowed); any
other comment there is refused, so a misspelt marker cannot go unnoticed:

* ``<!-- fragment: REASON -->``: not run; REASON says why (e.g. needs a running Django project).
* ``<!-- continues -->``: runs in the same process as the page's previous example, after it, sharing its names.
* ``<!-- pytest -->``: the example is a pytest test module; it runs under pytest with the emulator fixtures.
* ``<!-- requires: MODULE -->``: runs only when MODULE can be imported (an optional extra such as flask).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)")
_MARKER = re.compile(r"^\s*<!--\s*(?P<name>[a-z-]+)\s*(?::\s*(?P<value>.*?))?\s*-->\s*$")
_KNOWN = {"fragment", "continues", "pytest", "requires"}


class MarkerError(ValueError):
    """A marker the runner does not understand, or a fragment without a reason."""


@dataclass
class Example:
    """One ```python block of a page."""

    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    fragment: Optional[str] = None
    continues: bool = False
    pytest: bool = False
    requires: list[str] = field(default_factory=list)

    def where(self, root: Path) -> str:
        """``README.md:42``, relative to ``root``."""
        return f"{self.path.relative_to(root).as_posix()}:{self.line}"


def _markers(lines: list[str], fence_index: int, where: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    i = fence_index - 1
    while i >= 0 and not lines[i].strip():
        i -= 1
    while i >= 0:
        match = _MARKER.match(lines[i])
        if match is None:
            break
        name = match.group("name")
        if name not in _KNOWN:  # a typo must not silently turn a fragment into a run, or the reverse
            raise MarkerError(f"{where}: unknown example marker {name!r} (known: {', '.join(sorted(_KNOWN))})")
        found.setdefault(name, []).append((match.group("value") or "").strip())
        i -= 1
    return found


def examples(path: Path) -> list[Example]:
    """Every ```python block of ``path`` in page order, with its markers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Example] = []
    i = 0
    while i < len(lines):
        opening = _FENCE_OPEN.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, indent = opening.group("fence"), opening.group("indent")
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        if opening.group("info").lower() not in ("python", "py"):
            continue
        where = f"{path}:{start + 1}"
        markers = _markers(lines, start, where)
        code = textwrap.dedent("\n".join(line[len(indent) :] if line.startswith(indent) else line for line in body))
        example = Example(path=path, line=start + 1, code=code + "\n")
        if "fragment" in markers:
            reason = markers["fragment"][0]
            if not reason:
                raise MarkerError(f"{where}: a fragment must say why it cannot run: <!-- fragment: REASON -->")
            example.fragment = reason
        example.continues = "continues" in markers
        example.pytest = "pytest" in markers
        example.requires = [name for value in markers.get("requires", []) for name in value.replace(",", " ").split()]
        if example.continues and not out:
            raise MarkerError(f"{where}: <!-- continues --> on the first example of the page")
        out.append(example)
    return out


def runs(path: Path) -> list[list[Example]]:
    """The page's examples grouped into runs: a ``continues`` example joins the run of the one before it."""
    groups: list[list[Example]] = []
    for example in examples(path):
        if example.continues:
            if groups[-1][-1].fragment or example.fragment:
                raise MarkerError(f"{path}:{example.line}: a fragment cannot be continued or continue")
            groups[-1].append(example)
        else:
            groups.append([example])
    return groups
