"""Each HTTP status maps to its exception, carrying everything the envelope and the exchange said (wire §5, §6)."""

from __future__ import annotations

import pytest

from support.mock_deployment import AUTHZ_DATA, URL, err, make_client, ok
from vluna_client import (
    NO_RETRIES,
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    Hint,
    InputValidationError,
    InsufficientFundsError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    ValidationError,
    VlunaError,
)

STATUS_MAP = [
    (400, "VALIDATION.INVALID_INPUT", InvalidRequestError),
    (401, "AUTH.INVALID_SERVICE_SIGNATURE", AuthenticationError),
    (402, "BUDGET.EXHAUSTED", PaymentRequiredError),
    (403, "AUTH.BILLING_USER_DISABLED", PermissionDeniedError),
    (404, "AUTH.UNKNOWN_REALM", NotFoundError),
    (409, "WRITE.INVALID_PAYLOAD", ConflictError),
    (422, "RESOURCE.NOT_FOUND", InvalidRequestError),
    (429, "LIMIT.RATE_EXCEEDED", RateLimitError),
    (500, "SERVER.CONFIG", ServerError),
    (502, "SERVER.UPSTREAM", ServerError),
    (503, "SERVER.DB_UNAVAILABLE", ServerError),
]


@pytest.fixture
def one_shot():
    client = make_client(retry=NO_RETRIES)
    yield client
    client.close()


def authorize(client, key="authz-err-1"):
    return client.gate.authorize(feature_code="llm.chat", principal_id="o", user_id="u", idempotency_key=key)


def server_side(error):
    """A 5xx on a write may come after the work was done: the client says so and keeps the 5xx inside."""
    assert isinstance(error, OutcomeUnknownError)
    assert error.may_have_applied is True
    assert error.last_error is error.__cause__
    return error.last_error


@pytest.mark.parametrize(("status", "code", "exc_type"), STATUS_MAP)
def test_status_maps_to_exception_with_all_fields(one_shot, rsps, status, code, exc_type) -> None:
    body = err(
        status,
        code,
        "something precise",
        hints=[{"type": "budget.shortfall", "budget_id": "b1", "shortfall_xusd": 250}],
    )
    body["meta"]["realm_id"] = "realm_demo"
    rsps.add(
        "POST",
        URL["authorize"],
        json=body,
        status=status,
        headers={"X-Request-Id": "0123456789abcdef0123456789abcdef"},
    )
    with pytest.raises(VlunaError) as info:
        authorize(one_shot)
    error = info.value if status < 500 else server_side(info.value)
    assert error.may_have_applied is False
    assert type(error) is exc_type
    assert isinstance(error, APIError)
    assert isinstance(error, VlunaError)
    assert error.status == status
    assert error.code == code
    assert error.message == "something precise"
    assert error.meta["status"] == status
    assert error.meta["realm_id"] == "realm_demo"
    assert len(error.hints) == 1
    assert isinstance(error.hints[0], Hint)
    assert error.hints[0].type == "budget.shortfall"
    assert error.hints[0]["shortfall_xusd"] == 250
    assert error.operation == "gate.authorize"
    assert error.idempotency_key == "authz-err-1"
    assert error.request_id == "0123456789abcdef0123456789abcdef"
    text = str(error)
    for part in (str(status), code, "something precise", "gate.authorize", "authz-err-1"):
        assert part in text
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("status", [400, 422])
def test_invalid_request_is_also_a_validation_error(one_shot, rsps, status) -> None:
    rsps.add("POST", URL["authorize"], json=err(status, "VALIDATION.INVALID_INPUT", "feature_code bad"), status=status)
    with pytest.raises(ValidationError) as info:
        authorize(one_shot)
    assert isinstance(info.value, InvalidRequestError)
    assert isinstance(info.value, ValueError)
    assert info.value.status == status


def test_insufficient_funds_alias() -> None:
    assert InsufficientFundsError is PaymentRequiredError


def test_request_id_absent_is_none(one_shot, rsps) -> None:
    rsps.add("POST", URL["authorize"], json=err(404, "RESOURCE.NOT_FOUND"), status=404)
    with pytest.raises(NotFoundError) as info:
        authorize(one_shot)
    assert info.value.request_id is None


def test_rate_limit_error_exposes_retry_after_from_header(one_shot, rsps) -> None:
    rsps.add("POST", URL["authorize"], json=err(429, "LIMIT.RATE_EXCEEDED"), status=429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimitError) as info:
        authorize(one_shot)
    assert info.value.retry_after == 7.0


