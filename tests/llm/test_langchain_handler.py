"""The LangChain callback handler with real langchain-core (and LangGraph) against the fake provider."""

from __future__ import annotations

import operator
import sys
from typing import Annotated, Any, Optional, TypedDict

import pytest

pytest.importorskip("langchain_core")
openai = pytest.importorskip("openai")

from langchain_core.caches import InMemoryCache  # noqa: E402
from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langchain_core.tools import tool  # noqa: E402

import vluna_client  # noqa: E402
from support.bindings import Who  # noqa: E402
from vluna_client.contrib.langchain import VlunaCallbackHandler  # noqa: E402
from vluna_client.testing import FakeLLM, Usage  # noqa: E402

from .conftest import lines, price  # noqa: E402

PAYER: Who = {"principal_id": "org_1", "user_id": "u_1"}
USAGE = Usage(input=20, output=6, cached_input=8)
METERS = {"llm.lc.input": 20, "llm.lc.cached_input": 8, "llm.lc.output": 6}
AMOUNT = price("llm.lc", input=20, cached_input=8, output=6)


class FakeProviderChat(BaseChatModel):
    """A chat model the way LangChain's OpenAI integration builds one: the openai SDK, usage_metadata per message."""

    base_url: str
    model: str = "gpt-4o-mini"
    n: int = 1

    @property
    def _llm_type(self) -> str:
        return "fake-provider-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "n": self.n}

    def _generate(self, messages: list[Any], stop: Optional[list[str]] = None, run_manager: Any = None, **kw: Any):
        sdk = openai.OpenAI(base_url=self.base_url, api_key="k", max_retries=0)
        body = [{"role": "user", "content": str(m.content)} for m in messages]
        reply = sdk.chat.completions.create(model=self.model, messages=body, n=self.n)
        u = reply.usage
        meta = {
            "input_tokens": u.prompt_tokens,  # includes cached tokens, as LangChain reports it
            "output_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens,
            "input_token_details": {"cache_read": u.prompt_tokens_details.cached_tokens},
        }
        gens = [
            ChatGeneration(message=AIMessage(content=c.message.content, usage_metadata=meta)) for c in reply.choices
        ]
        return ChatResult(generations=gens)


class State(TypedDict):
    question: str
    answers: Annotated[list, operator.add]


@pytest.fixture
def handler(vc):
    return VlunaCallbackHandler(vluna=vc, feature_code="llm.lc", tools={"lookup": "tool.lookup"})


@pytest.fixture
def model(fake: FakeLLM):
    return FakeProviderChat(base_url=fake.openai_base_url)


def config(handler, **payer):
    return {"callbacks": [handler], "metadata": {"vluna": payer or PAYER}}


def test_one_invoke_one_commit_with_langchain_counting(model, handler, emu, fake):
    fake.reply("hi", usage=USAGE)
    assert model.invoke("hello", config=config(handler)).content == "hi"
    (commit,) = emu.ledger.commits()
    assert lines(commit) == METERS
    assert commit.amount_xusd == AMOUNT
    assert dict(commit.labels) == {"model": "gpt-4o-mini"}
    assert handler.open_runs == 0


def test_refusal_stops_the_run_before_the_model(model, handler, emu, fake):
    emu.set_wallet_balance("org_1", 0)
    with pytest.raises(vluna_client.PaymentRequiredError):
        model.invoke("hello", config=config(handler))
    assert fake.request_count() == 0


def test_model_error_cancels(model, handler, emu, fake):
    fake.fail(400)
    with pytest.raises(openai.BadRequestError):
        model.invoke("hello", config=config(handler))
    assert emu.ledger.commits() == []
    assert [lease.state for lease in emu.ledger.leases()] == ["cancelled"]
    assert handler.open_runs == 0


def test_batch_threads_are_keyed_by_run_id(model, handler, emu, fake):
    fake.reply("x", usage=USAGE, times=8)
    out = model.batch([f"q{i}" for i in range(8)], config=config(handler), max_concurrency=8)
    assert len(out) == 8
    commits = emu.ledger.commits()
    assert len(commits) == 8
    assert all(lines(c) == METERS for c in commits)
    assert emu.ledger.cancels() == []


def test_cache_hit_is_not_billed_again(fake, handler, emu):
    model = FakeProviderChat(base_url=fake.openai_base_url, cache=InMemoryCache())
    fake.reply("cached answer", usage=USAGE, times=2)
    model.invoke("same question", config=config(handler))
    model.invoke("same question", config=config(handler))
    assert fake.request_count() == 1
    assert len(emu.ledger.commits()) == 1
    assert [lease.state for lease in emu.ledger.leases()] == ["committed", "cancelled"]


def test_n_candidates_sharing_one_usage_are_counted_once(fake, handler, emu):
    model = FakeProviderChat(base_url=fake.openai_base_url, n=3)
    fake.reply("x", usage=USAGE)
    model.invoke("hello", config=config(handler))
    (commit,) = emu.ledger.commits()
    assert lines(commit) == METERS


def test_non_chat_runs_are_ignored(handler, emu):
    from langchain_core.language_models.fake import FakeListLLM

    FakeListLLM(responses=["plain"]).invoke("x", config=config(handler))
    assert emu.ledger.leases() == []


def test_billable_tool_and_ungated_tool(handler, emu):
    emu.set_price("tool.lookup", 40)

    @tool
    def lookup(q: str) -> str:
        """Look something up."""
        return q.upper()

    @tool
    def free(q: str) -> str:
        """Free tool."""
        return q

    assert lookup.invoke({"q": "a"}, config=config(handler)) == "A"
    free.invoke({"q": "a"}, config=config(handler))
    (commit,) = emu.ledger.commits()
    assert (commit.feature_code, commit.amount_xusd, dict(commit.labels)) == ("tool.lookup", 40, {"tool": "lookup"})


def test_missing_payer_raises(model, handler, fake):
    with pytest.raises(vluna_client.ConfigurationError):
        model.invoke("hello", config={"callbacks": [handler]})
    assert fake.request_count() == 0


@pytest.mark.skipif(sys.version_info < (3, 10), reason="LangGraph needs Python 3.10+")
def test_two_node_langgraph_graph_with_parallel_branches(model, handler, emu, fake):
    pytest.importorskip("langgraph")
    from langgraph.graph import END, START, StateGraph

    def node(name: str):
        def run(state: State) -> dict:
            reply = model.invoke([HumanMessage(content=f"{name}: {state['question']}")])
            return {"answers": [f"{name}={reply.content}"]}

        return run

    builder = StateGraph(State)
    builder.add_node("draft", node("draft"))
    builder.add_node("critic", node("critic"))
    builder.add_edge(START, "draft")
    builder.add_edge(START, "critic")  # both branches run in the same step, in parallel
    builder.add_edge("draft", END)
    builder.add_edge("critic", END)
    graph = builder.compile()

    fake.reply("ok", usage=USAGE, times=4)
    out = graph.invoke({"question": "why?", "answers": []}, config=config(handler))
    out2 = graph.invoke(
        {"question": "why?", "answers": []}, config=config(handler, principal_id="org_2", user_id="u_2")
    )
    assert sorted(out["answers"]) == ["critic=ok", "draft=ok"] == sorted(out2["answers"])
    commits = emu.ledger.commits()
    assert len(commits) == 4  # each node's model call is its own billable operation
    assert sorted(c.principal_id for c in commits) == ["org_1", "org_1", "org_2", "org_2"]
    assert all(lines(c) == METERS and c.amount_xusd == AMOUNT for c in commits)
    assert handler.open_runs == 0
