"""Gate a sync ``openai.OpenAI`` (or ``AzureOpenAI``) client: every model call is authorized, then committed.

::

    from openai import OpenAI
    from vluna_client.contrib.openai import gate_openai
    from vluna_client.contrib.llm import gate_context

    client = gate_openai(OpenAI(), vluna=service_client, feature_code="llm.chat")
    with gate_context(principal_id="org_1", user_id="u_1"):
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=[...])

Gated: ``chat.completions.create`` / ``.parse`` / ``.stream`` and ``responses.create`` / ``.parse`` /
``.stream``, with and without ``stream=True``. Each call authorizes before any request reaches OpenAI (a refusal
raises, OpenAI sees nothing), then commits the response's usage (see :mod:`vluna_client.contrib.llm_usage`), or
cancels when the SDK raises. The SDK's own retries (``max_retries``) happen inside one gated call: one lease, one
commit. Chat-completions streams get ``stream_options={"include_usage": True}`` unless the call sets
``include_usage`` itself; a chat stream without usage cannot be charged, so it is cancelled with a WARNING at
its end. Stream rules: :mod:`vluna_client.contrib._llm_stream`. Everything else on the client (models, files,
embeddings...) passes through ungated; ``with_raw_response`` / ``with_streaming_response`` of the gated
resources are refused, since they would bypass the gate (use the unwrapped client for them).

Per-call context: ``vluna_context={"principal_id": ..., "user_id": ..., "feature_code": ...}``; per block:
:func:`vluna_client.contrib.llm.gate_context`. A commit error carries the model's answer as
``exc.provider_response`` so it is not lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Optional

from ._llm_stream import GatedStream, GatedStreamManager
from ._llm_wrap import GatedResource, PassThrough, delegate
from .llm import LLMGate
from .llm_usage import TokenUsage, from_openai_chat, from_openai_responses

__all__ = ["GatedOpenAI", "gate_openai"]

_RESPONSE_DONE = frozenset({"response.completed", "response.incomplete", "response.failed"})


def gate_openai(client: Any, vluna: Any = None, *, gate: Optional[LLMGate] = None, **gate_options: Any) -> GatedOpenAI:
    """Wrap an ``openai.OpenAI`` / ``AzureOpenAI`` client (thread-safe; build one per process and share it).

    Args:
        client: The SDK client (its ``max_retries``, timeouts and base URL are kept).
        vluna: Where Vluna is: a ``ServiceClient``, a callable returning one, or the Flask ``Vluna`` extension.
        gate: A ready :class:`~vluna_client.contrib.llm.LLMGate` (instead of ``vluna`` and ``gate_options``).
        **gate_options: :class:`~vluna_client.contrib.llm.LLMGate` options: ``feature_code``, ``features``,
            ``meters``, ``context``, ``estimate``, ``on_early_close``, ``strict``, ``labels``.
    """
    if gate is None:
        gate = LLMGate(vluna, **gate_options)
    return GatedOpenAI(client, gate)


class GatedOpenAI:
    """An OpenAI client whose model calls are gated; see :func:`gate_openai`. Unknown attributes pass through."""

    def __init__(self, client: Any, gate: LLMGate) -> None:
        self._client = client
        self.gate = gate
        """The gate policy in use."""
        self.chat = PassThrough(client.chat, completions=_ChatCompletions(client.chat.completions, gate))
        """``chat.completions`` gated."""
        self.responses = _Responses(client.responses, gate)
        """``responses`` gated."""

    @property
    def unwrapped(self) -> Any:
        """The SDK client itself (ungated)."""
        return self._client

    def with_options(self, **options: Any) -> GatedOpenAI:
        """``client.with_options(...)`` (e.g. ``max_retries=0``), still gated by the same gate."""
        return GatedOpenAI(self._client.with_options(**options), self.gate)

    def __getattr__(self, name: str) -> Any:
        return delegate(self._client, name)


class _Resource(GatedResource):
    api = ""
    client_name = "GatedOpenAI"

    def _usage(self, response: Any) -> Optional[TokenUsage]:
        raise NotImplementedError

    def _call(self, method: Callable[..., Any], kwargs: dict[str, Any], call_context: Any) -> Any:
        call = self._gate.begin(self.api, kwargs, call_context=call_context)
        try:
            response = method(**kwargs)
        except BaseException as exc:
            call.cancel(f"the provider call failed: {type(exc).__name__}")
            raise
        if kwargs.get("stream") is True:
            return GatedStream(response, call, self._observe, text=self._text, on_early_close=self._gate.on_early_close)
        call.commit_response(self._usage(response), response)
        return response

    @staticmethod
    def _observe(item: Any) -> Optional[TokenUsage]:
        raise NotImplementedError

    @staticmethod
    def _text(item: Any) -> Optional[str]:
        raise NotImplementedError


def _with_usage(kwargs: dict[str, Any]) -> None:
    options = kwargs.get("stream_options")
    if options is None or not isinstance(options, Mapping):
        kwargs["stream_options"] = {"include_usage": True}
    elif "include_usage" not in options:
        kwargs["stream_options"] = {**options, "include_usage": True}


class _ChatCompletions(_Resource):
    api = "chat"

    def create(self, *, vluna_context: Any = None, **kwargs: Any) -> Any:
        """``chat.completions.create``, gated (``stream=True`` returns a :class:`GatedStream`)."""
        if kwargs.get("stream") is True:
            _with_usage(kwargs)
        return self._call(self._inner.create, kwargs, vluna_context)

    def parse(self, *, vluna_context: Any = None, **kwargs: Any) -> Any:
        """``chat.completions.parse`` (structured output), gated."""
        return self._call(self._inner.parse, kwargs, vluna_context)

    def stream(self, *, vluna_context: Any = None, **kwargs: Any) -> GatedStreamManager:
        """``chat.completions.stream(...)`` as a gated context manager."""
        _with_usage(kwargs)

        def final(stream: Any) -> Optional[TokenUsage]:
            return self._usage(stream.get_final_completion())

        return GatedStreamManager(
            lambda: self._inner.stream(**kwargs), self._gate, self.api, kwargs,
            call_context=vluna_context, observe=_chat_event_usage, final_usage=final,
        )  # fmt: skip

    def _usage(self, response: Any) -> Optional[TokenUsage]:
        usage = getattr(response, "usage", None)
        return from_openai_chat(usage) if usage is not None else None

    @staticmethod
    def _observe(item: Any) -> Optional[TokenUsage]:
        usage = getattr(item, "usage", None)
        return from_openai_chat(usage) if usage is not None else None

    @staticmethod
    def _text(item: Any) -> Optional[str]:
        choices = getattr(item, "choices", None)
        return choices[0].delta.content if choices else None


def _chat_event_usage(event: Any) -> Optional[TokenUsage]:
    if getattr(event, "type", None) != "chunk":
        return None
    usage = getattr(event.chunk, "usage", None)
    return from_openai_chat(usage) if usage is not None else None


class _Responses(_Resource):
    api = "responses"

    def create(self, *, vluna_context: Any = None, **kwargs: Any) -> Any:
        """``responses.create``, gated (``stream=True`` returns a :class:`GatedStream`)."""
        return self._call(self._inner.create, kwargs, vluna_context)

    def parse(self, *, vluna_context: Any = None, **kwargs: Any) -> Any:
        """``responses.parse`` (structured output), gated."""
        return self._call(self._inner.parse, kwargs, vluna_context)

    def stream(self, *, vluna_context: Any = None, **kwargs: Any) -> GatedStreamManager:
        """``responses.stream(...)`` as a gated context manager."""

        def final(stream: Any) -> Optional[TokenUsage]:
            return self._usage(stream.get_final_response())

        return GatedStreamManager(
            lambda: self._inner.stream(**kwargs), self._gate, self.api, kwargs,
            call_context=vluna_context, observe=self._observe, final_usage=final,
        )  # fmt: skip

    def _usage(self, response: Any) -> Optional[TokenUsage]:
        usage = getattr(response, "usage", None)
        return from_openai_responses(usage) if usage is not None else None

    @staticmethod
    def _observe(item: Any) -> Optional[TokenUsage]:
        if getattr(item, "type", None) not in _RESPONSE_DONE:
            return None
        usage = getattr(getattr(item, "response", None), "usage", None)
        return from_openai_responses(usage) if usage is not None else None

    @staticmethod
    def _text(item: Any) -> Optional[str]:
        return item.delta if getattr(item, "type", None) == "response.output_text.delta" else None
