"""A base for the core's internal value classes: immutable, slotted, compared and pickled by their fields.

The public value types are attrs classes (their ``evolve``, equality and repr are part of the API). The internal
ones that every process builds on its way to a first call (an operation's description and parameter table, the
client's request base, one call's arguments) are plain slotted classes instead: creating an attrs class compiles
each of its generated methods, a cost paid again by every process at import, while these classes need no more than
what this base gives them.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from ._redact import redacted

F = TypeVar("F", bound="Frozen")

# Sets a slot of an instance that refuses ``setattr``: what ``__init__`` and :meth:`Frozen.replaced` use.
set_slot = object.__setattr__


def _rebuilt(cls: type[F], values: tuple[Any, ...]) -> F:
    """An instance of ``cls`` with its fields set to ``values`` (in ``_fields`` order), not running ``__init__``."""
    value = object.__new__(cls)
    for name, item in zip(cls._fields, values):
        set_slot(value, name, item)
    return value


class Frozen:
    """Immutable once built; equal when of the same class with equal fields; pickled as its fields.

    A subclass lists its fields in ``_fields``, makes them its ``__slots__`` and sets them in ``__init__`` with
    :func:`set_slot`. Fields named in ``_hidden`` (credentials) show as :func:`~vluna_client._redact.redacted` in
    the repr.
    """

    __slots__ = ()
    # The fields in declaration order (repr, equality, pickling and a subclass's __init__ go by it).
    _fields: ClassVar[tuple[str, ...]] = ()
    _hidden: ClassVar[frozenset[str]] = frozenset()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def replaced(self: F, **changes: Any) -> F:
        """A copy with ``changes`` applied to the named fields (the others shared, as they are immutable)."""
        unknown = set(changes).difference(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        values = tuple(changes.get(name, getattr(self, name)) for name in self._fields)
        return _rebuilt(type(self), values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: build a new one (.replaced(...))")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frozen) or type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={redacted(getattr(self, name)) if name in self._hidden else repr(getattr(self, name))}"
            for name in self._fields
        )
        return f"{type(self).__name__}({shown})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (type(self), self._values()))
