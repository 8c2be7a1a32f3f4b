"""Gated streaming in Django: the lease handed to the StreamingHttpResponse body, and an LLM stream."""

from __future__ import annotations

from typing import Iterator

import pytest

django = pytest.importorskip("django")
pytest.importorskip("openai")

from django.conf import settings  # noqa: E402

if not settings.configured:
    from support.django_project import settings as project_settings

    settings.configure(**{name: value for name, value in vars(project_settings).items() if name.isupper()})
    django.setup()

from django.test import Client, override_settings  # noqa: E402

from support import django_stream_urls  # noqa: E402
from vluna_client.testing import Emulator, FakeLLM, Usage  # noqa: E402


@pytest.fixture
def web(vluna_env: dict[str, str], fake_llm: FakeLLM) -> Iterator[Client]:
    django_stream_urls.PROVIDER["base_url"] = fake_llm.openai_base_url
    identity = "support.django_stream_urls.current_payer"
    with override_settings(VLUNA={"IDENTITY": identity}, ROOT_URLCONF="support.django_stream_urls"):
        client = Client()
        from django.contrib.sessions.backends.signed_cookies import SessionStore

        store = SessionStore()
        store["org_id"], store["user_id"] = "org_1", "u_1"
        store.save()
        client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
        yield client


def read(response) -> str:
    try:
        return b"".join(response.streaming_content).decode()
    finally:
        response.close()


def test_streamed_chat_is_charged_exactly(web: Client, emu: Emulator, fake_llm: FakeLLM) -> None:
    fake_llm.reply("Hello from Django", usage=Usage(input=12, output=5, cached_input=4))
    response = web.post("/chat", [{"role": "user", "content": "hi"}], content_type="application/json")
    assert read(response) == "Hello from Django"
    (commit,) = emu.ledger.commits()
    assert {line.meter_code: line.quantity_minor for line in commit.lines} == {
        "llm.chat.input": 12,
        "llm.chat.cached_input": 4,
        "llm.chat.output": 5,
    }


def test_gated_stream_commits_from_the_body(web: Client, emu: Emulator) -> None:
    response = web.post("/pages", {"pages": ["a", "b"]}, content_type="application/json")
    assert read(response) == "<page>a</page><page>b</page>"
    (commit,) = emu.ledger.commits()
    assert commit.quantity_minor == 2
    (lease,) = emu.ledger.leases()
    assert (lease.state, lease.estimated_quantity_minor) == ("committed", 20)


def test_closing_mid_body_cancels(web: Client, emu: Emulator) -> None:
    response = web.post("/pages", {"pages": ["a", "b"]}, content_type="application/json")
    assert next(iter(response.streaming_content)) == b"<page>a</page>"
    response.close()  # Django closes the response when the client went away
    assert emu.ledger.commits() == []
    assert [lease.state for lease in emu.ledger.leases()] == ["cancelled"]


def test_refusal_answers_402_and_a_failing_view_cancels(web: Client, emu: Emulator) -> None:
    with pytest.raises(RuntimeError):
        web.post("/failing", {}, content_type="application/json")
    assert [lease.state for lease in emu.ledger.leases()] == ["cancelled"]
    emu.set_wallet_balance("org_1", 0)
    response = web.post("/pages", {"pages": ["a"]}, content_type="application/json")
    assert response.status_code == 402
    assert len(emu.ledger.leases()) == 1


def test_a_gated_model_call_with_nobody_signed_in_answers_401(web: Client, emu: Emulator, fake_llm: FakeLLM) -> None:
    web.cookies.clear()  # signed out: the view's payer is None, so the gated call finds no context
    response = web.post("/chat", [{"role": "user", "content": "hi"}], content_type="application/json")
    assert response.status_code == 401
    assert response.json() == {
        "ok": False,
        "code": "AUTH.UNAUTHORIZED",
        "message": "sign in to use this feature",
        "hints": [],
    }
    assert fake_llm.request_count() == 0
    assert emu.ledger.leases() == []


def test_gated_stream_answers_403_and_429_from_authorize_as_json(web: Client, emu: Emulator) -> None:
    from vluna_client import NO_RETRIES

    client = emu.service_client(retry=NO_RETRIES)
    identity = "support.django_stream_urls.current_payer"
    with override_settings(VLUNA={"CLIENT": client, "IDENTITY": identity}):
        emu.faults.fail_next(1, 403, path="/mgt/v1/gate/authorize", code="QUOTA.EXCEEDED", message="no more")
        forbidden = web.post("/pages", {"pages": ["a"]}, content_type="application/json")
        emu.faults.rate_limit_next(1, path="/mgt/v1/gate/authorize")
        limited = web.post("/pages", {"pages": ["a"]}, content_type="application/json")
    assert forbidden.status_code == 403
    assert forbidden.json() == {"ok": False, "code": "QUOTA.EXCEEDED", "message": "no more", "hints": []}
    assert limited.status_code == 429
    (hint,) = limited.json()["hints"]
    assert hint["type"] == "rate.limit"
    assert int(limited["Retry-After"]) == hint["seconds"]
    assert emu.ledger.leases() == []
    client.close()
