"""The ``__repr__``, ``__eq__`` and ``__hash__`` the package's attrs classes share, instead of one set per class.

For each class it builds, attrs writes the source of the class's methods and compiles it, and compiling is most
of what creating the class costs. Every process pays that again: at import for the core's value types, and on an
area's first call for its models. Repr, equality and hash are most of that source and none is on a hot path, so
these classes are declared ``repr=False, eq=False`` and take the functions below, which read the attrs fields when
called and behave as attrs' own would:

* ``fields_repr``: ``Name(field=value, ...)``, without the fields declared ``repr=False`` and through a field's own
  repr function when it has one; ``...`` for an object met again while it is being shown.
* ``fields_eq``: equal when of the very same class with equal fields (those declared ``eq=False`` left out); any
  other object gives ``NotImplemented``.
* ``fields_hash``: the hash of the class and the compared fields, for the frozen classes. A mutable class gets
  ``__hash__ = None`` as attrs gives it, since a value that changes must not sit in a set or be a dict key.

A hand-written class takes them with :func:`shared_methods` above its attrs decorator; a generated model, which is
always mutable, names them in its body.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

import attrs

C = TypeVar("C", bound=type)

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


def _compared(value: Any) -> tuple[Any, ...]:
    return tuple(
        field.eq_key(getattr(value, field.name)) if field.eq_key else getattr(value, field.name)
        for field in type(value).__attrs_attrs__
        if field.eq
    )


def fields_eq(self: Any, other: Any) -> Any:
    """Whether ``other`` is of the same class with equal compared fields (``NotImplemented`` for another class)."""
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _compared(self) == _compared(other)


def fields_hash(self: Any) -> int:
    """The hash of the class and of the fields :func:`fields_eq` compares (less those declared ``hash=False``)."""
    hashed = (
        field.eq_key(getattr(self, field.name)) if field.eq_key else getattr(self, field.name)
        for field in type(self).__attrs_attrs__
        if field.hash is True or (field.hash is None and field.eq)
    )
    return hash((type(self), *hashed))


def shared_methods(*, frozen: bool) -> Callable[[C], C]:
    """Give an attrs class declared ``repr=False, eq=False`` the shared repr and equality, and the hash if frozen.

    Placed above the attrs decorator; ``frozen`` repeats that decorator's choice (a mutable class is left
    unhashable, as attrs leaves it). ``tests/unit/test_attrs_methods.py`` checks the two agree for every class.
    """

    def share(cls: C) -> C:
        setattr(cls, "__repr__", fields_repr)  # noqa: B010  (a plain assignment to a type's method does not type-check)
        setattr(cls, "__eq__", fields_eq)  # noqa: B010
        setattr(cls, "__hash__", fields_hash if frozen else None)  # noqa: B010
        return cls

    return share
