"""The link between generated endpoint classes and the client that sends their requests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, TypeVar

from ._operation import Operation
from ._result import Page, Result
from ._transport import TimeoutTypes

T = TypeVar("T")


class AreaHost:
    """What a client offers its API areas: send one operation and return its typed result."""

    def _execute(
        self,
        op: Operation[T],
        *,
        path: Mapping[str, Any],
        query: Mapping[str, Any],
        body: Optional[Mapping[str, Any]],
        bindings: Mapping[str, Any],
        idempotency_key: Optional[str],
        timeout: TimeoutTypes,
        bearer_token: Optional[str] = None,
    ) -> Result[Any]:
        raise NotImplementedError


class AreaApi:
    """Base of every generated ``client.<area>`` class."""

    __slots__ = ("_host",)

    def __init__(self, host: AreaHost) -> None:
        self._host = host

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def _send(self, op: Operation[T], **kwargs: Any) -> Result[T]:
        result: Result[T] = self._host._execute(op, **kwargs)
        return result

    def _send_page(self, op: Operation[T], **kwargs: Any) -> Page[T]:
        page: Page[T] = self._host._execute(op, **kwargs)  # type: ignore[assignment]
        return page