def test_rate_limit_error_exposes_retry_after_from_hint(one_shot, rsps) -> None:
    body = err(429, "LIMIT.RATE_EXCEEDED", hints=[{"type": "rate.limit", "seconds": 30, "remaining": 0}])
    rsps.add("POST", URL["authorize"], json=body, status=429)
    with pytest.raises(RateLimitError) as info:
        authorize(one_shot)
    assert info.value.retry_after == 30.0
    assert info.value.hints[0]["remaining"] == 0


def test_conflict_knows_an_idempotency_conflict(one_shot, rsps) -> None:
    rsps.add("POST", URL["authorize"], json=err(409, "WRITE.INVALID_PAYLOAD", "idempotency_conflict"), status=409)
    rsps.add("POST", URL["authorize"], json=err(409, "CONFLICT", "immutable"), status=409)
    with pytest.raises(ConflictError) as first:
        authorize(one_shot)
    with pytest.raises(ConflictError) as second:
        authorize(one_shot)
    assert first.value.is_idempotency_conflict is True
    assert second.value.is_idempotency_conflict is False


# -- bodies that are not production envelopes ------------------------------------------------------------------


def test_html_error_page_maps_by_status(one_shot, rsps) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    rsps.add("POST", URL["authorize"], body=page, status=502, content_type="text/html")
    with pytest.raises(OutcomeUnknownError) as info:
        authorize(one_shot)
    error = server_side(info.value)
    assert isinstance(error, ServerError)
    assert error.status == 502
    assert error.code is None
    assert "502 Bad Gateway" in error.message
    assert error.operation == "gate.authorize"
    assert error.idempotency_key == info.value.idempotency_key == "authz-err-1"


def test_empty_error_body_maps_by_status(one_shot, rsps) -> None:
    rsps.add("GET", URL["limits"], body=b"", status=503)
    with pytest.raises(ServerError) as info:
        one_shot.gate.limits(principal_id="o", user_id="u")
    assert info.value.status == 503
    assert info.value.code is None
    assert "503" in info.value.message


def test_plain_text_error_maps_by_status(one_shot, rsps) -> None:
    rsps.add("GET", URL["limits"], body="Forbidden", status=403, content_type="text/plain")
    with pytest.raises(PermissionDeniedError) as info:
        one_shot.gate.limits(principal_id="o", user_id="u")
    assert info.value.message == "Forbidden"


@pytest.mark.parametrize(
    ("status", "message", "exc_type"),
    [
        (400, "missing_realm", InvalidRequestError),
        (401, "missing_token", AuthenticationError),
        (404, "Cannot GET /mgt/v1/nope", NotFoundError),
        (500, "Internal server error", ServerError),
    ],
)
def test_non_production_status_code_shape(one_shot, rsps, status, message, exc_type) -> None:
    rsps.add("POST", URL["authorize"], json={"statusCode": status, "message": message}, status=status)
    with pytest.raises(VlunaError) as info:
        authorize(one_shot)
    error = info.value if status < 500 else server_side(info.value)
    assert type(error) is exc_type
    assert error.status == status
    assert error.message == message
    assert error.code is None


def test_non_production_object_error_without_ok(one_shot, rsps) -> None:
    rsps.add(
        "POST",
        URL["authorize"],
        json={"code": "AUTH.INVALID_SERVICE_SIGNATURE", "message": "Signature mismatch"},
        status=401,
    )
    with pytest.raises(AuthenticationError) as info:
        authorize(one_shot)
    assert info.value.code == "AUTH.INVALID_SERVICE_SIGNATURE"
    assert info.value.message == "Signature mismatch"


def test_list_of_messages_is_joined(one_shot, rsps) -> None:
    rsps.add("POST", URL["authorize"], json={"statusCode": 400, "message": ["a must be set", "b too long"]}, status=400)
    with pytest.raises(InvalidRequestError) as info:
        authorize(one_shot)
    assert "a must be set" in info.value.message
    assert "b too long" in info.value.message


def test_ok_false_under_2xx_is_an_error(one_shot, rsps) -> None:
    rsps.add("POST", URL["authorize"], json={"ok": False, "code": "WRITE.FAILURE", "message": "nope"}, status=200)
    with pytest.raises(APIError) as info:
        authorize(one_shot)
    assert info.value.code == "WRITE.FAILURE"
    assert info.value.message == "nope"


def test_unknown_4xx_status_is_a_plain_api_error(one_shot, rsps) -> None:
    rsps.add("POST", URL["authorize"], json=err(418, "TEAPOT"), status=418)
    with pytest.raises(APIError) as info:
        authorize(one_shot)
    assert info.value.status == 418
    assert info.value.code == "TEAPOT"


