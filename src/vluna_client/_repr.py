"""One ``__repr__`` for the package's attrs classes, instead of one compiled per class.

For each class it builds, attrs writes the source of the class's methods and compiles it, and compiling is most
of what creating the class costs. Every process pays that again: at import for the core's value types, and on an
area's first call for its models. ``__repr__`` is the largest part of that source and is never on a hot path, so
these classes are declared ``repr=False`` and share :func:`fields_repr`. It reads the attrs fields when it is
called and prints what attrs' own repr would print: ``Name(field=value, ...)``, without the fields declared
``repr=False`` and through a field's own repr function when it has one.
"""

from __future__ import annotations

import threading
from typing import Any

import attrs

# The ids of the objects being shown on this thread, so that an object that (indirectly) holds itself prints
# "..." instead of recursing without end.
_showing = threading.local()


def fields_repr(self: Any) -> str:
    """``ClassName(field=value, ...)`` over the attrs fields of ``self``."""
    showing: set[int] | None = getattr(_showing, "ids", None)
    if showing is None:
        showing = _showing.ids = set()
    if id(self) in showing:
        return "..."
    showing.add(id(self))
    try:
        parts = []
        for field in type(self).__attrs_attrs__:
            if field.repr is False:
                continue
            value = getattr(self, field.name, attrs.NOTHING)
            parts.append(f"{field.name}={repr(value) if field.repr is True else field.repr(value)}")
        return f"{type(self).__qualname__.rsplit('>.', 1)[-1]}({', '.join(parts)})"
    finally:
        showing.discard(id(self))
