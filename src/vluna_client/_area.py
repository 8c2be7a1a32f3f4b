"""The link between generated endpoint classes and the client that sends their requests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ._call import CallArgs
from ._operation import Operation
from ._result import Result

if TYPE_CHECKING:
    from ._page import Page

T = TypeVar("T")


class AreaHost(Protocol):
    """What a client offers its API areas: send one operation and return its typed result."""

    def _execute(self, op: Operation[T], args: CallArgs) -> Result[Any]:
        """Send ``op`` with ``args`` (retrying as its rule allows) and decode the answer."""
        ...


class AreaApi:
    """Base of every generated ``client.<area>`` class."""

    __slots__ = ("_host",)

    def __init__(self, host: AreaHost) -> None:
        self._host = host

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    @property
    def host(self) -> AreaHost:
        """The client this area sends through (for ``client.bind(...).gate``, that view).

        Hand-written helpers of an area (``gate.ingest_many``) reach the client's public API through it.
        """
        return self._host

    def _send(self, op: Operation[T], args: CallArgs) -> Result[T]:
        """Send ``op`` with the arguments a generated method names explicitly (its ``CallArgs``)."""
        result: Result[T] = self._host._execute(op, args)
        return result

    def _send_page(self, op: Operation[T], args: CallArgs) -> Page[T]:
        """Send a paginated ``op`` and return its first page.

        The page holds the items as the server sent them; only ``Page.auto_paging_iter()`` drops an item that a
        later page repeats (by the operation's ``item_id``).
        """
        page: Page[T] = self._host._execute(op, args)  # type: ignore[assignment]
        return page
