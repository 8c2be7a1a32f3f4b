"""The OpenAI adapter with the real openai SDK against the fake provider; Vluna is the emulator."""

from __future__ import annotations

import gc
import logging
import threading

import pytest

openai = pytest.importorskip("openai")

import vluna_client  # noqa: E402
from support.bindings import Who  # noqa: E402
from vluna_client.contrib.llm import MissingGateContextError, UnappliedChargeError, billable_tool, gate_context  # noqa: E402
from vluna_client.contrib.openai import gate_openai  # noqa: E402
from vluna_client.testing import Emulator, FakeLLM, ToolCall, Usage  # noqa: E402

from .conftest import lines, price  # noqa: E402

MSG = [{"role": "user", "content": "Say hello"}]
USAGE = Usage(input=20, output=6, cached_input=8, reasoning=2)
# What the ledger must show for USAGE: OpenAI's prompt_tokens (28) includes the 8 cached tokens; reasoning (2) is
# inside completion_tokens and goes to the output meter by default.
METERS = {"llm.chat.input": 20, "llm.chat.cached_input": 8, "llm.chat.output": 6}
AMOUNT = price("llm.chat", input=20, cached_input=8, output=6)
PAYER: Who = {"principal_id": "org_1", "user_id": "u_1"}


@pytest.fixture
def sdk(fake: FakeLLM):
    return openai.OpenAI(base_url=fake.openai_base_url, api_key="test-key", max_retries=2)


@pytest.fixture
def ai(sdk, vc):
    return gate_openai(sdk, vluna=vc, feature_code="llm.chat")


def one_commit(emu: Emulator):
    commits = emu.ledger.commits()
    assert len(commits) == 1, commits
    commit = commits[0]
    assert commit.application_status == "applied"
    return commit


def assert_charged(emu: Emulator, meters=METERS, amount=AMOUNT, feature="llm.chat"):
    commit = one_commit(emu)
    assert commit.feature_code == feature
    assert lines(commit) == meters
    assert commit.quantity_minor == sum(meters.values())
    assert commit.amount_xusd == amount == commit.applied_amount_xusd
    assert emu.ledger.cancels() == []
    return commit


def test_chat_completion_commits_its_exact_usage(ai, emu, fake):
    fake.reply("Hello!", usage=USAGE)
    with gate_context(**PAYER, labels={"request_id": "r-1"}):
        reply = ai.chat.completions.create(model="gpt-4o-mini", messages=MSG, max_tokens=50)
    assert reply.choices[0].message.content == "Hello!"
    commit = assert_charged(emu)
    assert (commit.principal_id, commit.user_id) == ("org_1", "u_1")
    assert dict(commit.labels) == {"model": "gpt-4o-mini", "request_id": "r-1"}
    (lease,) = emu.ledger.leases()
    assert lease.state == "committed"
    assert lease.estimated_quantity_minor == 50 + 1 + len('[{"role": "user", "content": "Say hello"}]') // 4
    assert fake.request_count("chat") == 1


def test_chat_stream_asks_for_usage_and_commits_when_the_usage_chunk_passes(ai, emu, fake):
    fake.reply("Hello there friend", usage=USAGE)
    with gate_context(**PAYER):
        stream = ai.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True)
        seen = []
        for chunk in stream:
            seen.append(chunk)
            if chunk.usage is not None:
                assert len(emu.ledger.commits()) == 1  # committed before the chunk reached the caller
    assert "".join(c.choices[0].delta.content or "" for c in seen if c.choices) == "Hello there friend"
    assert fake.requests[0].body["stream_options"] == {"include_usage": True}
    assert_charged(emu)


def test_chat_stream_context_manager(ai, emu, fake):
    fake.reply("Hi", usage=USAGE)
    with gate_context(**PAYER), ai.chat.completions.stream(model="gpt-4o-mini", messages=MSG) as stream:
        text = "".join(e.delta for e in stream if e.type == "content.delta")
    assert text == "Hi"
    assert_charged(emu)


