"""SVC-AUTH verification: the wire-protocol §3.4 test vector, byte flips, and the failure codes of §3.3."""

from __future__ import annotations

import json
from typing import Dict, Iterator, Optional

import pytest
import requests

from support.emulator_wire import Wire
from support.svcauth import canonical, content_digest, sign
from support.svcauth_vectors import REFERENCE, VECTORS, SigningVector
from vluna_client.testing import Emulator
from vluna_client.testing._svcauth import (
    ServiceAuthFailure,
    ServiceKey,
    verify_service_request,
)
from vluna_client.testing._svcauth import (
    content_digest as emulator_content_digest,
)

VECTOR_SECRET = REFERENCE.secret_b64
VECTOR_KEY_ID = REFERENCE.key_id
VECTOR_BODY = REFERENCE.body
VECTOR_DIGEST = REFERENCE.digest
VECTOR_SIGNATURE = REFERENCE.signature
VECTOR_TS = REFERENCE.ts
VECTOR_NONCE = REFERENCE.nonce
VECTOR_PATH = REFERENCE.target
VECTOR_AUTH = REFERENCE.authorization


def vector_headers() -> Dict[str, str]:
    return {name.lower(): value for name, value in REFERENCE.wire_headers().items()}


KEYS = {VECTOR_KEY_ID: ServiceKey(VECTOR_KEY_ID, REFERENCE.secret, REFERENCE.realm_id)}


def verify(
    method: str = "POST", path: str = VECTOR_PATH, headers: Optional[Dict[str, str]] = None, body: bytes = VECTOR_BODY
) -> None:
    verify_service_request(
        method=method, path_with_query=path, headers=headers or vector_headers(), body=body, keys=KEYS
    )


def flip(text: str, index: int) -> str:
    char = text[index]
    return text[:index] + ("B" if char == "A" else "A") + text[index + 1 :]


def test_vector_digest_and_signature_agree_with_the_reference() -> None:
    assert emulator_content_digest(VECTOR_BODY) == VECTOR_DIGEST
    assert content_digest(VECTOR_BODY) == VECTOR_DIGEST
    text = canonical("POST", VECTOR_PATH, VECTOR_TS, VECTOR_NONCE, vector_headers())
    assert sign(REFERENCE.secret, text) == VECTOR_SIGNATURE


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_every_known_answer_vector_is_accepted_and_a_changed_signature_is_not(vector: SigningVector) -> None:
    headers = {name.lower(): value for name, value in vector.wire_headers().items()}
    keys = {vector.key_id: ServiceKey(vector.key_id, vector.secret, vector.realm_id)}
    assert emulator_content_digest(vector.body) == vector.digest
    verified = verify_service_request(
        method=vector.method, path_with_query=vector.target, headers=headers, body=vector.body, keys=keys
    )
    assert verified.canonical == vector.canonical
    assert (verified.key_id, verified.timestamp, verified.nonce) == (vector.key_id, vector.ts, vector.nonce)
    headers["authorization"] = vector.authorization.replace(vector.signature, flip(vector.signature, 0))
    with pytest.raises(ServiceAuthFailure) as caught:
        verify_service_request(
            method=vector.method, path_with_query=vector.target, headers=headers, body=vector.body, keys=keys
        )
    assert caught.value.message == "Signature mismatch"


def test_vector_is_accepted_by_the_verifier() -> None:
    verify()


@pytest.mark.parametrize(
    "header", ["content-type", "x-realm-id", "x-principal-id", "x-user-id", "idempotency-key", "content-digest"]
)
def test_a_flipped_byte_in_any_signed_header_is_refused(header: str) -> None:
    original = vector_headers()[header]
    for index in range(len(original)):
        headers = vector_headers()
        headers[header] = flip(original, index)
        with pytest.raises(ServiceAuthFailure) as caught:
            verify(headers=headers)
        assert caught.value.status in (401, 403), (header, index)


def test_a_flipped_byte_anywhere_in_the_body_is_refused() -> None:
    for index in range(len(VECTOR_BODY)):
        body = bytearray(VECTOR_BODY)
        body[index] ^= 0x01
        with pytest.raises(ServiceAuthFailure) as caught:
            verify(body=bytes(body))
        assert (caught.value.code, caught.value.message) == (
            "AUTH.INVALID_SERVICE_SIGNATURE",
            "Content-Digest mismatch",
        )


