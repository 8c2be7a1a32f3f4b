"""Every operation of the specs, called through the generated client against a mocked deployment.

One case per (client, area, method): the arguments are built from the spec, the request that leaves the client
is checked field by field (method, encoded path, query, headers, signature, body) and the answer must come back
typed as the spec's response schema says.
"""

from __future__ import annotations

import importlib
import inspect
import json
import uuid
from urllib.parse import unquote, urlsplit

import pytest
import responses

from support.apispec import (
    ORIGIN,
    REALM,
    TOKEN,
    SampleBuilder,
    grouped,
    operations,
    page_item_node,
    plan_call,
    query_pairs,
    result_shape,
    specs,
    verify_svc_auth,
)
from vluna_client import Page, Result
from vluna_client._serde import unstructure

OPERATIONS = operations()
HINT = {"type": "quota.remaining", "max_quantity_minor": 5}


def envelope_for(so, samples):
    """A representative success envelope for the operation, and the sample data (or page item) inside it."""
    sp = specs()
    if so.pagination == "meta":
        node, nfile = page_item_node(sp, so)
        item = samples.response(node, nfile)
        env = {"ok": True, "code": "OK", "data": [item], "meta": {"next_cursor": None, "has_more": False, "limit": 50}}
        return env, item
    if so.pagination == "items":
        node, nfile = page_item_node(sp, so)
        item = samples.response(node, nfile)
        data = samples.response(so.data_schema, so.data_file)
        data.update({"items": [item], "next_cursor": None})
        return {"ok": True, "code": "OK", "data": data}, item
    data = samples.response(so.data_schema, so.data_file) if so.data_schema is not None else {}
    return {"ok": True, "code": "OK", "data": data, "hints": [HINT]}, data


def model_class(target):
    module, name = target
    return getattr(importlib.import_module(f"vluna_client._generated.models.{module}"), name)


@pytest.mark.parametrize("so", OPERATIONS, ids=[so.id for so in OPERATIONS])
def test_every_operation_sends_the_right_request(so, client_for):
    sp = specs()
    samples = SampleBuilder(sp)
    plan = plan_call(sp, samples, so)
    client = client_for(so.client)
    method = getattr(getattr(client, so.area), so.method_name)

    # The generated signature takes exactly the keywords the spec implies.
    params = inspect.signature(method).parameters
    unknown = sorted(set(plan.kwargs) - set(params))
    assert not unknown, f"{so.id} has no keyword(s) {unknown}; it takes {sorted(params)}"
    required = sorted(n for n, p in params.items() if p.default is inspect.Parameter.empty)
    assert set(required) <= set(plan.kwargs), f"{so.id} requires {required}"
    # ...and nothing else than the per-call options (the plan passes every parameter the spec declares).
    options = {"timeout"} | ({"idempotency_key"} if so.idempotency else set())
    assert set(params) - set(plan.kwargs) == options, f"{so.id}: unexpected keywords"

    env, sample = envelope_for(so, samples)
    url = ORIGIN + plan.path
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.add(so.http_method, url, json=env, status=so.success_status)
        result = method(**plan.kwargs)
        assert len(mock.calls) == 1
        request = mock.calls[0].request

    # -- method and path ------------------------------------------------------------------------------------
    assert request.method == so.http_method
    sent_path = urlsplit(request.url).path
    assert sent_path == plan.path
    for value in plan.path_values.values():
        encoded = value.replace(" ", "%20").replace("/", "%2F")
        assert encoded in sent_path, f"path parameter {value!r} not sent as {encoded!r}"
        assert value not in sent_path
    if plan.path_values:
        assert "%20" in sent_path
        assert "%2F" in sent_path
    assert unquote(sent_path) == so.path.format(**plan.path_values)

    # -- query: every pair, repeated keys for arrays, in order ----------------------------------------------
    assert grouped(query_pairs(request.url or "")) == grouped(plan.query)

    # -- headers --------------------------------------------------------------------------------------------
    headers = request.headers
    assert headers.get("X-Realm-Id") == REALM
    if so.client == "bearer":
        assert headers.get("Authorization") == f"Bearer {TOKEN}"
    elif so.bearer_override:
        assert headers.get("Authorization") == "Bearer dat-session-token"
    else:
        assert headers.get("Authorization", "").startswith("SVC-AUTH ")
        verify_svc_auth(request)
    if so.idempotency:
        key = headers.get("Idempotency-Key")
        assert key, "the spec declares IdempotencyKey: the client must send one"
        uuid.UUID(key)  # a generated key is a UUID
        assert result.idempotency_key == key
    else:
        assert "Idempotency-Key" not in headers
        assert result.idempotency_key is None
    for name, value in plan.headers.items():
        assert headers.get(name) == value, f"binding header {name}"
    for name in plan.absent_headers:
        assert name not in headers, f"{name} sent although the operation does not declare it"
    for binding, required in so.bindings.items():
        if required:  # required bindings are always part of the plan, hence always sent
            assert binding in plan.kwargs

    # -- body -----------------------------------------------------------------------------------------------
    if plan.body is None:
        assert not request.body, "a body-less operation sent a body"
        assert "Content-Type" not in headers
    else:
        assert headers.get("Content-Type") == "application/json"
        assert json.loads(request.body or b"") == plan.body

    # -- typed result ---------------------------------------------------------------------------------------
    assert result.status_code == so.success_status
    if so.pagination:
        assert isinstance(result, Page)
        node, nfile = page_item_node(sp, so)
        kind, target = result_shape(sp, node, nfile)
        assert isinstance(result.data, list)
        assert len(result.data) == 1
        assert result.next_cursor is None
        assert result.has_more is False
        items, expected = result.data, [sample]
        if kind == "model":
            assert all(isinstance(i, model_class(target)) for i in items), type(items[0])
    else:
        assert isinstance(result, Result)
        assert not isinstance(result, Page)
        assert [h.type for h in result.hints] == ["quota.remaining"]
        kind, target = result_shape(sp, so.data_schema, so.data_file)
        if kind == "model":
            assert isinstance(result.data, model_class(target)), type(result.data)
        elif kind == "list":
            assert isinstance(result.data, list)
            assert result.data
            assert all(isinstance(i, model_class(target)) for i in result.data)
        items, expected = [result.data], [sample]
    # Nothing of the answer is lost or renamed on the way: back to JSON it is the sample again.
    assert [unstructure(i) for i in items] == expected
