"""The service-key secret and bearer tokens never show up in logs, reprs, strings or errors."""

from __future__ import annotations

import traceback

import pytest
import requests

from support.leaks import SECRET_FORMS, TOKEN_FORMS, all_log_text, assert_absent
from support.mock_deployment import (
    AUTHZ_DATA,
    BASE_URL,
    BEARER_BASE_URL,
    BEARER_TOKEN,
    COMMIT_DATA,
    KEY_ID,
    REALM,
    SECRET_B64,
    URL,
    err,
    make_client,
    ok,
)
from vluna_client import (
    NO_RETRIES,
    APIConnectionError,
    AuthenticationError,
    BearerClient,
    ConfigurationError,
    OutcomeUnknownError,
    ServerError,
    ValidationError,
)
from vluna_client._signing import ServiceKeySigner


def test_secret_not_in_logs_on_connection_failures(rsps, debug_logs) -> None:
    client = make_client()
    rsps.add("POST", URL["commit"], body=requests.exceptions.ConnectionError("reset"))
    with pytest.raises(OutcomeUnknownError) as info:
        client.gate.commit(lease_token="lt", feature_code="llm.chat", quantity_minor=1, principal_id="o", user_id="u")
    assert len(debug_logs.records) >= 2  # the retry warnings
    assert_absent(all_log_text(debug_logs), SECRET_FORMS)
    formatted = "".join(traceback.format_exception(type(info.value), info.value, info.value.__traceback__))
    assert_absent(str(info.value) + repr(info.value) + formatted, SECRET_FORMS)
    assert isinstance(info.value.last_error, APIConnectionError)


def test_secret_not_in_reprs_or_strings(rsps) -> None:
    client = make_client()
    bound = client.bind(principal_id="org_123", user_id="user_42")
    signer = ServiceKeySigner(KEY_ID, SECRET_B64)
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    rsps.add("POST", URL["commit"], json=ok(COMMIT_DATA, hints=[{"type": "quota.remaining", "max_quantity_minor": 1}]))
    with bound.lease(feature_code="llm.chat") as lease:
        result = lease.commit(quantity_minor=1)
        lease_text = repr(lease) + str(lease)
    with pytest.raises(ValidationError) as validation:
        bound.gate.commit(lease_token="lt", feature_code="bad code", quantity_minor=1)
    things = [
        client,
        bound,
        signer,
        client._base,
        client._base.auth,
        client.transport,
        client.gate,
        result,
        result.data,
        lease.authorization,
    ]
    text = "\n".join(repr(t) + str(t) for t in things) + lease_text
    text += repr(vars(client)) + repr(vars(bound)) + str(validation.value) + repr(validation.value)
    assert_absent(text, SECRET_FORMS)
    assert KEY_ID in repr(client)  # the key id is not secret and helps debugging
    assert "redacted" in repr(signer)


def test_bad_secret_error_does_not_echo_it() -> None:
    leaked = "c2VjcmV0LXRoYXQtaXMtbm90LWJhc2U2NA=!!"
    with pytest.raises(ConfigurationError) as info:
        make_client(key_secret=leaked)
    assert leaked not in str(info.value)
    assert leaked[:12] not in str(info.value)
    assert leaked not in repr(info.value)


def test_server_error_body_is_not_where_the_secret_goes(rsps) -> None:
    client = make_client(retry=NO_RETRIES)
    rsps.add("POST", URL["authorize"], json=err(500, "SERVER.UNEXPECTED"), status=500)
    with pytest.raises(OutcomeUnknownError) as info:
        client.gate.authorize(feature_code="llm.chat", principal_id="o", user_id="u")
    server_error = info.value.last_error
    assert isinstance(server_error, ServerError)
    for error in (info.value, server_error):
        assert_absent(str(error) + repr(error) + repr(vars(error)), SECRET_FORMS)
        assert "Authorization" not in repr(vars(error))


# -- bearer tokens ----------------------------------------------------------------------------------------------


def test_bearer_token_only_in_the_authorization_header(bearer_client, rsps, debug_logs) -> None:
    rsps.add("GET", f"{BEARER_BASE_URL}/catalog/products", json=ok([], meta={"next_cursor": None, "has_more": False}))
    bearer_client.catalog.list_products(limit=5)
    request = rsps.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {BEARER_TOKEN}"
    assert request.headers["X-Realm-Id"] == REALM
    assert "SVC-AUTH" not in request.headers["Authorization"]
    others = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    assert_absent(repr(others) + request.url + str(request.body), TOKEN_FORMS)
    assert_absent(all_log_text(debug_logs), TOKEN_FORMS)
    assert_absent(repr(bearer_client) + str(bearer_client) + repr(bearer_client.catalog), TOKEN_FORMS)


