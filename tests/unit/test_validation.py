"""Invalid input is refused before anything is sent (zero HTTP calls), and client.bind(...) defaults."""

from __future__ import annotations

import contextlib
import json

import pytest

from support.mock_deployment import AUTHZ_DATA, BASE_URL, COMMIT_DATA, URL, ok, verify_request
from support.svcauth import body_bytes
from vluna_client import APIError, ResponseDecodeError, ValidationError
from vluna_client._generated.models.gate import MeterCommit

MAX_SAFE = 2**53 - 1


@pytest.fixture
def mock(rsps):
    """Every gate route answers success: a validation gap would show up as a call, not as a missing mock."""
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    rsps.add("POST", URL["commit"], json=ok(COMMIT_DATA))
    rsps.add("GET", URL["limits"], json=ok([]))
    return rsps


def refused(mock, call, field=None):
    with pytest.raises(ValidationError) as info:
        call()
    assert not isinstance(info.value, APIError), "must be refused locally, not by the server"
    assert len(mock.calls) == 0
    if field is not None:
        assert info.value.field == field
    return info.value


# -- feature codes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["", "-llm", "llm-", "llm chat", "llm\tchat", "llm,chat", "llm#chat", "x" * 129, "ünïcode", ".llm"],
)
def test_bad_feature_code(client, mock, code) -> None:
    refused(
        mock,
        lambda: client.gate.authorize(feature_code=code, principal_id="o", user_id="u"),
        field="feature_code",
    )


@pytest.mark.parametrize("code", ["a", "llm.chat", "openai/gpt-4o@2024:mini", "A1", "x" * 128])
def test_good_feature_codes_are_sent(client, mock, code) -> None:
    client.gate.authorize(feature_code=code, principal_id="o", user_id="u")
    assert json.loads(body_bytes(mock.calls[0].request))["feature_code"] == code


def test_bad_meter_code_inside_a_list(client, mock) -> None:
    err = refused(
        mock,
        lambda: client.gate.commit(
            lease_token="lt",
            feature_code="llm.chat",
            quantity_minor=1,
            meters=[{"meter_code": "ok.meter", "quantity_minor": 1}, {"meter_code": "bad meter", "quantity_minor": 1}],
            principal_id="o",
            user_id="u",
        ),
    )
    assert err.field == "meters[1].meter_code"


# -- quantities -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "quantity", [-1, "-1", 1.5, 2.0, "1.5", "1e3", "", " 1", "0x10", True, False, None, [1], {"q": 1}]
)
def test_bad_quantity_is_refused(client, mock, quantity) -> None:
    refused(
        mock,
        lambda: client.gate.commit(
            lease_token="lt", feature_code="llm.chat", quantity_minor=quantity, principal_id="o", user_id="u"
        ),
        field="quantity_minor",
    )


@pytest.mark.parametrize("quantity", [MAX_SAFE + 1, 2**53, 2**64, str(MAX_SAFE + 1), "9" * 30])
def test_quantity_above_max_safe_integer_is_refused(client, mock, quantity) -> None:
    refused(
        mock,
        lambda: client.gate.commit(
            lease_token="lt", feature_code="llm.chat", quantity_minor=quantity, principal_id="o", user_id="u"
        ),
        field="quantity_minor",
    )


@pytest.mark.parametrize(("quantity", "wire"), [(0, "0"), (1500, "1500"), ("42", "42"), (MAX_SAFE, str(MAX_SAFE))])
def test_good_quantities_travel_as_integer_strings(client, mock, quantity, wire) -> None:
    client.gate.commit(
        lease_token="lt", feature_code="llm.chat", quantity_minor=quantity, principal_id="o", user_id="u"
    )
    assert json.loads(body_bytes(mock.calls[0].request))["quantity_minor"] == wire


def test_bad_estimated_quantity_on_authorize(client, mock) -> None:
    refused(
        mock,
        lambda: client.gate.authorize(
            feature_code="llm.chat", estimated_quantity_minor=-3, principal_id="o", user_id="u"
        ),
        field="estimated_quantity_minor",
    )


