"""One page of a cursor-paginated list, and how either page shape of an answer becomes one.

Apart from :mod:`._result` so that a process whose calls never list anything does not build the class.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Callable, Optional, TypeVar

import attrs

from ._result import Pagination, Result

T = TypeVar("T")


@attrs.frozen(repr=False, eq=False)  # Result's shared repr, equality and hash (see _attrs_methods)
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
