"""Gated streaming in Flask: an LLM stream through the OpenAI adapter, and gated_stream for any streamed body."""

from __future__ import annotations

import gc
from typing import Any

import pytest

flask = pytest.importorskip("flask")
openai = pytest.importorskip("openai")

from flask import Flask, Response, g, request, session, stream_with_context  # noqa: E402

from vluna_client.contrib.flask import Vluna  # noqa: E402
from vluna_client.contrib.flask_stream import gated_stream  # noqa: E402
from vluna_client.contrib.openai import gate_openai  # noqa: E402
from vluna_client.testing import Emulator, FakeLLM, Usage  # noqa: E402

USAGE = Usage(input=12, output=5, cached_input=4)


def make_app(emu: Emulator, fake: FakeLLM) -> tuple[Flask, Any]:
    app = Flask("stream_test_app")
    app.testing = True
    app.secret_key = "test-only"
    app.config.update(
        VLUNA_SERVICE_BASE_URL=emu.service_base_url,
        VLUNA_REALM_ID=emu.realm_id,
        VLUNA_SERVICE_KEY_ID=emu.key_id,
        VLUNA_SERVICE_KEY_SECRET=emu.key_secret,
    )

    def current_payer():
        return (session["org_id"], session["user_id"]) if "user_id" in session else None

    # -- the newcomer case: the plain streaming view plus the three gate lines marked "gate" ------------------
    vluna = Vluna(app, identity=current_payer)  # gate
    client = gate_openai(OpenAI(fake), vluna=vluna, feature_code="llm.chat")  # gate (was: client = OpenAI(...))

    @app.post("/chat")
    def chat():
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=request.get_json(), stream=True)
        return Response(stream_with_context(stream.iter_text()), mimetype="text/plain")  # gate: iter_text()

    # -- gated_stream: any streamed body, the lease handed to it ------------------------------------------------
    @app.post("/pages")
    @gated_stream(vluna, "reports.pages", estimate=lambda req: 10 * len(req.get_json()["pages"]))
    def pages():
        def body():
            for page in request.get_json()["pages"]:
                yield f"<page>{page}</page>"
            g.vluna_lease.commit(quantity_minor=len(request.get_json()["pages"]))

        return body()

    return app, vluna


def OpenAI(fake: FakeLLM) -> Any:
    return openai.OpenAI(base_url=fake.openai_base_url, api_key="test-key", max_retries=0)


@pytest.fixture
def web(emu: Emulator, fake_llm: FakeLLM):
    app, _ = make_app(emu, fake_llm)
    client = app.test_client()
    with client.session_transaction() as s:
        s["org_id"], s["user_id"] = "org_1", "u_1"
    return client


def test_streamed_chat_is_charged_exactly(web, emu, fake_llm):
    fake_llm.reply("Hello from a stream", usage=USAGE)
    resp = web.post("/chat", json=[{"role": "user", "content": "hi"}])
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == "Hello from a stream"
    (commit,) = emu.ledger.commits()
    lines = {line.meter_code: line.quantity_minor for line in commit.lines}
    assert lines == {"llm.chat.input": 12, "llm.chat.cached_input": 4, "llm.chat.output": 5}
    assert (commit.principal_id, commit.user_id, commit.quantity_minor) == ("org_1", "u_1", 21)


def test_refusal_answers_402_and_the_provider_is_never_called(web, emu, fake_llm):
    emu.set_wallet_balance("org_1", 0)
    resp = web.post("/chat", json=[{"role": "user", "content": "hi"}])
    assert resp.status_code == 402
    assert resp.get_json()["ok"] is False
    assert fake_llm.request_count() == 0


def test_disconnect_mid_chat_drains_for_the_usage(web, emu, fake_llm):
    fake_llm.reply("one two three four", usage=USAGE)
    resp = web.post("/chat", json=[{"role": "user", "content": "hi"}], buffered=False)
    assert next(iter(resp.response)) == b"one "
    resp.close()  # what the WSGI server does when the client went away
    (commit,) = emu.ledger.commits()
    assert commit.quantity_minor == 21


def test_gated_stream_commits_from_the_body_with_an_estimate_from_the_request(web, emu):
    resp = web.post("/pages", json={"pages": ["a", "b", "c"]})
    assert resp.get_data(as_text=True) == "<page>a</page><page>b</page><page>c</page>"
    (commit,) = emu.ledger.commits()
    assert (commit.feature_code, commit.quantity_minor) == ("reports.pages", 3)
    (lease,) = emu.ledger.leases()
    assert (lease.state, lease.estimated_quantity_minor) == ("committed", 30)


def test_gated_stream_disconnect_before_the_commit_cancels(web, emu):
    resp = web.post("/pages", json={"pages": ["a", "b", "c"]}, buffered=False)
    assert next(iter(resp.response)) == b"<page>a</page>"
    resp.close()
    assert emu.ledger.commits() == []
    assert [lease.state for lease in emu.ledger.leases()] == ["cancelled"]


def test_gated_stream_body_never_read_cancels_on_close(web, emu):
    resp = web.post("/pages", json={"pages": ["a"]}, buffered=False)
    resp.close()
    assert [lease.state for lease in emu.ledger.leases()] == ["cancelled"]


@pytest.mark.parametrize("path", ["/pages", "/chat"])
def test_a_failing_after_request_hook_never_leaves_the_lease_open(emu, fake_llm, path):
    app, _ = make_app(emu, fake_llm)

    @app.after_request
    def broken(response):
        raise RuntimeError("a hook failed")

    client = app.test_client()
    with client.session_transaction() as s:
        s["org_id"], s["user_id"] = "org_1", "u_1"
    payload = {"pages": ["a"]} if path == "/pages" else [{"role": "user", "content": "hi"}]
    with pytest.raises(RuntimeError, match="a hook failed"):
        client.post(path, json=payload)
    gc.collect()
    assert emu.ledger.commits() == []
    assert [lease.state for lease in emu.ledger.leases()] == ["cancelled"]


def test_nobody_signed_in_answers_401(emu, fake_llm):
    app, _ = make_app(emu, fake_llm)
    resp = app.test_client().post("/pages", json={"pages": ["a"]})
    assert resp.status_code == 401
    assert emu.ledger.leases() == []


def test_a_gated_model_call_with_nobody_signed_in_answers_401(emu, fake_llm):
    app, _ = make_app(emu, fake_llm)
    resp = app.test_client().post("/chat", json=[{"role": "user", "content": "hi"}])
    assert resp.status_code == 401
    assert resp.get_json() == {
        "ok": False,
        "code": "AUTH.UNAUTHORIZED",
        "message": "sign in to use this feature",
        "hints": [],
    }
    assert fake_llm.request_count() == 0
    assert emu.ledger.leases() == []


def test_gated_stream_answers_a_403_from_authorize_as_json(web, emu):
    emu.faults.fail_next(1, 403, path="/mgt/v1/gate/authorize", code="QUOTA.EXCEEDED", message="no more")
    resp = web.post("/pages", json={"pages": ["a"]})
    assert resp.status_code == 403
    assert resp.get_json() == {"ok": False, "code": "QUOTA.EXCEEDED", "message": "no more", "hints": []}
    assert emu.ledger.leases() == []
