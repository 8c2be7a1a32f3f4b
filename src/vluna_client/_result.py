"""What a successful call returns: typed data plus the envelope's hints and meta."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Generic, Literal, Optional, TypeVar

import attrs

from ._attrs_methods import shared_methods

T = TypeVar("T")

# The two shapes of a cursor-paginated list's answer (see _page.page_from_answer); an operation names its own.
Pagination = Literal["meta", "items"]


@shared_methods(frozen=True)
@attrs.frozen(repr=False, eq=False)
class Hint:
    """A machine-readable signal from the server, e.g. ``quota.remaining`` or ``rate.limit``.

    ``type`` names it; every other field the server sent is in ``fields`` and readable with ``hint["seconds"]``
    or ``hint.get("seconds")``. Hint numbers are JSON numbers (not strings).
    """

    type: str
    fields: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def from_wire(cls, raw: Any) -> Hint:
        """Build from one element of an envelope's ``hints`` array; tolerant of odd shapes."""
        if not isinstance(raw, Mapping):
            return cls(type="unknown", fields={"value": raw})
        fields = {k: v for k, v in raw.items() if k != "type"}
        return cls(type=str(raw.get("type", "unknown")), fields=fields)

    def get(self, key: str, default: Any = None) -> Any:
        """A field of the hint, or ``default``."""
        return self.fields.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]


@shared_methods(frozen=True)
@attrs.frozen(repr=False, eq=False)
class Result(Generic[T]):
    """A successful answer.

    Attributes:
        data: The typed payload (an attrs model, a list of them, or plain JSON for untyped routes).
        hints: Signals the server attached (quota left, pricing drift...). Log them; they are how Vluna tells
            you about state without failing the call.
        meta: The envelope's ``meta`` (pagination and the like).
        status_code: The HTTP status (some writes answer 201).
        operation: The client operation, e.g. ``gate.commit``.
        idempotency_key: The key the write was sent with (``None`` for reads).
        request_id: The server's request id, when it sent one.
    """

    data: T
    hints: tuple[Hint, ...] = ()
    meta: Mapping[str, Any] = attrs.field(factory=dict)
    status_code: int = 200
    operation: str = ""
    idempotency_key: Optional[str] = None
    request_id: Optional[str] = None
    _raw: Any = attrs.field(default=None, repr=False, eq=False)

    @property
    def raw(self) -> Any:
        """The whole decoded answer (``{"ok", "code", "data", "hints", "meta"}``) as the server sent it, read-only.

        Fields the typed ``data`` does not know yet (a server newer than this client) are reachable here:
        ``result.raw["data"]["new_field"]``. Objects are read-only mappings and arrays are tuples, so the result
        cannot be changed through it. ``None`` for a result that did not come from an answer.
        """
        return _read_only(self._raw)

    def hint(self, type: str) -> Optional[Hint]:
        """The first hint of this type, or ``None``."""
        return next((h for h in self.hints if h.type == type), None)


def _read_only(value: Any) -> Any:
    """A read-only copy of decoded JSON: mappings become mapping proxies, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: _read_only(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_read_only(item) for item in value)
    return value
