"""Gated provider streams: iteration untouched, commit on the usage-bearing event, never a lease left open.

Rules (the same for every provider):

- the usage-bearing event (OpenAI chat's usage chunk, ``response.completed``, Anthropic's ``message_delta``) is
  committed as it passes, before it is handed to the caller;
- a provider error while iterating cancels the lease and propagates;
- a stream that ends without usage (cut by the network, or usage not requested) cancels, with a WARNING: the
  provider may bill those tokens, Vluna is not charged for them;
- :meth:`GatedStream.close` before the end follows the gate's ``on_early_close``: ``"drain"`` reads the rest of
  the provider stream (not passed on) and commits its usage, ``"cancel"`` gives the lease back at once;
- a stream dropped without being closed (garbage collected, e.g. a web response discarded by a failing hook)
  cancels its lease;
- context-manager streams (``with client....stream(...)``) settle when the block exits: normally from the SDK's
  final usage (which reads what is left of the stream), after an exception in the block by cancelling.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Callable, Generic, Optional, TypeVar

from ._llm_wrap import delegate
from .llm import GatedCall, LLMGate
from .llm_usage import TokenUsage

__all__ = ["GatedStream", "GatedStreamManager"]

logger = logging.getLogger("vluna_client")

T = TypeVar("T")

Observe = Callable[[Any], Optional[TokenUsage]]
TextOf = Callable[[Any], Optional[str]]


class GatedStream(Generic[T]):
    """A provider stream under a gate lease. Iterate it exactly like the SDK's stream; other attributes pass through.

    :meth:`iter_text` yields only the text deltas and closes the stream when it is closed itself: hand it to
    Flask's ``stream_with_context`` or Django's ``StreamingHttpResponse``.
    """

    def __init__(self, stream: Any, call: GatedCall, observe: Observe, *, text: TextOf, on_early_close: str) -> None:
        self._stream = stream
        self._iterator: Iterator[T] = iter(stream)
        self._call = call
        self._observe = observe
        self._text = text
        self._on_early_close = on_early_close
        self._ended = False

    @property
    def call(self) -> GatedCall:
        """The gated call (its lease, and the usage once committed)."""
        return self._call

    def __iter__(self) -> GatedStream[T]:
        return self

    def __next__(self) -> T:
        try:
            item = next(self._iterator)
        except StopIteration:
            self._ended = True
            self._call.no_usage("the stream ended without a usage-bearing event (cut, or usage not requested)")
            raise
        except BaseException as exc:
            self._ended = True
            self._call.cancel(f"the provider stream failed: {type(exc).__name__}")
            raise
        usage = self._observe(item)
        if usage is not None:
            self._call.commit(usage)
        return item

    def _drain(self) -> None:
        try:
            for item in self._iterator:
                usage = self._observe(item)
                if usage is not None:
                    self._call.commit(usage)
                    return
        except Exception as exc:  # noqa: BLE001 - a provider failure while draining: nothing more to read
            self._call.cancel(f"the provider stream failed while draining: {type(exc).__name__}")
            return
        self._call.no_usage("the stream ended without a usage-bearing event while draining")

    def close(self) -> None:
        """Stop reading; settle the lease (drain or cancel, see the module docstring) and close the SDK stream."""
        try:
            if not self._call.settled:
                if self._on_early_close == "drain" and not self._ended:
                    self._drain()
                else:
                    self._call.cancel("the stream was closed before its usage arrived")
        finally:
            self._ended = True
            close = getattr(self._stream, "close", None)
            if close is not None:
                close()

    def iter_text(self) -> Iterator[str]:
        """The text deltas only; closing this generator (or reaching its end) closes the stream."""
        try:
            for item in self:
                piece = self._text(item)
                if piece:
                    yield piece
        finally:
            self.close()

    def __enter__(self) -> GatedStream[T]:
        return self

    def __exit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        if exc is not None and not self._call.settled:
            self._call.cancel(f"an exception while streaming: {exc_type.__name__ if exc_type else ''}")
        self.close()

    def __del__(self) -> None:
        call = getattr(self, "_call", None)
        if call is not None and not call.settled:
            # Never raise from a finalizer; the lease logs its own failure.
            with contextlib.suppress(Exception):
                call.cancel("the stream was dropped without being closed")

    def __getattr__(self, name: str) -> Any:
        return delegate(self._stream, name)


class GatedStreamManager:
    """Wraps an SDK stream manager (``client....stream(...)``): authorize on enter, settle on exit."""

    def __init__(
        self,
        open_manager: Callable[[], Any],
        gate: LLMGate,
        api: str,
        request: dict[str, Any],
        *,
        call_context: Any,
        observe: Observe,
        final_usage: Callable[[Any], Optional[TokenUsage]],
    ) -> None:
        self._open_manager = open_manager
        self._gate = gate
        self._api = api
        self._request = request
        self._call_context = call_context
        self._observe = observe
        self._final_usage = final_usage
        self._manager: Any = None
        self._stream: Any = None
        self.call: Optional[GatedCall] = None
        """The gated call, once entered."""

    def __enter__(self) -> Any:
        call = self.call = self._gate.begin(self._api, self._request, call_context=self._call_context)
        try:
            self._manager = self._open_manager()
            self._stream = self._manager.__enter__()
        except BaseException as exc:
            call.cancel(f"the provider refused the stream: {type(exc).__name__}")
            raise
        return _ObservedStream(self._stream, call, self._observe)

    def __exit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> Optional[bool]:
        call = self.call
        try:
            if call is not None and not call.settled:
                if exc is not None:
                    call.cancel(f"an exception in the stream block: {exc_type.__name__ if exc_type else ''}")
                else:
                    self._settle_from_final(call)
        finally:
            result = self._manager.__exit__(exc_type, exc, tb) if self._manager is not None else None
        return bool(result) if result is not None else None

    def _settle_from_final(self, call: GatedCall) -> None:
        try:
            usage = self._final_usage(self._stream)
        except Exception as exc:  # noqa: BLE001 - the SDK could not finish the stream: nothing to commit
            call.cancel(f"the final usage could not be read: {type(exc).__name__}")
            return
        if usage is None:
            call.no_usage("the stream's final answer carried no usage")
        else:
            call.commit(usage)


class _ObservedStream:
    """The SDK's managed stream, watched for the usage-bearing event while the caller iterates it."""

    def __init__(self, stream: Any, call: GatedCall, observe: Observe) -> None:
        self._stream = stream
        self._call = call
        self._observe = observe

    def __iter__(self) -> Iterator[Any]:
        for event in self._stream:
            usage = self._observe(event)
            if usage is not None:
                self._call.commit(usage)
            yield event

    def __getattr__(self, name: str) -> Any:
        return delegate(self._stream, name)
