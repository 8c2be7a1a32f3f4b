"""Views beyond the README example: the failure paths and the class-based forms."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View

from vluna_client import Hint, PaymentRequiredError
from vluna_client.contrib.django import GatedViewMixin, gated, get_client


@gated("llm.chat")
def boom(request: HttpRequest) -> Any:
    assert request.vluna_lease.state == "open"
    raise RuntimeError("the model fell over")


@gated("llm.chat", labels={"route": "free"})
def free(request: HttpRequest) -> Any:
    return JsonResponse({"lease": request.vluna_lease.lease_id})


@gated("llm.chat")
def delegate(request: HttpRequest) -> Any:
    # a second paid step billed to another payer, whose wallet is empty
    with get_client().lease(feature_code="llm.tool", principal_id="org_broke", user_id="user_42"):
        raise AssertionError("unreachable: authorize refuses")


def plain(request: HttpRequest) -> Any:
    # hints as a deployment sends them with a refusal (the emulator's 402s carry none)
    raise PaymentRequiredError(
        "budget exceeded",
        status=402,
        code="BUDGET.EXCEEDED",
        hints=[Hint("budget.remaining", {"budget_id": "b_1", "remaining_xusd": "0"})],
    )


class MixinView(GatedViewMixin, View):
    vluna_feature_code = "llm.embed"
    vluna_estimated_quantity_minor = 50

    def post(self, request: HttpRequest) -> Any:
        used = json.loads(request.body)["used"]
        request.vluna_lease.commit(quantity_minor=used)
        return JsonResponse({"used": used})


@method_decorator(gated("llm.rerank"), name="post")
class MethodDecoratedView(View):
    def get(self, request: HttpRequest) -> Any:
        return JsonResponse({"gated": hasattr(request, "vluna_lease")})

    def post(self, request: HttpRequest) -> Any:
        request.vluna_lease.commit(quantity_minor=3)
        return JsonResponse({"gated": True})