def test_responses_plain_stream_and_context_manager(ai, emu, fake):
    usage = Usage(input=9, output=4, cached_input=3, reasoning=1)
    fake.reply("One", usage=usage, times=3)
    with gate_context(**PAYER):
        assert ai.responses.create(model="gpt-4o-mini", input="hi").output_text == "One"
        events = [e.type for e in ai.responses.create(model="gpt-4o-mini", input="hi", stream=True)]
        with ai.responses.stream(model="gpt-4o-mini", input="hi") as stream:
            final = stream.get_final_response()
    assert events[-1] == "response.completed"
    assert final.output_text == "One"
    commits = emu.ledger.commits()
    assert [lines(c) for c in commits] == [{"llm.chat.input": 9, "llm.chat.cached_input": 3, "llm.chat.output": 4}] * 3
    assert [c.amount_xusd for c in commits] == [price("x", input=9, cached_input=3, output=4)] * 3
    assert emu.ledger.cancels() == []


def test_tool_loop_bills_each_model_call_and_the_tool_separately(ai, emu, fake):
    fake.reply("", tool_calls=(ToolCall("weather", {"city": "Paris"}),), usage=Usage(input=30, output=10))
    fake.reply("It is sunny in Paris.", usage=Usage(input=45, output=8, cached_input=30))
    emu.set_price("tool.weather", 500)

    @billable_tool(ai.gate, "tool.weather")
    def weather(city: str) -> str:
        return f"sunny in {city}"

    messages = list(MSG)
    with gate_context(**PAYER):
        while True:
            reply = ai.chat.completions.create(model="gpt-4o-mini", messages=messages)
            message = reply.choices[0].message
            if not message.tool_calls:
                break
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls:
                result = weather(**__import__("json").loads(call.function.arguments))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    assert message.content == "It is sunny in Paris."
    commits = emu.ledger.commits()
    assert [(c.feature_code, lines(c)) for c in commits] == [
        ("llm.chat", {"llm.chat.input": 30, "llm.chat.output": 10}),
        ("tool.weather", {"tool.weather": 1}),
        ("llm.chat", {"llm.chat.input": 45, "llm.chat.cached_input": 30, "llm.chat.output": 8}),
    ]
    assert [c.amount_xusd for c in commits] == [3 * 30 + 11 * 10, 500, 3 * 45 + 30 + 11 * 8]
    assert fake.request_count("chat") == 2


@pytest.mark.parametrize("status", [500, 429])
def test_sdk_retries_inside_one_gated_call_commit_once(ai, emu, fake, status):
    fake.fail(status, retry_after=0.01)
    fake.reply("ok", usage=USAGE)
    with gate_context(**PAYER):
        ai.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert fake.request_count("chat") == 2
    assert len(emu.ledger.leases()) == 1
    assert_charged(emu)


def test_provider_error_cancels(ai, emu, fake):
    fake.fail(400)
    with gate_context(**PAYER), pytest.raises(openai.BadRequestError):
        ai.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    fake.fail(500, retry_after=0.01, times=3)  # every attempt of the SDK fails
    with gate_context(**PAYER), pytest.raises(openai.InternalServerError):
        ai.responses.create(model="gpt-4o-mini", input="x")
    assert emu.ledger.commits() == []
    assert [lease.state for lease in emu.ledger.leases()] == ["cancelled", "cancelled"]


def test_vluna_refusal_sends_nothing_to_the_provider(ai, emu, fake):
    emu.set_wallet_balance("org_1", 0)
    with gate_context(**PAYER), pytest.raises(vluna_client.PaymentRequiredError):
        ai.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    with gate_context(**PAYER), pytest.raises(vluna_client.PaymentRequiredError):
        ai.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True)
    with gate_context(**PAYER), pytest.raises(vluna_client.PaymentRequiredError):  # noqa: SIM117
        with ai.responses.stream(model="gpt-4o-mini", input="x"):
            pass
    emu.set_rate_limit("llm.chat", 0)
    with gate_context(principal_id="org_2", user_id="u_2"), pytest.raises(vluna_client.RateLimitError):
        ai.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert fake.request_count() == 0


