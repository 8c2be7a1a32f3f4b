"""Streamed Django views for the gated-streaming tests (an LLM stream through the adapter, and gated_stream)."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from django.urls import path

from vluna_client.contrib.django import gated_stream, get_client
from vluna_client.contrib.openai import gate_openai

#: Set by the tests: the fake provider's OpenAI base URL.
PROVIDER = {"base_url": ""}


def current_payer(request: HttpRequest) -> Any:
    if "user_id" not in request.session:
        return None
    return request.session["org_id"], request.session["user_id"]


def chat(request: HttpRequest) -> Any:
    import openai

    client = gate_openai(
        openai.OpenAI(base_url=PROVIDER["base_url"], api_key="k", max_retries=0),
        vluna=get_client,
        feature_code="llm.chat",
    )
    messages = json.loads(request.body)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, stream=True, vluna_context=current_payer(request)
    )
    return StreamingHttpResponse(stream.iter_text(), content_type="text/plain")


@gated_stream("reports.pages", estimate=lambda request: 10 * len(json.loads(request.body)["pages"]))
def pages(request: HttpRequest) -> Any:
    wanted = json.loads(request.body)["pages"]

    def body() -> Any:
        for page in wanted:
            yield f"<page>{page}</page>"
        request.vluna_lease.commit(quantity_minor=len(wanted))

    return body()


@gated_stream("reports.pages")
def failing(request: HttpRequest) -> Any:
    raise RuntimeError("the view failed before streaming")


urlpatterns = [path("chat", chat), path("pages", pages), path("failing", failing)]