def test_2xx_with_an_unreadable_shape_is_a_response_decode_error(one_shot, rsps) -> None:
    rsps.add("POST", URL["authorize"], json=ok({"feature_code": "llm.chat"}))  # lease_token missing
    with pytest.raises(ResponseDecodeError) as info:
        authorize(one_shot)
    assert info.value.status == 200
    assert info.value.raw == ok({"feature_code": "llm.chat"})
    assert info.value.operation == "gate.authorize"
    assert info.value.idempotency_key == "authz-err-1"
    assert len(rsps.calls) == 1


def test_success_with_request_id(one_shot, rsps) -> None:
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA), headers={"X-Request-Id": "abc123"})
    assert authorize(one_shot).request_id == "abc123"


# -- errors survive pickling (Celery result backends, multiprocessing) --------------------------------------------


def _refusal_and_unknown(one_shot, rsps):
    """A 402 with hints and a commit whose outcome is unknown, the two shapes an error has to carry across."""
    rsps.add(
        "POST",
        URL["authorize"],
        json=err(
            402, "BUDGET.EXHAUSTED", "budget exhausted", hints=[{"type": "budget.shortfall", "shortfall_xusd": 5}]
        ),
        status=402,
        headers={"X-Request-Id": "req-1"},
    )
    with pytest.raises(PaymentRequiredError) as refused:
        authorize(one_shot)
    rsps.add("POST", URL["commit"], json=err(503, "SERVER.DB_UNAVAILABLE"), status=503)
    with pytest.raises(OutcomeUnknownError) as unknown:
        one_shot.gate.commit(lease_token="lt", feature_code="llm.chat", quantity_minor=1, principal_id="o", user_id="u")
    return refused, unknown


def test_every_error_round_trips_through_pickle(one_shot, rsps) -> None:
    import pickle

    refused, unknown = _refusal_and_unknown(one_shot, rsps)
    for error in (refused.value, unknown.value):
        copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes, made one line up
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert copy.may_have_applied is error.may_have_applied
    copy = pickle.loads(pickle.dumps(refused.value))  # noqa: S301 - our own bytes
    assert (copy.status, copy.code, copy.request_id, copy.hints) == (
        402,
        "BUDGET.EXHAUSTED",
        "req-1",
        refused.value.hints,
    )
    copy = pickle.loads(pickle.dumps(unknown.value))  # noqa: S301 - our own bytes
    assert copy.idempotency_key == unknown.value.idempotency_key
    assert isinstance(copy.last_error, ServerError)
    assert copy.last_error.status == 503


def test_every_error_round_trips_through_json_as_celery_sends_it(one_shot, rsps) -> None:
    """Celery's JSON result format keeps the class's module and name and ``args``, and rebuilds with cls(*args)."""
    import json

    refused, unknown = _refusal_and_unknown(one_shot, rsps)

    def through_json(error):
        exc_message = json.loads(json.dumps(error.args))  # what the result backend stores and reads back
        return type(error)(*exc_message)

    copy = through_json(refused.value)
    assert type(copy) is PaymentRequiredError
    assert (copy.status, copy.code, copy.message, copy.request_id) == (
        402,
        "BUDGET.EXHAUSTED",
        "budget exhausted",
        "req-1",
    )
    assert copy.hints == refused.value.hints
    assert copy.hints[0]["shortfall_xusd"] == 5
    assert str(copy) == str(refused.value)

    copy = through_json(unknown.value)
    assert type(copy) is OutcomeUnknownError
    assert copy.may_have_applied is True
    assert (copy.idempotency_key, copy.attempts) == (unknown.value.idempotency_key, unknown.value.attempts)
    assert isinstance(copy.last_error, ServerError)
    assert copy.last_error.status == 503
    assert copy.pending == unknown.value.pending
    assert str(copy) == str(unknown.value)

    plain = ConfigurationError("missing configuration")
    assert plain.args == ("missing configuration",)  # nothing to carry: args stay as they were
    assert through_json(InputValidationError("bad", field="x")).field == "x"


def test_a_forged_nested_class_cannot_name_anything_but_an_error_of_this_client() -> None:
    forged = ["m", {"vluna_error": 1, "last_error": {"class": "__builtins__", "message": "x", "fields": {}}}]
    copy = OutcomeUnknownError(*forged)  # type: ignore[arg-type]  # args as they come back through JSON
    assert type(copy.last_error).__name__ == "VlunaError"
    # What the class decides never comes from the wire: an unknown outcome stays "may have applied".
    assert OutcomeUnknownError("m", {"vluna_error": 1, "may_have_applied": False}).may_have_applied is True  # type: ignore[arg-type,misc]