def test_no_payer_raises_before_anything_is_sent(ai, emu, fake):
    with pytest.raises(MissingGateContextError):
        ai.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert fake.request_count() == 0
    assert emu.ledger.leases() == []


def test_cut_stream_cancels_and_says_so(ai, emu, fake, caplog):
    fake.cut_stream("a b c d", after=3)
    with gate_context(**PAYER), caplog.at_level(logging.WARNING, logger="vluna_client"):
        text = list(ai.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True).iter_text())
    assert text == ["a ", "b "]
    assert emu.ledger.commits() == []
    assert [lease.state for lease in emu.ledger.leases()] == ["cancelled"]
    assert "ended without a usage-bearing event" in caplog.text


def test_opting_out_of_stream_usage_cancels_at_the_end(ai, emu, fake, caplog):
    fake.reply("x y", usage=USAGE)
    with gate_context(**PAYER), caplog.at_level(logging.WARNING, logger="vluna_client"):
        stream = ai.chat.completions.create(
            model="gpt-4o-mini", messages=MSG, stream=True, stream_options={"include_usage": False}
        )
        assert "".join(stream.iter_text()) == "x y"
    assert fake.requests[0].body["stream_options"] == {"include_usage": False}
    assert emu.ledger.commits() == []
    assert "nothing is charged" in caplog.text


def test_closing_early_drains_for_the_usage_by_default(ai, emu, fake):
    fake.reply("one two three four five", usage=USAGE)
    with gate_context(**PAYER):
        stream = ai.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True)
        next(stream)
        next(stream)
        stream.close()  # the reader went away: the rest is read for its usage
    assert_charged(emu)


def test_closing_early_cancels_when_the_gate_says_so(sdk, vc, emu, fake):
    ai = gate_openai(sdk, vluna=vc, feature_code="llm.chat", on_early_close="cancel")
    fake.reply("one two three four five", usage=USAGE)
    with gate_context(**PAYER):
        stream = ai.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True)
        next(stream)
        stream.close()
    assert emu.ledger.commits() == []
    assert [lease.state for lease in emu.ledger.leases()] == ["cancelled"]


def test_a_dropped_stream_cancels_its_lease(ai, emu, fake):
    fake.reply("one two three", usage=USAGE)
    with gate_context(**PAYER):
        stream = ai.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True)
        next(stream)
    del stream
    gc.collect()
    assert emu.ledger.commits() == []
    assert [lease.state for lease in emu.ledger.leases()] == ["cancelled"]


def test_an_exception_in_a_stream_block_cancels(ai, emu, fake):
    fake.reply("one two three", usage=USAGE)

    def consume() -> None:
        with gate_context(**PAYER), ai.chat.completions.stream(model="gpt-4o-mini", messages=MSG) as stream:
            for _event in stream:
                raise KeyError("the caller's own failure")

    with pytest.raises(KeyError):
        consume()
    assert emu.ledger.commits() == []
    assert [lease.state for lease in emu.ledger.leases()] == ["cancelled"]


def test_a_lost_commit_answer_is_replayed_with_its_key_and_charged_once(ai, emu, fake):
    emu.faults.drop_response_after_processing(1, path="/mgt/v1/gate/commits")
    fake.reply("ok", usage=USAGE)
    with gate_context(**PAYER):
        ai.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert_charged(emu)
    assert len(emu.ledger.requests_to("/mgt/v1/gate/commits")) == 2


