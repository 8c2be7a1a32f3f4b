"""The README is also the PyPI page, where a relative link leads nowhere: every link in it must be absolute."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
# Inline links and images: ](target) — anchors within the page (#...) work on PyPI too.
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_readme_link_is_absolute() -> None:
    targets = LINK.findall(README.read_text(encoding="utf-8"))
    assert targets, "the README has no links: the pattern no longer matches its markup"
    relative = [t for t in targets if not t.startswith(("https://", "http://", "mailto:", "#"))]
    assert relative == []
