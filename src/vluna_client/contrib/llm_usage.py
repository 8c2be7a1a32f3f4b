"""Provider token accounting, done once: each provider's usage object -> disjoint token counts -> Vluna meters.

Providers count the same tokens differently, and each difference loses or doubles money if handled ad hoc:

- OpenAI (chat completions and responses) counts cached prompt tokens (and, in newer SDKs, cache writes) *inside*
  ``prompt_tokens`` / ``input_tokens``, and reasoning tokens inside ``completion_tokens`` / ``output_tokens``.
- Anthropic's ``input_tokens`` *excludes* cache reads and cache writes; its stream reports ``output_tokens`` in
  both ``message_start`` (a small running count) and ``message_delta`` (the final total): the last value wins,
  summing them double-counts.
- LangChain's ``usage_metadata.input_tokens`` includes ``input_token_details.cache_read`` and ``cache_creation``,
  and ``output_tokens`` includes ``output_token_details.reasoning``.

Every mapper returns a :class:`TokenUsage` whose five counts are disjoint, so they add up to the total that
``quantity_minor`` carries; :meth:`MeterCodes.meters` turns it into ``meters[]``. See the table in
``docs/guides/llm-usage.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import attrs

from .._errors import InputValidationError

__all__ = [
    "MeterCodes",
    "TokenUsage",
    "from_anthropic",
    "from_langchain",
    "from_openai_chat",
    "from_openai_responses",
]


def _get(obj: Any, name: str) -> Any:
    """A field of an SDK model or of a plain mapping (``None`` when absent)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(obj: Any, *path: str) -> int:
    value = obj
    for name in path:
        value = _get(value, name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputValidationError(f"provider usage field {'.'.join(path)} is not a non-negative integer: {value!r}")
    return int(value)


@attrs.frozen
class TokenUsage:
    """Token counts of one model call, each disjoint from the others (their sum is :attr:`total`).

    Attributes:
        input: prompt tokens at the full input price (neither read from nor written to a prompt cache).
        output: generated tokens that are not reasoning tokens.
        cached_input: prompt tokens read from the provider's cache.
        cache_write: prompt tokens written to the provider's cache.
        reasoning: generated tokens spent on reasoning ("thinking").
    """

    input: int = 0
    output: int = 0
    cached_input: int = 0
    cache_write: int = 0
    reasoning: int = 0

    @property
    def total(self) -> int:
        """All tokens of the call: what ``quantity_minor`` carries."""
        return self.input + self.output + self.cached_input + self.cache_write + self.reasoning

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input=self.input + other.input,
            output=self.output + other.output,
            cached_input=self.cached_input + other.cached_input,
            cache_write=self.cache_write + other.cache_write,
            reasoning=self.reasoning + other.reasoning,
        )


def _split(prompt: int, cached: int, cache_write: int, completion: int, reasoning: int, where: str) -> TokenUsage:
    """From inclusive counts (prompt includes cache reads/writes, completion includes reasoning) to disjoint ones."""
    if cached + cache_write > prompt or reasoning > completion:
        raise InputValidationError(f"{where} usage is inconsistent: a breakdown exceeds its total")
    return TokenUsage(
        input=prompt - cached - cache_write,
        cached_input=cached,
        cache_write=cache_write,
        output=completion - reasoning,
        reasoning=reasoning,
    )


def from_openai_chat(usage: Any) -> TokenUsage:
    """A chat completion's ``usage`` (``CompletionUsage`` or its dict form)."""
    return _split(
        _int(usage, "prompt_tokens"),
        _int(usage, "prompt_tokens_details", "cached_tokens"),
        _int(usage, "prompt_tokens_details", "cache_write_tokens"),
        _int(usage, "completion_tokens"),
        _int(usage, "completion_tokens_details", "reasoning_tokens"),
        "chat completions",
    )


def from_openai_responses(usage: Any) -> TokenUsage:
    """A response's ``usage`` (``ResponseUsage`` or its dict form)."""
    return _split(
        _int(usage, "input_tokens"),
        _int(usage, "input_tokens_details", "cached_tokens"),
        _int(usage, "input_tokens_details", "cache_write_tokens"),
        _int(usage, "output_tokens"),
        _int(usage, "output_tokens_details", "reasoning_tokens"),
        "responses",
    )


