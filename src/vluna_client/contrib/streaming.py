"""A streamed response body that owns a gate lease: settled on every path, never left open.

Web frameworks iterate a streamed body after the view returned, so a ``with lease:`` block in the view has already
closed (and cancelled) the lease by the time the work happens. :class:`LeasedBody` carries the lease into the body
instead: commit inside the body (``lease.commit(...)``), and whatever happens next the lease is settled the way
leaving a ``with`` block settles it (cancelled unless committed):

- the body ends, or raises (the error propagates);
- the server closes the body: the client disconnected (noticed by WSGI servers when a write fails) or the
  response finished;
- the response is dropped without being closed, e.g. by an ``after_request`` hook that raised: the body is
  garbage collected and the lease settled then.

Framework-neutral; the Flask and Django decorators (``contrib.flask_stream.gated_stream``,
``contrib.django.gated_stream``) build it for you.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Generic, Optional, TypeVar

if TYPE_CHECKING:
    from .._lease import Lease

__all__ = ["LeasedBody"]

T = TypeVar("T")


class LeasedBody(Generic[T]):
    """Iterate ``body`` as a response body; settle ``lease`` when it ends, fails, is closed or is dropped.

    Args:
        lease: An opened lease (:meth:`~vluna_client.Lease.open`).
        body: The chunks to send.
    """

    def __init__(self, lease: Lease, body: Iterable[T]) -> None:
        self.lease = lease
        self._body = body
        self._iterator: Optional[Iterator[T]] = None
        self._settled = False

    def __iter__(self) -> LeasedBody[T]:
        return self

    def __next__(self) -> T:
        if self._settled:
            raise StopIteration
        if self._iterator is None:
            self._iterator = iter(self._body)
        try:
            return next(self._iterator)
        except StopIteration:
            self._settle(None)
            raise
        except BaseException as exc:
            self._settle(exc)
            raise

    def close(self) -> None:
        """Close the underlying body and settle the lease (cancel unless committed). Idempotent."""
        try:
            close = getattr(self._iterator if self._iterator is not None else self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._settle(None)

    def _settle(self, error: Optional[BaseException]) -> None:
        if not self._settled:
            self._settled = True
            self.lease.close(error)

    def __del__(self) -> None:
        if not getattr(self, "_settled", True):
            with contextlib.suppress(Exception):  # never raise from a finalizer; the lease logs its own failure
                self._settle(None)
