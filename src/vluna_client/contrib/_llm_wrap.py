"""Pass-through wrappers shared by the provider adapters: what is gated is ours, everything else is the SDK's."""

from __future__ import annotations

from typing import Any

from .llm import LLMGate

__all__ = ["GatedResource", "PassThrough", "delegate"]

# The SDKs' raw-response views would send the request around the gate, so the gated resources refuse them.
_UNGATED = frozenset({"with_raw_response", "with_streaming_response"})


def delegate(inner: Any, name: str) -> Any:
    """``getattr(inner, name)`` for a wrapper's ``__getattr__``; private names stay the wrapper's own.

    Refusing ``_``-names keeps a half-built wrapper (pickling, ``copy``) from recursing into ``__getattr__`` and
    keeps the SDK's internals from being reached through the gate by accident.
    """
    if name.startswith("_"):
        raise AttributeError(name)
    return getattr(inner, name)


class PassThrough:
    """An SDK object with some attributes overridden; the others are read from the wrapped object."""

    def __init__(self, inner: Any, **overrides: Any) -> None:
        self._inner = inner
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return delegate(self._inner, name)


class GatedResource(PassThrough):
    """An SDK resource (``chat.completions``, ``messages``...) whose model calls a subclass gates."""

    #: Named in the refusal of an ungated view, so the message says which ``.unwrapped`` to use.
    client_name = "the gated client"

    def __init__(self, inner: Any, gate: LLMGate) -> None:
        super().__init__(inner)
        self._gate = gate

    def __getattr__(self, name: str) -> Any:
        if name in _UNGATED:
            raise AttributeError(f"{name} is not gated; use the unwrapped client ({self.client_name}.unwrapped) for it")
        return delegate(self._inner, name)