# -- required values ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bindings", "missing"),
    [
        ({}, "principal_id"),
        ({"user_id": "u"}, "principal_id"),
        ({"principal_id": "o"}, "user_id"),
        ({"principal_id": "", "user_id": "u"}, "principal_id"),
    ],
)
def test_runtime_routes_need_principal_and_user(client, mock, bindings, missing) -> None:
    refused(mock, lambda: client.gate.authorize(feature_code="llm.chat", **bindings), field=missing)
    refused(mock, lambda: client.gate.limits(**bindings), field=missing)


def test_account_scoped_route_needs_principal_or_account(client, rsps) -> None:
    rsps.add("GET", URL["products"], json=ok([], meta={"next_cursor": None, "has_more": False}))
    refused(rsps, lambda: client.catalog.list_products())


def test_missing_required_body_field(client, mock) -> None:
    refused(
        mock,
        lambda: client.gate.commit(
            lease_token="lt", feature_code="llm.chat", quantity_minor=None, principal_id="o", user_id="u"
        ),
        field="quantity_minor",
    )
    refused(
        mock,
        lambda: client.gate.commit(
            lease_token="", feature_code="llm.chat", quantity_minor=1, principal_id="o", user_id="u"
        ),
        field="lease_token",
    )


def test_missing_required_nested_field(client, mock) -> None:
    refused(
        mock,
        lambda: client.gate.commit(
            lease_token="lt",
            feature_code="llm.chat",
            quantity_minor=1,
            meters=[{"meter_code": "m"}],
            principal_id="o",
            user_id="u",
        ),
        field="meters[0].quantity_minor",
    )


def test_labels_must_be_strings(client, mock) -> None:
    refused(
        mock,
        lambda: client.gate.authorize(feature_code="llm.chat", labels={"n": 1}, principal_id="o", user_id="u"),
        field="labels.n",
    )


def test_missing_path_parameter(client, rsps) -> None:
    refused(rsps, lambda: client.billing_users.disable(billing_user_id=""), field="billing_user_id")


def test_realm_admin_must_be_a_bool(client, rsps) -> None:
    refused(rsps, lambda: client.billing_users.disable(billing_user_id="bu_1", realm_admin="yes"), field="realm_admin")


# -- idempotency keys -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "has space", " lead", "tab\there", "new\nline", "k" * 256, "ключ", "é"])
def test_bad_idempotency_key(client, mock, key) -> None:
    refused(
        mock,
        lambda: client.gate.authorize(feature_code="llm.chat", principal_id="o", user_id="u", idempotency_key=key),
        field="idempotency_key",
    )


def test_longest_idempotency_key_is_accepted(client, mock) -> None:
    key = "k" * 255
    client.gate.authorize(feature_code="llm.chat", principal_id="o", user_id="u", idempotency_key=key)
    assert mock.calls[0].request.headers["Idempotency-Key"] == key


# -- header values --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "org\n1",
        "org\r\nX-Evil: 1",
        "org\r",
        "org\x00",
        "org\x7f",
        "   ",
        "org_🙂",
        123,
    ],
)
@pytest.mark.parametrize("name", ["principal_id", "user_id"])
def test_header_injection_and_unsendable_values(client, mock, name, value) -> None:
    bindings = {"principal_id": "o", "user_id": "u", name: value}
    refused(mock, lambda: client.gate.authorize(feature_code="llm.chat", **bindings), field=name)


@pytest.mark.parametrize("value", [" org_123", "\u00a0org", "org_123 "])
def test_values_with_surrounding_whitespace_are_refused_locally(client, mock, sleeps, value) -> None:
    """A header value with leading/trailing whitespace cannot travel as signed: requests refuses a leading space
    (InvalidHeader) and HTTP parsers strip surrounding whitespace before the server rebuilds the canonical string.
    It must be an input error raised before any I/O, not a retried "connection" failure."""
    refused(mock, lambda: client.gate.authorize(feature_code="llm.chat", principal_id=value, user_id="u"))
    assert sleeps == []


def test_bind_refuses_injection_up_front(client) -> None:
    with pytest.raises(ValidationError):
        client.bind(principal_id="org\r\nX-Evil: 1")


# -- bind -------------------------------------------------------------------------------------------------------


