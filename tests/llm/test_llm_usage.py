"""Provider accounting: each provider's counting quirk lands in the right meter, and the counts add up."""

from __future__ import annotations

import pytest

from vluna_client import InputValidationError
from vluna_client.contrib.llm_usage import (
    AnthropicStreamUsage,
    MeterCodes,
    TokenUsage,
    from_anthropic,
    from_langchain,
    from_openai_chat,
    from_openai_responses,
)


def test_openai_chat_counts_cached_and_reasoning_inside_their_totals() -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 40,
        "total_tokens": 140,
        "prompt_tokens_details": {"cached_tokens": 30, "cache_write_tokens": 20},
        "completion_tokens_details": {"reasoning_tokens": 25},
    }
    got = from_openai_chat(usage)
    assert got == TokenUsage(input=50, cached_input=30, cache_write=20, output=15, reasoning=25)
    assert got.total == 140


def test_openai_responses_reads_its_own_field_names() -> None:
    usage = {
        "input_tokens": 10,
        "output_tokens": 7,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens_details": {"reasoning_tokens": 2},
    }
    assert from_openai_responses(usage) == TokenUsage(input=6, cached_input=4, output=5, reasoning=2)


def test_anthropic_input_excludes_cache_reads_and_writes_so_they_are_added() -> None:
    usage = {"input_tokens": 10, "output_tokens": 7, "cache_creation_input_tokens": 2, "cache_read_input_tokens": 3}
    got = from_anthropic(usage)
    assert got == TokenUsage(input=10, cached_input=3, cache_write=2, output=7)
    assert got.total == 22


def test_anthropic_stream_final_delta_replaces_the_start_count_never_sums() -> None:
    fold = AnthropicStreamUsage()
    fold.feed({"type": "message_start", "message": {"usage": {"input_tokens": 10, "output_tokens": 1}}})
    assert fold.usage() is None  # no final count yet
    fold.feed({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}})
    fold.feed({"type": "message_delta", "usage": {"output_tokens": 7}})
    assert fold.usage() == TokenUsage(input=10, output=7)  # 7, not 8


def test_anthropic_stream_delta_may_update_the_input_side_too() -> None:
    fold = AnthropicStreamUsage()
    fold.feed({"type": "message_start", "message": {"usage": {"input_tokens": 0, "output_tokens": 1}}})
    fold.feed({"type": "message_delta", "usage": {"output_tokens": 5, "input_tokens": 9, "cache_read_input_tokens": 4}})
    assert fold.usage() == TokenUsage(input=9, cached_input=4, output=5)


def test_langchain_input_includes_cache_reads_and_writes() -> None:
    meta = {
        "input_tokens": 50,
        "output_tokens": 10,
        "total_tokens": 60,
        "input_token_details": {"cache_read": 20, "cache_creation": 5},
        "output_token_details": {"reasoning": 4},
    }
    assert from_langchain(meta) == TokenUsage(input=25, cached_input=20, cache_write=5, output=6, reasoning=4)


@pytest.mark.parametrize(
    "bad",
    [
        {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 6}},
        {"prompt_tokens": -1, "completion_tokens": 1},
        {"prompt_tokens": "5", "completion_tokens": 1},
    ],
)
def test_inconsistent_or_malformed_usage_is_refused(bad: dict) -> None:
    with pytest.raises(InputValidationError):
        from_openai_chat(bad)


def test_meters_skip_zero_counts_and_sum_to_the_total() -> None:
    usage = TokenUsage(input=10, output=5, cached_input=0, cache_write=2, reasoning=3)
    meters = MeterCodes().meters(usage, "llm.chat")
    assert meters == [
        {"meter_code": "llm.chat.input", "quantity_minor": 10},
        {"meter_code": "llm.chat.output", "quantity_minor": 8},  # reasoning folds into output by default
        {"meter_code": "llm.chat.cache_write", "quantity_minor": 2},
    ]
    assert sum(m["quantity_minor"] for m in meters) == usage.total


def test_switched_off_meters_fold_into_their_parent() -> None:
    codes = MeterCodes(input="in", output="out", cached_input=None, cache_write=None, reasoning="think")
    usage = TokenUsage(input=10, output=5, cached_input=4, cache_write=1, reasoning=3)
    assert codes.meters(usage, "f") == [
        {"meter_code": "in", "quantity_minor": 15},
        {"meter_code": "out", "quantity_minor": 5},
        {"meter_code": "think", "quantity_minor": 3},
    ]


def test_meter_codes_are_checked() -> None:
    with pytest.raises(InputValidationError):
        MeterCodes(input="")
    with pytest.raises(InputValidationError):
        MeterCodes(cached_input="  ")
