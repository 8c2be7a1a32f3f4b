"""The Anthropic adapter with the real anthropic SDK against the fake provider; Vluna is the emulator."""

from __future__ import annotations

import logging
from typing import Any, Dict, List

import pytest

anthropic = pytest.importorskip("anthropic")

import vluna_client  # noqa: E402
from support.bindings import Who  # noqa: E402
from vluna_client.contrib.anthropic import gate_anthropic  # noqa: E402
from vluna_client.contrib.llm import billable_tool, gate_context  # noqa: E402
from vluna_client.testing import FakeLLM, ToolCall, Usage  # noqa: E402

from .conftest import lines, price  # noqa: E402

MSG = [{"role": "user", "content": "Bonjour"}]
# Anthropic's input_tokens (10) excludes the cache read (3) and the cache write (2): all three are billed.
USAGE = Usage(input=10, output=7, cached_input=3, cache_write=2)
METERS = {"llm.claude.input": 10, "llm.claude.output": 7, "llm.claude.cached_input": 3, "llm.claude.cache_write": 2}
AMOUNT = price("llm.claude", input=10, output=7, cached_input=3, cache_write=2)
PAYER: Who = {"principal_id": "org_1", "user_id": "u_1"}


@pytest.fixture
def ai(fake: FakeLLM, vc):
    sdk = anthropic.Anthropic(base_url=fake.url, api_key="test-key", max_retries=2)
    return gate_anthropic(sdk, vluna=vc, feature_code="llm.claude")


def assert_charged(emu, meters=METERS, amount=AMOUNT):
    (commit,) = emu.ledger.commits()
    assert commit.application_status == "applied"
    assert lines(commit) == meters
    assert commit.quantity_minor == sum(meters.values())
    assert commit.amount_xusd == amount
    assert emu.ledger.cancels() == []


def test_messages_create_bills_cache_reads_and_writes(ai, emu, fake):
    fake.reply("Bonjour !", usage=USAGE)
    with gate_context(**PAYER):
        message = ai.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MSG)
    assert message.content[0].text == "Bonjour !"
    assert_charged(emu)
    (lease,) = emu.ledger.leases()
    assert lease.estimated_quantity_minor == 64 + (len('[{"role": "user", "content": "Bonjour"}]') + 3) // 4


def test_raw_stream_counts_output_once_across_start_and_delta(ai, emu, fake):
    fake.reply("un deux trois", usage=USAGE)
    with gate_context(**PAYER):
        stream = ai.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MSG, stream=True)
        events = []
        for event in stream:
            events.append(event.type)
            if event.type == "message_delta":
                assert len(emu.ledger.commits()) == 1  # committed as the final usage passed
    assert events[0] == "message_start"
    assert events[-1] == "message_stop"
    assert_charged(emu)  # output 7, not 1 + 7


def test_messages_stream_context_manager(ai, emu, fake):
    fake.reply("un deux", usage=USAGE)
    with gate_context(**PAYER), ai.messages.stream(model="claude-sonnet-4-5", max_tokens=64, messages=MSG) as s:
        text = "".join(s.text_stream)
    assert text == "un deux"
    assert_charged(emu)


def test_iter_text_of_a_raw_stream(ai, emu, fake):
    fake.reply("un deux", usage=USAGE)
    with gate_context(**PAYER):
        stream = ai.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MSG, stream=True)
        assert "".join(stream.iter_text()) == "un deux"
    assert_charged(emu)


def test_tool_use_loop(ai, emu, fake):
    fake.reply("", tool_calls=(ToolCall("search", {"q": "vluna"}),), usage=Usage(input=20, output=9))
    fake.reply("Found it.", usage=Usage(input=5, output=3, cached_input=20))
    emu.set_price("tool.search", 250)

    @billable_tool(ai.gate, "tool.search", quantity_minor=lambda hits: len(hits))
    def search(q: str) -> list[str]:
        return [q + "-1", q + "-2"]

    messages: List[Dict[str, Any]] = list(MSG)
    with gate_context(**PAYER):
        while True:
            message = ai.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=messages)
            uses = [b for b in message.content if b.type == "tool_use"]
            if not uses:
                break
            messages.append({"role": "assistant", "content": [b.model_dump() for b in message.content]})
            results = [{"type": "tool_result", "tool_use_id": u.id, "content": str(search(**u.input))} for u in uses]
            messages.append({"role": "user", "content": results})
    commits = emu.ledger.commits()
    assert [(c.feature_code, lines(c), c.amount_xusd) for c in commits] == [
        ("llm.claude", {"llm.claude.input": 20, "llm.claude.output": 9}, 3 * 20 + 11 * 9),
        ("tool.search", {"tool.search": 2}, 500),
        ("llm.claude", {"llm.claude.input": 5, "llm.claude.output": 3, "llm.claude.cached_input": 20}, 15 + 33 + 20),
    ]


def test_retry_inside_one_call_commits_once(ai, emu, fake):
    fake.fail(529, retry_after=0.01)
    fake.reply("ok", usage=USAGE)
    with gate_context(**PAYER):
        ai.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MSG)
    assert fake.request_count("messages") == 2
    assert_charged(emu)


def test_provider_error_cancels_and_refusal_sends_nothing(ai, emu, fake):
    fake.fail(400)
    with gate_context(**PAYER), pytest.raises(anthropic.BadRequestError):
        ai.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MSG)
    assert [lease.state for lease in emu.ledger.leases()] == ["cancelled"]
    emu.set_wallet_balance("org_2", 0)
    with gate_context(principal_id="org_2", user_id="u_2"), pytest.raises(vluna_client.PaymentRequiredError):
        ai.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MSG, stream=True)
    assert fake.request_count() == 1  # only the 400
    assert emu.ledger.commits() == []


def test_cut_stream_cancels(ai, emu, fake, caplog):
    fake.cut_stream("un deux trois", after=4, usage=USAGE)
    with gate_context(**PAYER), caplog.at_level(logging.WARNING, logger="vluna_client"):
        stream = ai.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MSG, stream=True)
        assert "".join(stream.iter_text()) == "un "
    assert emu.ledger.commits() == []
    assert [lease.state for lease in emu.ledger.leases()] == ["cancelled"]
    assert "nothing is charged" in caplog.text