def test_bind_defaults_apply_and_per_call_values_win(client, mock) -> None:
    _ = client.gate  # an area cached on the parent must not leak into the view
    bound = client.bind(principal_id="org_bound", user_id="user_bound")

    bound.gate.authorize(feature_code="llm.chat")
    bound.gate.authorize(feature_code="llm.chat", user_id="user_override")
    bound.gate.limits(principal_id="org_override")

    sent = [(c.request.headers["X-Principal-Id"], c.request.headers["X-User-Id"]) for c in mock.calls]
    assert sent == [("org_bound", "user_bound"), ("org_bound", "user_override"), ("org_override", "user_bound")]
    for call in mock.calls:
        verify_request(call.request)  # bound headers are signed like any other

    # the parent client is untouched
    refused_calls = len(mock.calls)
    with pytest.raises(ValidationError):
        client.gate.authorize(feature_code="llm.chat")
    assert len(mock.calls) == refused_calls


def test_bind_stacks_and_shares_settings(client, mock) -> None:
    a = client.bind(principal_id="org_a")
    b = a.bind(user_id="user_b")
    b.gate.limits()
    request = mock.calls[0].request
    assert (request.headers["X-Principal-Id"], request.headers["X-User-Id"]) == ("org_a", "user_b")
    assert b.base_url == client.base_url
    assert b.realm_id == client.realm_id
    assert b.timeout == client.timeout
    with pytest.raises(ValidationError):
        a.gate.limits()  # a has no user
    assert len(mock.calls) == 1


def test_bind_billing_account_for_account_scoped_routes(client, rsps) -> None:
    rsps.add("GET", URL["products"], json=ok([], meta={"next_cursor": None, "has_more": False}))
    client.bind(billing_account_id="ba_1").catalog.list_products()
    request = rsps.calls[0].request
    assert request.headers["X-Billing-Account-Id"] == "ba_1"
    assert "X-Principal-Id" not in request.headers
    verify_request(request)


# -- schema details -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("quantity_minor", {"quantity_minor": "5\n"}),
        ("feature_code", {"feature_code": "llm.chat\n", "quantity_minor": 5}),
    ],
)
def test_pattern_anchors_do_not_let_a_trailing_newline_through(client, mock, field, kwargs) -> None:
    """Spec patterns are JSON Schema (ECMA-262) regexes: `$` is the end of the text, so "5\\n" does not match
    ^[0-9]+$. Python's `$` also matches before a final newline, which must not widen what is accepted."""
    args = {"lease_token": "lt", "feature_code": "llm.chat", "principal_id": "o", "user_id": "u"}
    args.update(kwargs)
    refused(mock, lambda: client.gate.commit(**args), field=field)


@pytest.mark.parametrize("limit", [0, 201, -1, True, 5.0, "5"])
def test_query_parameters_are_validated(client, rsps, limit) -> None:
    rsps.add("GET", URL["features"], json=ok({"items": [], "next_cursor": None}))
    refused(rsps, lambda: client.features.list(limit=limit), field="limit")


def test_a_string_where_a_list_is_expected_is_refused(client, mock) -> None:
    # iterating "quotas" would send expand=q&expand=u&...
    refused(mock, lambda: client.gate.limits(principal_id="o", user_id="u", expand="quotas"), field="expand")


def test_attrs_models_are_accepted_as_input(client, mock) -> None:
    client.gate.commit(
        lease_token="lt",
        feature_code="llm.chat",
        quantity_minor=3,
        meters=[
            MeterCommit(meter_code="tokens.in", quantity_minor="2"),
            {"meter_code": "tokens.out", "quantity_minor": 1},
        ],
        principal_id="o",
        user_id="u",
    )
    sent = json.loads(body_bytes(mock.calls[0].request))
    assert sent["meters"] == [
        {"meter_code": "tokens.in", "quantity_minor": "2"},  # None fields left out, never null
        {"meter_code": "tokens.out", "quantity_minor": "1"},
    ]


def test_invalid_model_input_is_refused(client, mock) -> None:
    refused(
        mock,
        lambda: client.gate.commit(
            lease_token="lt",
            feature_code="llm.chat",
            quantity_minor=3,
            meters=[MeterCommit(meter_code="tokens in", quantity_minor="2")],
            principal_id="o",
            user_id="u",
        ),
        field="meters[0].meter_code",
    )


def test_none_optional_fields_are_left_out_of_the_body(client, mock) -> None:
    client.gate.authorize(feature_code="llm.chat", labels={"a": "1", "b": None}, principal_id="o", user_id="u")
    assert json.loads(body_bytes(mock.calls[0].request)) == {"feature_code": "llm.chat", "labels": {"a": "1"}}


