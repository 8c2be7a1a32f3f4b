"""Gate every chat-model call inside LangChain runnables and LangGraph graphs with one callback handler.

::

    from vluna_client.contrib.langchain import VlunaCallbackHandler

    handler = VlunaCallbackHandler(vluna=service_client, feature_code="llm.chat")
    graph.invoke(state, config={
        "callbacks": [handler],
        "metadata": {"vluna": {"principal_id": org.id, "user_id": user.id}},
    })

Each chat-model invocation (each node's call, each item of ``batch()``, each parallel branch) is its own billable
operation: authorized in ``on_chat_model_start`` (a refusal raises there, so the model is never called: the
handler sets ``raise_error = True``, without which LangChain would only log it), committed in ``on_llm_end`` from
``AIMessage.usage_metadata``, cancelled in ``on_llm_error``. Leases are keyed by run id, so concurrent runs on one
handler never mix. Non-chat (completion) models are ignored.

- Context: ``RunnableConfig.metadata["vluna"]`` (a mapping of :class:`~vluna_client.contrib.llm.GateContext`
  fields, or a ``GateContext``); LangChain hands metadata down to every nested run. A
  :func:`~vluna_client.contrib.llm.gate_context` block or the gate's ``context=`` work too.
- Cache hits: a result LangChain replayed from its cache (its ``usage_metadata`` carries ``total_cost: 0``) is
  not billed again: the lease is cancelled.
- ``n > 1``: candidates that carry identical usage (the response's usage copied onto each, as LangChain's OpenAI
  integration does) are counted once; candidates with different usage count the largest input once and every
  candidate's output.
- Tools: ``tools={"web_search": "tool.search"}`` gates those tools (by name) under their own feature codes,
  one unit per call, authorized in ``on_tool_start`` and committed in ``on_tool_end``.

Only ``langchain-core`` is needed (``pip install 'vluna-client[langchain]'``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from .llm import GatedCall, LLMGate, check_commit
from .llm_usage import TokenUsage, from_langchain

if TYPE_CHECKING:
    from .._lease import Lease

__all__ = ["VlunaCallbackHandler"]

_METADATA_KEY = "vluna"


class VlunaCallbackHandler(BaseCallbackHandler):
    """A LangChain callback handler that gates chat-model (and chosen tool) runs; thread-safe, share one.

    Args:
        vluna: As for :class:`~vluna_client.contrib.llm.LLMGate` (or pass ``gate=``).
        gate: A ready :class:`~vluna_client.contrib.llm.LLMGate`.
        tools: Tool name -> feature code, for the billable tools.
        **gate_options: :class:`~vluna_client.contrib.llm.LLMGate` options (``feature_code``, ``features``...).
    """

    raise_error = True
    """A refusal must stop the run: LangChain only logs a handler's exception unless this is set."""

    run_inline = True
    """Run in the caller's thread, so a ``gate_context`` block of the caller is seen."""

    def __init__(
        self,
        vluna: Any = None,
        *,
        gate: Optional[LLMGate] = None,
        tools: Optional[Mapping[str, str]] = None,
        **gate_options: Any,
    ) -> None:
        super().__init__()
        self.gate = gate if gate is not None else LLMGate(vluna, **gate_options)
        """The gate policy in use."""
        self.tools = dict(tools or {})
        """Tool name -> feature code of the gated tools."""
        self._lock = threading.Lock()
        self._runs: dict[UUID, GatedCall] = {}
        self._tool_runs: dict[UUID, tuple[Lease, dict[str, str]]] = {}

    @property
    def open_runs(self) -> int:
        """How many runs hold a lease right now (0 once every run ended)."""
        with self._lock:
            return len(self._runs) + len(self._tool_runs)

    # -- chat models -------------------------------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: Optional[UUID] = None,
        tags: Optional[list[str]] = None,
        metadata: Optional[dict[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        """Authorize the model run (raises on a refusal, before the model is called)."""
        params = kwargs.get("invocation_params") or {}
        model = params.get("model") or params.get("model_name") or (metadata or {}).get("ls_model_name")
        request = {
            "model": model,
            "messages": [[getattr(m, "content", m) for m in batch] for batch in messages],
            "max_tokens": params.get("max_tokens") or params.get("max_completion_tokens"),
            "n": params.get("n"),
        }
        call = self.gate.begin("langchain", request, call_context=(metadata or {}).get(_METADATA_KEY))
        with self._lock:
            self._runs[run_id] = call

    def on_llm_end(self, response: Any, *, run_id: UUID, parent_run_id: Optional[UUID] = None, **kwargs: Any) -> None:
        """Commit the run's usage (or cancel a cache hit or a result without usage)."""
        with self._lock:
            call = self._runs.pop(run_id, None)
        if call is None:
            return  # not a chat-model run of ours (a completion model, or another handler's run)
        metas = [
            getattr(getattr(g, "message", None), "usage_metadata", None)
            for batch in response.generations
            for g in batch
        ]
        if metas and all(m is not None and m.get("total_cost") == 0 for m in metas):
            call.cancel("a LangChain cache hit: the provider was not called")
            return
        usage = _usage_of(response.generations)
        call.commit_response(usage, response)

    def on_llm_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: Optional[UUID] = None, **kwargs: Any
    ) -> None:
        """Cancel the run's lease."""
        with self._lock:
            call = self._runs.pop(run_id, None)
        if call is not None:
            call.cancel(f"the model run failed: {type(error).__name__}")

    # -- tools -----------------------------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: Optional[UUID] = None,
        tags: Optional[list[str]] = None,
        metadata: Optional[dict[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        """Authorize a billable tool's run (raises on a refusal, before the tool runs)."""
        name = (serialized or {}).get("name") or kwargs.get("name")
        feature = self.tools.get(str(name)) if name else None
        if feature is None:
            return
        ctx = self.gate.resolve_context((metadata or {}).get(_METADATA_KEY))
        lease = self.gate.client.lease(
            feature_code=feature,
            principal_id=ctx.principal_id,
            user_id=ctx.user_id,
            estimated_quantity_minor=1,
            feature_family_code=ctx.feature_family_code,
            budget_id=ctx.budget_id,
            labels=(labels := {**self.gate.labels, "tool": str(name), **dict(ctx.labels or {})}),
        )
        lease.open()
        with self._lock:
            self._tool_runs[run_id] = (lease, labels)

    def on_tool_end(self, output: Any, *, run_id: UUID, parent_run_id: Optional[UUID] = None, **kwargs: Any) -> None:
        """Commit one unit for the tool run."""
        with self._lock:
            run = self._tool_runs.pop(run_id, None)
        if run is None:
            return
        lease, labels = run
        try:
            result = lease.commit(quantity_minor=1, labels=labels)
        finally:
            lease.close()
        check_commit(result, strict=self.gate.strict)

    def on_tool_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: Optional[UUID] = None, **kwargs: Any
    ) -> None:
        """Cancel the tool run's lease."""
        with self._lock:
            run = self._tool_runs.pop(run_id, None)
        if run is not None:
            run[0].close(error)

    def close(self) -> None:
        """Cancel every lease still held (runs that never ended, e.g. after an interrupt)."""
        with self._lock:
            calls, self._runs = list(self._runs.values()), {}
            leases, self._tool_runs = list(self._tool_runs.values()), {}
        for call in calls:
            call.cancel("the handler was closed before the run ended")
        for lease, _labels in leases:
            lease.close()


def _usage_of(generations: list[list[Any]]) -> Optional[TokenUsage]:
    """One run's usage from its candidates (see the module docstring for ``n > 1``)."""
    total: Optional[TokenUsage] = None
    for batch in generations:
        metas = [getattr(getattr(g, "message", None), "usage_metadata", None) for g in batch]
        metas = [m for m in metas if m]
        if not metas:
            continue
        if all(m == metas[0] for m in metas):
            usage = from_langchain(metas[0])
        else:
            parts = [from_langchain(m) for m in metas]
            widest = max(parts, key=lambda u: u.input + u.cached_input + u.cache_write)
            usage = TokenUsage(
                input=widest.input,
                cached_input=widest.cached_input,
                cache_write=widest.cache_write,
                output=sum(p.output for p in parts),
                reasoning=sum(p.reasoning for p in parts),
            )
        total = usage if total is None else total + usage
    return total
