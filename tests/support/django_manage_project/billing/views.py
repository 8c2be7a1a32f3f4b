from django.http import JsonResponse

from vluna_client.contrib.django import gated


def current_payer(request):
    return ("org_shop", "user_7")


@gated("llm.summarize", estimated_quantity_minor=100)
def summarize(request):
    used = len(request.body)
    request.vluna_lease.commit(quantity_minor=used)
    return JsonResponse({"charged": used})