@pytest.mark.parametrize("value", [".", ".."])
def test_dot_segments_are_refused_as_path_parameters(client, rsps, value) -> None:
    # "/billing-users/../disable" would be collapsed into another route and signed for it
    refused(rsps, lambda: client.billing_users.disable(billing_user_id=value), field="billing_user_id")


# -- a bound billing_account_id also feeds the body property / list filter of the same name ------------------
# Only the request matters here: the canned answers are not full resources, so decoding them is not asserted.


def assign_plan(mock, client, **extra):
    """Send one plan assignment; return the account it carried in the body and in the binding header."""
    mock.add("POST", f"{BASE_URL}/billing-plan-assignments", json=ok({}), status=201)
    with contextlib.suppress(ResponseDecodeError):
        client.plan_assignments.create(
            assignment_scope="account",
            plan_id="plan_1",
            source_kind="manual",
            source_ref="r1",
            window_start="2026-01-01T00:00:00Z",
            **extra,
        )
    sent = mock.calls[-1].request
    return json.loads(sent.body)["billing_account_id"], sent.headers["X-Billing-Account-Id"]


def test_bound_billing_account_reaches_the_body_of_a_plan_assignment(client, mock) -> None:
    assert assign_plan(mock, client.bind(billing_account_id="ba_7")) == ("ba_7", "ba_7")


def test_a_value_passed_to_the_call_wins_over_the_bound_one(client, mock) -> None:
    assert assign_plan(mock, client.bind(billing_account_id="ba_7"), billing_account_id="ba_8") == ("ba_8", "ba_8")


def test_bound_billing_account_reaches_an_ops_list_filter(client, mock) -> None:
    mock.add("GET", f"{BASE_URL}/ops/allocations", json=ok([], meta={"next_cursor": None, "has_more": False}))
    client.bind(billing_account_id="ba_7").ops.list_allocations()
    sent = mock.calls[0].request
    assert "billing_account_id=ba_7" in sent.path_url
    assert sent.headers["X-Billing-Account-Id"] == "ba_7"


def test_a_renamed_body_field_is_not_filled_from_the_binding(client, mock) -> None:
    # revenue_report's body field billing_account_id is a list (renamed billing_account_ids): never a bound string
    mock.add("POST", f"{BASE_URL}/ops/reports/revenue", json=ok([]), status=201)
    client.bind(billing_account_id="ba_7").ops.revenue_report(
        time={"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "granularity": "month"}
    )
    assert "billing_account_id" not in json.loads(mock.calls[0].request.body)


# -- event label keys: the server answers 500 for the whole call (every item of a batch) on a bad key -------------


@pytest.mark.parametrize("key", ["Team", "1st", "a", "has-dash", "x" * 65, "ünïcode"])
def test_bad_event_label_key_is_refused_before_sending(client, rsps, key) -> None:
    with pytest.raises(ValidationError) as info:
        client.events.record(
            semantic_kind="activity",
            event_type="job.done",
            occurred_at="2026-01-01T00:00:00Z",
            labels={key: "v"},
            principal_id="o",
            user_id="u",
        )
    assert info.value.field == "labels"
    assert repr(key) in str(info.value)
    assert len(rsps.calls) == 0


def test_one_bad_label_key_in_a_batch_is_refused_with_its_position(client, rsps) -> None:
    good = {"semantic_kind": "activity", "event_type": "job.done", "occurred_at": "2026-01-01T00:00:00Z"}
    with pytest.raises(ValidationError) as info:
        client.events.record_batch(
            events=[dict(good, labels={"team": "a"}), dict(good, labels={"Team": "b"})], principal_id="o", user_id="u"
        )
    assert info.value.field == "events[1].labels"
    assert len(rsps.calls) == 0


def test_good_event_label_keys_pass(client, rsps) -> None:
    rsps.add("POST", f"{BASE_URL}/events", json=ok({}), status=201)
    with contextlib.suppress(ResponseDecodeError):
        client.events.record(
            semantic_kind="activity",
            event_type="job.done",
            occurred_at="2026-01-01T00:00:00Z",
            labels={"team": "a", "region_eu_1": 2, "ok": True},
            principal_id="o",
            user_id="u",
        )
    assert json.loads(rsps.calls[0].request.body)["labels"] == {"team": "a", "region_eu_1": 2, "ok": True}
