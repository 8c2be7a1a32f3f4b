"""What a successful call returns: typed data plus the envelope's hints and meta."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Callable, Generic, Literal, Optional, TypeVar

import attrs

T = TypeVar("T")

# The two shapes of a cursor-paginated list's answer (see page_from_answer); an operation names its own.
Pagination = Literal["meta", "items"]


@attrs.frozen
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


@attrs.frozen
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


@attrs.frozen
class Page(Result[list[T]]):
    """One page of a cursor-paginated list; ``data`` holds its items.

    ``auto_paging_iter()`` yields every item of this page and of the following ones, fetching each next page
    (with the same arguments and a new cursor) only when the previous one is used up. An empty page that still
    has a cursor is not the end: some server lists filter a page after cutting it.

    Attributes:
        next_cursor: The cursor of the following page, ``None`` on the last one.
        has_more: Whether the server says more items follow.
        item_id: The item field(s) that identify an item; ``auto_paging_iter()`` skips an item whose id it
            already yielded (some server lists repeat items across pages). Empty: no item is skipped.
    """

    next_cursor: Optional[str] = None
    has_more: bool = False
    fetch_next: Optional[Callable[[str], Page[T]]] = attrs.field(default=None, repr=False, eq=False)
    item_id: tuple[str, ...] = attrs.field(default=(), repr=False, eq=False)

    def _key(self, item: Any) -> Optional[tuple[Any, ...]]:
        """The item's id, or ``None`` when it has none (then it is never taken for a repeat)."""
        if isinstance(item, Mapping):
            key = tuple(item.get(name) for name in self.item_id)
        else:
            key = tuple(getattr(item, name, None) for name in self.item_id)
        if not key or any(part is None for part in key):
            return None
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def next_page(self) -> Optional[Page[T]]:
        """The following page, or ``None`` on the last one."""
        if not self.next_cursor or self.fetch_next is None:
            return None
        return self.fetch_next(self.next_cursor)

    def auto_paging_iter(self) -> Iterator[T]:
        """Iterate over all items of all pages, starting with this one, each item once (by ``item_id``)."""
        page: Optional[Page[T]] = self
        seen: set[str] = set()
        yielded: set[tuple[Any, ...]] = set()
        while page is not None:
            for item in page.data:
                key = self._key(item) if self.item_id else None
                if key is not None:
                    if key in yielded:
                        continue  # the server repeated it on a later page
                    yielded.add(key)
                yield item
            cursor = page.next_cursor
            # A server that hands back a cursor it already gave would loop forever; stop instead.
            if not cursor or cursor in seen:
                return
            seen.add(cursor)
            page = page.next_page()


def page_from_answer(
    pagination: Pagination,
    data: Any,
    meta: Mapping[str, Any],
    /,
    *,
    structure_items: Callable[[Any], list[T]],
    **fields: Any,
) -> Page[T]:
    """The :class:`Page` of a successful answer's ``data`` and ``meta``, in either of the two page shapes.

    ``meta``: ``data`` is the item list, and the cursor and ``has_more`` are in ``meta``. ``items``: ``data`` is
    an object with ``items`` and ``next_cursor`` (more follow exactly when there is a cursor).
    ``structure_items`` turns the raw item list into typed items; its errors propagate. ``fields`` are the
    other :class:`Page` attributes (``meta`` itself, hints, status, the ``fetch_next`` callback...).
    """
    if pagination == "meta":
        raw_items = data or []
        cursor = meta.get("next_cursor")
        has_more = bool(meta.get("has_more", cursor is not None))
    else:
        container = data if isinstance(data, dict) else {}
        raw_items = container.get("items") or []
        cursor = container.get("next_cursor")
        has_more = cursor is not None
    return Page(
        data=structure_items(raw_items),
        next_cursor=cursor if isinstance(cursor, str) and cursor else None,
        has_more=has_more,
        **fields,
    )
