"""A griffe extension: render the reStructuredText bits of our docstrings as Markdown for mkdocstrings.

The docstrings are written for ``help()`` and IDEs as well as for this site, and use Sphinx roles
(``:class:`Foo```) and ``::`` literal-block markers. Markdown shows those verbatim, so this turns a role into a
code span (the name only) and ``::`` into ``:``. Docstrings in the source are left as they are.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc|obj):`~?(?:[\w.]*\.)?([\w]+(?:\(\))?)`")
_LITERAL_MARKER = re.compile(r"::$", re.MULTILINE)


class RstRoles(griffe.Extension):
    """Rewrite roles and literal-block markers in every docstring griffe loads."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Called once per loaded object (module, class, function, attribute)."""
        docstring = obj.docstring
        if docstring is None:
            return
        text = _ROLE.sub(lambda m: f"`{m.group(1)}`", docstring.value)
        docstring.value = _LITERAL_MARKER.sub(":", text)