def from_anthropic(usage: Any) -> TokenUsage:
    """A message's final ``usage`` (after a stream: ``message_start``'s, overwritten by ``message_delta``'s).

    ``input_tokens`` excludes cache reads and writes, so the three are added, never subtracted.
    """
    output = _int(usage, "output_tokens")
    thinking = _int(usage, "output_tokens_details", "thinking_tokens")
    if thinking > output:
        raise InputValidationError("anthropic usage is inconsistent: thinking_tokens exceeds output_tokens")
    return TokenUsage(
        input=_int(usage, "input_tokens"),
        cached_input=_int(usage, "cache_read_input_tokens"),
        cache_write=_int(usage, "cache_creation_input_tokens"),
        output=output - thinking,
        reasoning=thinking,
    )


def from_langchain(usage_metadata: Any) -> TokenUsage:
    """An ``AIMessage.usage_metadata`` (``input_tokens`` includes cache reads and writes)."""
    return _split(
        _int(usage_metadata, "input_tokens"),
        _int(usage_metadata, "input_token_details", "cache_read"),
        _int(usage_metadata, "input_token_details", "cache_creation"),
        _int(usage_metadata, "output_tokens"),
        _int(usage_metadata, "output_token_details", "reasoning"),
        "langchain",
    )


class AnthropicStreamUsage:
    """Folds a raw Anthropic event stream's usage: ``message_start`` sets it, each ``message_delta`` overwrites.

    Never sums: the output count of ``message_start`` is a running count the final ``message_delta`` replaces.
    """

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.final = False

    def feed(self, event: Any) -> None:
        """Take one raw stream event (``message_start``, ``message_delta``; others are ignored)."""
        kind = _get(event, "type")
        if kind == "message_start":
            usage = _get(_get(event, "message"), "usage")
        elif kind == "message_delta":
            usage = _get(event, "usage")
            self.final = True
        else:
            return
        for name in (
            "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
            "output_tokens_details",
        ):  # fmt: skip
            value = _get(usage, name)
            if value is not None:
                self.fields[name] = value

    def usage(self) -> Optional[TokenUsage]:
        """The usage once the final ``message_delta`` arrived, else ``None``."""
        return from_anthropic(self.fields) if self.final else None


_FIELDS = ("input", "output", "cached_input", "cache_write", "reasoning")
# Where a count goes when its own meter is switched off (None): cache reads and writes are input, reasoning output.
_FOLD = {"cached_input": "input", "cache_write": "input", "reasoning": "output"}


@attrs.frozen
class MeterCodes:
    """Which Vluna meter each kind of token is committed to; ``{feature}`` is replaced by the feature code.

    A kind whose code is ``None`` is folded into its parent: cache reads and cache writes into ``input``,
    reasoning into ``output``. Use that when your prices do not tell them apart. Meters with zero tokens are left
    out of ``meters[]`` (the server refuses zero quantities); ``quantity_minor`` is always the sum.
    """

    input: str = "{feature}.input"
    output: str = "{feature}.output"
    cached_input: Optional[str] = "{feature}.cached_input"
    cache_write: Optional[str] = "{feature}.cache_write"
    reasoning: Optional[str] = None

    def __attrs_post_init__(self) -> None:
        for name in _FIELDS:
            code = getattr(self, name)
            if name in ("input", "output") and not code:
                raise InputValidationError(f"MeterCodes.{name} must be a meter code", field=name)
            if code is not None and (not isinstance(code, str) or not code.strip()):
                raise InputValidationError(f"MeterCodes.{name} must be a non-empty string or None", field=name)

    def meters(self, usage: TokenUsage, feature_code: str) -> list[dict[str, Any]]:
        """``meters[]`` for a commit: one entry per meter with tokens, in a fixed order."""
        amounts: dict[str, int] = {}
        order: list[str] = []
        for name in _FIELDS:
            target = name if getattr(self, name) is not None else _FOLD[name]
            code = str(getattr(self, target)).replace("{feature}", feature_code)
            if code not in amounts:
                order.append(code)
                amounts[code] = 0
            amounts[code] += getattr(usage, name)
        return [{"meter_code": code, "quantity_minor": amounts[code]} for code in order if amounts[code] > 0]