def test_a_flipped_byte_in_the_path_method_or_authorization_parameters_is_refused() -> None:
    for index in range(len(VECTOR_PATH)):
        with pytest.raises(ServiceAuthFailure):
            verify(path=flip(VECTOR_PATH, index))
    with pytest.raises(ServiceAuthFailure):
        verify(method="PUT")
    with pytest.raises(ServiceAuthFailure):
        verify(path=VECTOR_PATH + "?")
    for value in (VECTOR_SIGNATURE, VECTOR_TS, VECTOR_NONCE):
        for index in range(len(value)):
            headers = vector_headers()
            headers["authorization"] = VECTOR_AUTH.replace(value, flip(value, index))
            with pytest.raises(ServiceAuthFailure) as caught:
                verify(headers=headers)
            assert caught.value.status == 401


@pytest.mark.parametrize(
    ("header_value", "code", "message"),
    [
        (
            VECTOR_AUTH.replace("SVC-AUTH", "svc-auth"),
            "AUTH.INVALID_SERVICE_SIGNATURE",
            "Authorization header malformed",
        ),
        (VECTOR_AUTH.replace(",sig=", ", sig="), "AUTH.INVALID_SERVICE_SIGNATURE", "Authorization header malformed"),
        (
            VECTOR_AUTH.replace("HMAC-SHA256", "HMAC-SHA512"),
            "AUTH.INVALID_SERVICE_SIGNATURE",
            "Authorization header malformed",
        ),
        (
            VECTOR_AUTH.replace(VECTOR_KEY_ID, "pk-unknown00000000"),
            "AUTH.SERVICE_KEY_NOT_FOUND",
            "Service API key not recognized",
        ),
    ],
)
def test_header_grammar_and_unknown_key(header_value: str, code: str, message: str) -> None:
    headers = vector_headers()
    headers["authorization"] = header_value
    with pytest.raises(ServiceAuthFailure) as caught:
        verify(headers=headers)
    assert (caught.value.status, caught.value.code, caught.value.message) == (401, code, message)


def test_missing_digest_is_refused_before_the_signature() -> None:
    headers = vector_headers()
    del headers["content-digest"]
    with pytest.raises(ServiceAuthFailure) as caught:
        verify(headers=headers)
    assert caught.value.message == "Content-Digest header missing"


@pytest.fixture
def vector_emu() -> Iterator[Emulator]:
    with Emulator(realm_id="realm_demo", key_id=VECTOR_KEY_ID, key_secret=VECTOR_SECRET) as emulator:
        yield emulator


def test_vector_request_is_accepted_over_http(vector_emu: Emulator) -> None:
    headers = {
        "Authorization": VECTOR_AUTH,
        "Content-Type": "application/json",
        "Content-Digest": VECTOR_DIGEST,
        "X-Realm-Id": "realm_demo",
        "X-Principal-Id": "org_123",
        "X-User-Id": "user_42",
        "Idempotency-Key": "authz-7f3a",
    }
    with requests.Session() as session:
        accepted = session.post(vector_emu.url + VECTOR_PATH, data=VECTOR_BODY, headers=headers, timeout=10)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["data"]["feature_code"] == "openai.gpt-4o"
        # The server has no replay protection: the very same signed request is accepted again (and replayed).
        again = session.post(vector_emu.url + VECTOR_PATH, data=VECTOR_BODY, headers=headers, timeout=10)
        assert again.content == accepted.content
        tampered = dict(headers, **{"X-User-Id": "user_43"})
        refused = session.post(vector_emu.url + VECTOR_PATH, data=VECTOR_BODY, headers=tampered, timeout=10)
        assert refused.status_code == 401
        assert refused.json() == {
            "ok": False,
            "code": "AUTH.INVALID_SERVICE_SIGNATURE",
            "message": "Signature mismatch",
            "meta": {"status": 401},
        }


def test_tampered_signature_is_401(wire: Wire) -> None:
    response = wire.svc("POST", "/mgt/v1/gate/authorize", {"feature_code": "llm.chat"}, tamper="sig")
    assert response.status_code == 401
    assert response.json()["message"] == "Signature mismatch"


def test_tampered_body_fails_the_digest(wire: Wire) -> None:
    response = wire.svc("POST", "/mgt/v1/gate/authorize", {"feature_code": "llm.chat", "n": 1}, tamper="body")
    assert response.status_code == 401
    assert response.json()["message"] == "Content-Digest mismatch"


