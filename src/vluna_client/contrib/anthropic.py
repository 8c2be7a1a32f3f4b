"""Gate a sync ``anthropic.Anthropic`` client: ``messages.create`` (plain and ``stream=True``) and ``messages.stream``.

::

    from anthropic import Anthropic
    from vluna_client.contrib.anthropic import gate_anthropic

    client = gate_anthropic(Anthropic(), vluna=service_client, feature_code="llm.claude")
    with gate_context(principal_id="org_1", user_id="u_1"):
        message = client.messages.create(model="claude-sonnet-4-5", max_tokens=512, messages=[...])

Usage is read the Anthropic way: ``input_tokens`` excludes cache reads (``cache_read_input_tokens``) and cache
writes (``cache_creation_input_tokens``), which are added; in a stream, ``message_start`` gives the input side and
a running output count that the final ``message_delta`` replaces (never summed). A raw stream is committed at
``message_delta``. Everything else (context, retries, refusals, stream rules) is as in
:mod:`vluna_client.contrib.openai`.
"""

from __future__ import annotations

from typing import Any, Optional

from ._llm_stream import GatedStream, GatedStreamManager
from ._llm_wrap import GatedResource, delegate
from .llm import LLMGate
from .llm_usage import AnthropicStreamUsage, TokenUsage, from_anthropic

__all__ = ["GatedAnthropic", "gate_anthropic"]


def gate_anthropic(
    client: Any, vluna: Any = None, *, gate: Optional[LLMGate] = None, **gate_options: Any
) -> GatedAnthropic:
    """Wrap an ``anthropic.Anthropic`` client (thread-safe; one per process). Options as :func:`gate_openai`."""
    if gate is None:
        gate = LLMGate(vluna, **gate_options)
    return GatedAnthropic(client, gate)


class GatedAnthropic:
    """An Anthropic client whose ``messages`` calls are gated; unknown attributes pass through."""

    def __init__(self, client: Any, gate: LLMGate) -> None:
        self._client = client
        self.gate = gate
        """The gate policy in use."""
        self.messages = _Messages(client.messages, gate)
        """``messages`` gated."""

    @property
    def unwrapped(self) -> Any:
        """The SDK client itself (ungated)."""
        return self._client

    def with_options(self, **options: Any) -> GatedAnthropic:
        """``client.with_options(...)``, still gated by the same gate."""
        return GatedAnthropic(self._client.with_options(**options), self.gate)

    def __getattr__(self, name: str) -> Any:
        return delegate(self._client, name)


class _StreamUsage:
    """Per-stream observer: folds ``message_start`` / ``message_delta`` and reports usage once, at the delta."""

    def __init__(self) -> None:
        self._fold = AnthropicStreamUsage()
        self._reported = False

    def __call__(self, event: Any) -> Optional[TokenUsage]:
        self._fold.feed(event)
        if self._reported:
            return None
        usage = self._fold.usage()
        if usage is not None:
            self._reported = True
        return usage


def _text(event: Any) -> Optional[str]:
    if getattr(event, "type", None) != "content_block_delta":
        return None
    delta = event.delta
    return delta.text if getattr(delta, "type", None) == "text_delta" else None


def _final_usage(stream: Any) -> Optional[TokenUsage]:
    usage = getattr(stream.get_final_message(), "usage", None)
    return from_anthropic(usage) if usage is not None else None


class _Messages(GatedResource):
    client_name = "GatedAnthropic"

    def create(self, *, vluna_context: Any = None, **kwargs: Any) -> Any:
        """``messages.create``, gated (``stream=True`` returns a :class:`GatedStream` of raw events)."""
        call = self._gate.begin("messages", kwargs, call_context=vluna_context)
        try:
            response = self._inner.create(**kwargs)
        except BaseException as exc:
            call.cancel(f"the provider call failed: {type(exc).__name__}")
            raise
        if kwargs.get("stream") is True:
            return GatedStream(response, call, _StreamUsage(), text=_text, on_early_close=self._gate.on_early_close)
        usage = getattr(response, "usage", None)
        call.commit_response(from_anthropic(usage) if usage is not None else None, response)
        return response

    def stream(self, *, vluna_context: Any = None, **kwargs: Any) -> GatedStreamManager:
        """``messages.stream(...)`` as a gated context manager (settled from the final message's usage)."""
        return GatedStreamManager(
            lambda: self._inner.stream(**kwargs), self._gate, "messages", kwargs,
            call_context=vluna_context, observe=_StreamUsage(), final_usage=_final_usage,
        )  # fmt: skip