def test_strict_money_raises_on_a_quarantined_commit_and_keeps_the_answer(sdk, vc, emu, fake):
    emu.set_features({"llm.chat": ["llm.chat.input", "llm.chat.output"]})  # no cached_input meter
    ai = gate_openai(sdk, vluna=vc, feature_code="llm.chat")
    fake.reply("Hello!", usage=USAGE)
    with gate_context(**PAYER), pytest.raises(UnappliedChargeError) as caught:
        ai.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert caught.value.reasons == ("feature.meter_not_allowed",)
    assert caught.value.provider_response.choices[0].message.content == "Hello!"  # type: ignore[attr-defined]  # set by the adapter
    assert one_commit_status(emu) == "quarantined"


def test_strict_money_off_logs_an_unpriced_meter(sdk, vc, emu, fake, caplog):
    emu.set_price("llm.chat.cached_input", None)
    ai = gate_openai(sdk, vluna=vc, feature_code="llm.chat", strict=False)
    fake.reply("Hello!", usage=USAGE)
    with gate_context(**PAYER), caplog.at_level(logging.ERROR, logger="vluna_client"):
        ai.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert "pricing.not_configured" in caplog.text
    assert one_commit_status(emu) == "quarantined"


def one_commit_status(emu: Emulator) -> str:
    (commit,) = emu.ledger.commits()
    return commit.application_status


def test_models_map_to_features_and_calls_can_carry_their_own_context(sdk, vc, emu, fake):
    ai = gate_openai(sdk, vluna=vc, features={"gpt-4o*": "llm.gpt4o", "o3": "llm.o3"})
    fake.reply("a", usage=Usage(input=1, output=1), times=2)
    ai.chat.completions.create(model="gpt-4o-2024-08-06", messages=MSG, vluna_context=PAYER)
    ai.responses.create(model="o3", input="x", vluna_context={"principal_id": "org_9", "user_id": "u_9"})
    commits = emu.ledger.commits()
    assert [(c.feature_code, c.principal_id) for c in commits] == [("llm.gpt4o", "org_1"), ("llm.o3", "org_9")]
    assert "vluna_context" not in fake.requests[0].body
    with pytest.raises(vluna_client.ConfigurationError):
        ai.chat.completions.create(model="gpt-3.5", messages=MSG, vluna_context=PAYER)


def test_azure_client(vc, emu, fake):
    azure = openai.AzureOpenAI(azure_endpoint=fake.url, api_key="k", api_version="2024-10-21")
    ai = gate_openai(azure, vluna=vc, feature_code="llm.chat")
    fake.reply("hi", usage=USAGE)
    ai.chat.completions.create(model="my-deployment", messages=MSG, vluna_context=PAYER)
    assert fake.requests[0].path.startswith("/openai/deployments/my-deployment/chat/completions")
    assert_charged(emu)


def test_raw_response_helpers_cannot_bypass_the_gate(ai):
    with pytest.raises(AttributeError, match="not gated"):
        ai.chat.completions.with_raw_response  # noqa: B018
    assert ai.models is ai.unwrapped.models  # ungated resources pass through


def test_sixteen_threads_sharing_one_client_keep_their_payers_apart(ai, emu, fake):
    fake.reply("ok", usage=USAGE, times=32)
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def work(i: int) -> None:
        try:
            start.wait()
            with gate_context(principal_id=f"org_{i}", user_id=f"user_{i}", labels={"worker": str(i)}):
                ai.chat.completions.create(model="gpt-4o-mini", messages=MSG)
                "".join(ai.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True).iter_text())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    commits = emu.ledger.commits()
    assert len(commits) == 32
    for c in commits:
        worker = dict(c.labels)["worker"]
        assert c.principal_id == f"org_{worker}"
        assert c.user_id == f"user_{worker}"
        assert lines(c) == METERS
    assert sorted(c.principal_id for c in commits) == sorted([f"org_{i}" for i in range(16)] * 2)
    assert emu.ledger.cancels() == []