def test_path_is_signed_with_its_query(wire: Wire) -> None:
    response = wire.svc("GET", "/mgt/v1/gate/limits?expand=quotas", tamper="path")
    assert response.status_code == 401
    assert response.json()["message"] == "Signature mismatch"
    assert wire.svc("GET", "/mgt/v1/gate/limits?expand=quotas&expand=rates").status_code == 200


def test_digest_is_required_on_get(wire: Wire) -> None:
    response = wire.svc("GET", "/mgt/v1/wallet/balance", digest=False)
    assert response.status_code == 401
    assert response.json() == {
        "ok": False,
        "code": "AUTH.INVALID_SERVICE_SIGNATURE",
        "message": "Content-Digest header missing",
        "meta": {"status": 401},
    }


def test_get_digest_covers_no_body(wire: Wire) -> None:
    response = wire.svc("GET", "/mgt/v1/wallet/balance")
    assert response.status_code == 200, response.text


def test_unknown_key_and_missing_authorization(emu: Emulator, wire: Wire) -> None:
    stranger = Emulator(realm_id=emu.realm_id)  # never started: only its random credentials are used
    response = wire.svc("GET", "/mgt/v1/wallet/balance", key_id=stranger.key_id, secret=stranger.key_secret)
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH.SERVICE_KEY_NOT_FOUND"
    missing = wire.plain("GET", "/mgt/v1/wallet/balance", headers={"X-Realm-Id": emu.realm_id})
    assert missing.status_code == 401
    assert missing.json()["message"] == "unsupported_authorization_scheme"


def test_realm_header_checks(emu: Emulator, wire: Wire) -> None:
    missing = wire.plain("GET", "/mgt/v1/wallet/balance")
    assert (missing.status_code, missing.json()["code"], missing.json()["message"]) == (
        400,
        "VALIDATION.INVALID_INPUT",
        "missing_realm",
    )
    unknown = wire.plain("GET", "/mgt/v1/wallet/balance", headers={"X-Realm-Id": "nope"})
    assert unknown.status_code == 404
    assert unknown.json()["meta"] == {"clear_cached_realm": True, "realm_id": "nope", "status": 404}


def test_key_is_bound_to_its_realm() -> None:
    with Emulator(other_realms=["realm_other"]) as emulator:
        wire = Wire(emulator)
        try:
            response = wire.svc("GET", "/mgt/v1/wallet/balance", headers={"X-Realm-Id": "realm_other"})
        finally:
            wire.close()
    assert response.status_code == 403
    assert response.json()["code"] == "AUTH.SERVICE_KEY_REALM_FORBIDDEN"


def test_missing_runtime_bindings_is_401(wire: Wire) -> None:
    for principal, user in (("org", None), (None, "user"), (None, None)):
        response = wire.svc("POST", "/mgt/v1/gate/authorize", {"feature_code": "x"}, principal=principal, user=user)
        assert response.status_code == 401
        assert response.json() == {
            "ok": False,
            "code": "AUTH.MISSING_RUNTIME_BINDINGS",
            "message": "x-principal-id and x-user-id are required",
            "meta": {"status": 401},
        }


def test_token_issue_needs_no_runtime_binding(wire: Wire) -> None:
    body = {"principal_id": "org", "user_id": "u"}
    response = wire.svc("POST", "/mgt/v1/token/issue", body, principal=None, user=None)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert list(data) == [
        "access_token",
        "token_type",
        "expires_in",
        "expires_at",
        "billing_account_id",
        "billing_user_id",
    ]
    assert (data["token_type"], data["expires_in"]) == ("Bearer", 900)


def test_json_content_type_with_empty_body_is_400(wire: Wire) -> None:
    response = wire.svc("POST", "/mgt/v1/gate/cancel", raw=b"", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["message"] == "Body cannot be empty when content-type is set to 'application/json'"


def test_invalid_json_is_400(wire: Wire) -> None:
    response = wire.svc("POST", "/mgt/v1/gate/cancel", raw=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION.INVALID_INPUT"


def test_json_body_parses_despite_whitespace(wire: Wire) -> None:
    raw = json.dumps({"feature_code": "llm.chat"}, indent=4).encode()
    assert wire.svc("POST", "/mgt/v1/gate/authorize", raw=raw).status_code == 200
