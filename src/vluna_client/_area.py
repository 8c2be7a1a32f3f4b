"""The link between generated endpoint classes and the client that sends their requests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Protocol, TypeVar

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

    @property
    def host(self) -> AreaHost:
        """The client this area sends through (for ``client.bind(...).gate``, that view).

        Hand-written helpers of an area (``gate.ingest_many``) reach the client's public API through it.
        """
        return self._host

    def _send(self, op: Operation[T], kwargs: Mapping[str, Any]) -> Result[T]:
        """Send ``op`` with a generated method's keyword arguments (its ``locals()``)."""
        result: Result[T] = self._host._execute(op, split_arguments(op, kwargs))
        return result

    def _send_page(self, op: Operation[T], kwargs: Mapping[str, Any]) -> Page[T]:
        """Send a paginated ``op`` and return its first page.

        The page holds the items as the server sent them; only ``Page.auto_paging_iter()`` drops an item that a
        later page repeats (by the operation's ``item_id``).
        """
        page: Page[T] = self._host._execute(op, split_arguments(op, kwargs))  # type: ignore[assignment]
        return page


def split_arguments(op: Operation[Any], kwargs: Mapping[str, Any]) -> CallArgs:
    """Sort a method's keyword arguments into path, query, body and bindings by the operation's parameter table.

    A keyword named in two parts (a query filter or body property sharing a binding's name) feeds both.
    """
    plan = op.plan
    if op.whole_body:
        body: Optional[Mapping[str, Any]] = kwargs["body"]
    elif plan.body is None:
        body = None
    else:
        body = {wire: kwargs[python] for python, wire in plan.body}
    return CallArgs(
        path={wire: kwargs[python] for python, wire in plan.path},
        query={wire: kwargs[python] for python, wire in plan.query},
        body=body,
        bindings={name: kwargs[name] for name in plan.bindings},
        idempotency_key=kwargs.get("idempotency_key"),
        timeout=kwargs.get("timeout"),
        bearer_token=kwargs.get("bearer_token"),
    )
