"""The link between generated endpoint classes and the client that sends their requests."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from ._call import CallArgs
from ._operation import Operation
from ._result import Page, Result

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

    def _send(self, op: Operation[T], **kwargs: Any) -> Result[T]:
        result: Result[T] = self._host._execute(op, CallArgs(**kwargs))
        return result

    def _send_page(self, op: Operation[T], **kwargs: Any) -> Page[T]:
        page: Page[T] = self._host._execute(op, CallArgs(**kwargs))  # type: ignore[assignment]
        return page._keyed(op.item_id)
