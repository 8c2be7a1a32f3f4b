"""Wire details the per-operation test relies on or that it cannot show on its own.

* the independent SVC-AUTH verifier used by the other tests reproduces the wire protocol's test vector (§3.4), so
  a signing mistake cannot hide behind the same mistake in the test;
* bindings the spec makes mandatory are refused locally, before any network I/O;
* a path parameter can never change which route is called (dot segments).
"""

from __future__ import annotations

import contextlib
import re
from types import SimpleNamespace
from urllib.parse import unquote

import pytest
import responses
from requests.structures import CaseInsensitiveDict

from support.apispec import (
    ORIGIN,
    SampleBuilder,
    operations,
    plan_call,
    snake,
    specs,
    verify_svc_auth,
)
from support.svcauth_vectors import REFERENCE
from vluna_client import ResponseDecodeError, ValidationError

OPS = operations()


def test_signature_verifier_reproduces_the_wire_protocol_test_vector():
    # The verified vector of the wire protocol reference (§3.4), checked the way every API test checks a request.
    request = SimpleNamespace(
        method=REFERENCE.method,
        url="https://vluna.test" + REFERENCE.target,
        body=REFERENCE.body,
        headers=CaseInsensitiveDict(REFERENCE.wire_headers()),
    )
    verify_svc_auth(request, secret=REFERENCE.secret, key_id=REFERENCE.key_id)
    # and a tampered request does not verify
    request.headers["X-User-Id"] = "user_43"
    with pytest.raises(AssertionError):
        verify_svc_auth(request, secret=REFERENCE.secret, key_id=REFERENCE.key_id)


BINDING_CASES = [so for so in OPS if any(so.bindings.values()) or so.requires_one_of]


@pytest.mark.parametrize("so", BINDING_CASES, ids=[so.id for so in BINDING_CASES])
def test_missing_bindings_are_refused_before_any_io(so, client_for):
    sp = specs()
    plan = plan_call(sp, SampleBuilder(sp), so)
    kwargs = dict(plan.kwargs)
    for binding in set(so.bindings) | set(so.requires_one_of):
        kwargs.pop(binding, None)
    method = getattr(getattr(client_for(so.client), so.area), so.method_name)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        with pytest.raises(ValidationError):
            method(**kwargs)
        assert len(mock.calls) == 0


# One root cause (how the core fills path templates): a destructive call, a write with a suffix, a bearer read.
PATH_CASES = [
    so
    for so in OPS
    if so.id in ("service.rating_policies.delete_version", "bearer.budgets.close", "service.billing_users.get")
]


@pytest.mark.parametrize("so", PATH_CASES, ids=[so.id for so in PATH_CASES])
@pytest.mark.parametrize("value", ["..", "."])
def test_a_path_parameter_cannot_change_the_route(so, value, client_for):
    """``..`` or ``.`` as an id must be refused or sent encoded, never resolved as a dot segment.

    Otherwise e.g. ``rating_policies.delete_version(policy_id="p", policy_version="..")`` would be sent as
    ``DELETE /mgt/v1/event-rating-policies/p``, and signed as such: the server would delete the whole policy.
    """
    sp = specs()
    plan = plan_call(sp, SampleBuilder(sp), so)
    kwargs = dict(plan.kwargs)
    last = so.path_params[-1].wire
    kwargs[snake(last)] = value
    method = getattr(getattr(client_for(so.client), so.area), so.method_name)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(so.http_method, re.compile(re.escape(ORIGIN) + ".*"), json={"ok": True, "code": "OK", "data": {}})
        try:
            # Only the request that went out matters here, not whether the stub answer decodes.
            with contextlib.suppress(ResponseDecodeError):
                method(**kwargs)
        except ValidationError:
            assert len(mock.calls) == 0  # refused locally: fine
            return
        assert len(mock.calls) == 1
        sent = mock.calls[0].request.path_url.split("?")[0]
    expected = plan.path.split("/")
    expected[so.path.split("/").index("{" + last + "}")] = "?"
    segments = sent.split("/")
    assert len(segments) == len(expected), f"{so.id}: {value!r} was sent as {sent} (route changed)"
    for want, got in zip(expected, segments):
        if want == "?":
            assert got not in (".", ".."), f"{so.id}: {value!r} was sent as {sent}"
            assert unquote(got) == value, f"{so.id}: {value!r} was sent as {sent}"
        else:
            assert got == want, f"{so.id}: {value!r} was sent as {sent} (route changed)"