def test_bearer_token_not_in_errors_or_logs(rsps, debug_logs) -> None:
    client = BearerClient(base_url=BEARER_BASE_URL, realm_id=REALM, access_token=BEARER_TOKEN, retry=NO_RETRIES)
    url = f"{BEARER_BASE_URL}/catalog/products"
    rsps.add("GET", url, json=err(401, "AUTH.UNAUTHORIZED", "invalid_token"), status=401)
    rsps.add("GET", url, body=requests.exceptions.ConnectionError("reset"))
    with pytest.raises(AuthenticationError) as auth_error:
        client.catalog.list_products()
    with pytest.raises(APIConnectionError) as conn_error:
        client.catalog.list_products()
    for error in (auth_error.value, conn_error.value):
        formatted = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        assert_absent(str(error) + repr(error) + repr(vars(error)) + formatted, TOKEN_FORMS)
    assert_absent(all_log_text(debug_logs), TOKEN_FORMS)


def test_per_call_bearer_token_on_service_client_not_logged(rsps, debug_logs) -> None:
    client = make_client(retry=NO_RETRIES)
    token = "bootstrap-token-very-secret-123"
    rsps.add(
        "POST",
        "https://vluna.test/mgt/v1/dat/session/introspect",
        json=err(401, "AUTH.INVALID_BOOTSTRAP_TOKEN"),
        status=401,
    )
    with pytest.raises(AuthenticationError) as info:
        client.dat.introspect_session(access_token="session", bearer_token=token)
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {token}"
    assert_absent(all_log_text(debug_logs) + str(info.value) + repr(vars(info.value)), [token])


def test_bearer_client_rejects_unsendable_tokens_without_echoing_them() -> None:
    for bad in ("", "tok\nen-abc-secret", "   "):
        with pytest.raises(ConfigurationError) as info:
            BearerClient(base_url=BEARER_BASE_URL, realm_id=REALM, access_token=bad)
        if bad.strip():
            assert "secret" not in str(info.value)


@pytest.mark.parametrize("token", ["", " padded ", "line\nbreak", "tök€n"])
def test_a_bad_per_call_bearer_token_names_its_field_and_sends_nothing(client, rsps, token) -> None:
    with pytest.raises(ValidationError) as info:
        client.dat.introspect_session(access_token="session", bearer_token=token)
    assert info.value.field == "bearer_token"
    assert "bearer_token" in str(info.value)
    if token.strip():
        assert token.strip() not in str(info.value)
    assert len(rsps.calls) == 0


# -- tokens in results and argument bundles ----------------------------------------------------------------

TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJlLWJ5dGVz"


def test_an_issued_token_never_shows_in_the_result_repr(rsps) -> None:
    rsps.add(
        "POST",
        BASE_URL + "/token/issue",
        json=ok(
            {
                "access_token": TOKEN,
                "token_type": "Bearer",
                "expires_in": 900,
                "billing_account_id": "ba",
                "billing_user_id": "bu",
            }
        ),
    )
    result = make_client().token.issue(principal_id="org", user_id="user")
    assert result.data.access_token == TOKEN  # kept, for the caller to use
    for text in (repr(result), repr(result.data), str(result)):
        assert TOKEN not in text
        assert "<redacted>" in text


def test_a_per_call_bearer_token_never_shows_in_the_call_arguments_repr() -> None:
    from vluna_client._call import CallArgs

    args = CallArgs(bearer_token=TOKEN, query={"limit": 1})
    assert TOKEN not in repr(args)
    assert "bearer_token=<redacted>" in repr(args)
    assert "bearer_token=None" in repr(CallArgs())


def test_every_generated_credential_field_is_redacted() -> None:
    import importlib
    import pkgutil

    import attrs

    import vluna_client._generated.models as models

    credential_names = {"access_token", "refresh_token", "token", "secret", "key_secret", "client_secret"}
    checked = 0
    for info in pkgutil.iter_modules(models.__path__):
        module = importlib.import_module(f"{models.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and attrs.has(value) and value.__module__ == module.__name__:
                for field in attrs.fields(value):
                    if field.metadata.get("wire", field.name) in credential_names:
                        assert callable(field.repr), f"{value.__name__}.{field.name} shows in repr"
                        checked += 1
    # The token fields of the dat and token responses (request bodies get no models: their keywords are plain).
    assert checked >= 4
