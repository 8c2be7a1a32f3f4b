"""SVC-AUTH: the §3.4 vector, and what the client actually signs and sends (wire-protocol.md §2, §3)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from support.mock_deployment import (
    AUTHZ_DATA,
    BILLING_USER,
    COMMIT_DATA,
    KEY_ID,
    SECRET_B64,
    SECRET_BYTES,
    URL,
    ok,
    verify_request,
)
from support.svcauth import EMPTY_DIGEST, body_bytes, canonical, content_digest, parse_auth, sign
from support.svcauth_vectors import REFERENCE, VECTORS, SigningVector
from vluna_client import ConfigurationError, _signing

# -- known-answer vectors (§3.4 and support/svcauth_vectors.py) ------------------------------------------------

VECTOR_BODY = REFERENCE.body
VECTOR_TS = REFERENCE.ts
VECTOR_NONCE = REFERENCE.nonce
VECTOR_DIGEST = REFERENCE.digest
VECTOR_SIG = REFERENCE.signature
VECTOR_CANONICAL = REFERENCE.canonical


def vector_headers() -> dict:
    return {
        "Content-Type": "application/json",
        "X-Realm-Id": "realm_demo",
        "X-Principal-Id": "org_123",
        "X-User-Id": "user_42",
        "Idempotency-Key": "authz-7f3a",
        "Content-Digest": VECTOR_DIGEST,
        # Not signed: must not disturb the canonical string.
        "Accept": "application/json",
        "User-Agent": "x",
        "X-Realm-Admin": "true",
    }


def test_vector_content_digest() -> None:
    assert _signing.content_digest(VECTOR_BODY) == VECTOR_DIGEST


def test_vector_empty_body_digest() -> None:
    assert _signing.content_digest(b"") == EMPTY_DIGEST


def test_vector_canonical_string_is_exact() -> None:
    text = _signing.canonical_string("POST", "/mgt/v1/gate/authorize", VECTOR_TS, VECTOR_NONCE, vector_headers())
    assert text == VECTOR_CANONICAL
    assert not text.endswith("\n")
    assert text.count("\n") == 11


def test_vector_canonical_string_header_lookup_is_case_insensitive_and_method_uppercased() -> None:
    lowered = {k.lower(): v for k, v in vector_headers().items()}
    text = _signing.canonical_string("post", "/mgt/v1/gate/authorize", VECTOR_TS, VECTOR_NONCE, lowered)
    assert text == VECTOR_CANONICAL


def test_vector_signature() -> None:
    secret = _signing.decode_secret(SECRET_B64)
    assert secret == SECRET_BYTES
    assert _signing.signature(secret, VECTOR_CANONICAL) == VECTOR_SIG


def test_vector_authorization_header() -> None:
    signer = _signing.ServiceKeySigner(KEY_ID, SECRET_B64)
    value = signer.authorization("POST", "/mgt/v1/gate/authorize", vector_headers(), ts=VECTOR_TS, nonce=VECTOR_NONCE)
    assert value == (f"SVC-AUTH keyId={KEY_ID},sig={VECTOR_SIG},ts={VECTOR_TS},nonce={VECTOR_NONCE},alg=HMAC-SHA256")


def test_independent_verifier_reproduces_the_vector() -> None:
    # Guards the test helper itself: if it disagreed with the reference vector every other check would be moot.
    assert content_digest(VECTOR_BODY) == VECTOR_DIGEST
    text = canonical("POST", "/mgt/v1/gate/authorize", VECTOR_TS, VECTOR_NONCE, vector_headers())
    assert text == VECTOR_CANONICAL
    assert sign(SECRET_BYTES, text) == VECTOR_SIG


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_oracle_and_client_signer_reproduce_every_known_answer_vector(vector: SigningVector) -> None:
    # Two implementations that share no code, against numbers written down once (the emulator's verifier is
    # checked against the same vectors in tests/emulator/test_svcauth.py).
    headers = vector.signed_headers()
    assert content_digest(vector.body) == vector.digest
    assert canonical(vector.method, vector.target, vector.ts, vector.nonce, headers) == vector.canonical
    assert sign(vector.secret, vector.canonical) == vector.signature
    assert _signing.content_digest(vector.body) == vector.digest
    assert _signing.canonical_string(vector.method, vector.target, vector.ts, vector.nonce, headers) == vector.canonical
    signer = _signing.ServiceKeySigner(vector.key_id, vector.secret_b64)
    value = signer.authorization(vector.method, vector.target, headers, ts=vector.ts, nonce=vector.nonce)
    assert value == vector.authorization
    assert parse_auth(value)["sig"] == vector.signature


def test_signer_defaults_give_fresh_iso_utc_timestamp_and_random_nonce() -> None:
    signer = _signing.ServiceKeySigner(KEY_ID, SECRET_B64)
    first = parse_auth(signer.authorization("GET", "/mgt/v1/features", {}))
    second = parse_auth(signer.authorization("GET", "/mgt/v1/features", {}))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", first["ts"])
    assert re.fullmatch(r"[0-9a-f]{32}", first["nonce"])
    assert first["nonce"] != second["nonce"]


@pytest.mark.parametrize("bad", ["not base64!!", "AAEC*AwQF", "", "   ", "QUJD=extra"])
def test_bad_secret_is_a_configuration_error(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        _signing.ServiceKeySigner(KEY_ID, bad)


@pytest.mark.parametrize("bad", ["", "pk-a,b", "pk a", "pk-a\n"])
def test_bad_key_id_is_a_configuration_error(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        _signing.ServiceKeySigner(bad, SECRET_B64)


# -- what the client sends ------------------------------------------------------------------------------------


def test_get_with_query_signs_the_exact_path_and_query_sent(client, rsps) -> None:
    rsps.add("GET", URL["limits"], json=ok([{"feature_code": "a"}, {"feature_code": "b"}]))
    result = client.gate.limits(principal_id="org_123", user_id="user_42", feature_code=["a", "b"], expand=["quotas"])
    assert [f.feature_code for f in result.data] == ["a", "b"]

    assert len(rsps.calls) == 1
    request = rsps.calls[0].request
    assert request.method == "GET"
    assert request.path_url == "/mgt/v1/gate/limits?feature_code=a&feature_code=b&expand=quotas"
    assert "Content-Type" not in request.headers
    assert body_bytes(request) == b""
    # Content-Digest is required on every SVC-AUTH request, GET included (§2).
    assert request.headers["Content-Digest"] == EMPTY_DIGEST
    assert request.headers["X-Realm-Id"] == "realm_demo"
    assert request.headers["X-Principal-Id"] == "org_123"
    assert request.headers["X-User-Id"] == "user_42"
    auth = verify_request(request)
    assert auth["key_id"] == KEY_ID


def test_query_values_with_reserved_characters_are_signed_as_sent(client, rsps) -> None:
    rsps.add("GET", URL["features"], json=ok({"items": [], "next_cursor": None}))
    client.features.list(q="a b/c&d=e?é+%", active=False, limit=5)
    request = rsps.calls[0].request
    query = urlsplit(request.path_url).query
    assert parse_qs(query) == {"q": ["a b/c&d=e?é+%"], "active": ["false"], "limit": ["5"]}
    # nothing unescaped that a proxy or the server could re-split
    assert "&d=" not in query
    assert " " not in query
    verify_request(request)


def test_body_less_post_sends_no_content_type_empty_body_and_empty_digest(client, rsps) -> None:
    rsps.add("POST", "https://vluna.test/mgt/v1/billing-users/bu_1/disable", json=ok(BILLING_USER), status=201)
    result = client.billing_users.disable(billing_user_id="bu_1")
    assert result.status_code == 201
    assert result.data.billing_user_id == "bu_1"

    request = rsps.calls[0].request
    assert request.method == "POST"
    assert "Content-Type" not in request.headers, "a JSON content type with an empty body is a 400 (§2, §3.5)"
    assert body_bytes(request) == b""
    assert request.headers["Content-Digest"] == EMPTY_DIGEST
    assert request.headers.get("Content-Length", "0") == "0"
    assert request.headers["Idempotency-Key"]
    verify_request(request)


def test_path_parameters_are_escaped_and_signed(client, rsps) -> None:
    rsps.add("POST", "https://vluna.test/mgt/v1/billing-users/a%2Fb%20c/disable", json=ok(BILLING_USER), status=201)
    client.billing_users.disable(billing_user_id="a/b c")
    request = rsps.calls[0].request
    assert request.path_url == "/mgt/v1/billing-users/a%2Fb%20c/disable"
    verify_request(request)


def test_digest_is_over_the_exact_bytes_sent(client, rsps) -> None:
    rsps.add("POST", URL["commit"], json=ok(COMMIT_DATA))
    client.gate.commit(
        lease_token="lt_abc",
        feature_code="llm.chat",
        quantity_minor=1500,
        labels={"note": "café ☕", "team": "a"},
        meters=[{"meter_code": "tokens.in", "quantity_minor": "1000"}],
        principal_id="org_123",
        user_id="user_42",
        idempotency_key="commit-1",
    )
    request = rsps.calls[0].request
    raw = body_bytes(request)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Content-Digest"] == content_digest(raw)
    assert request.headers["Content-Digest"] == (
        "sha-256=:" + base64.b64encode(hashlib.sha256(raw).digest()).decode() + ":"
    )
    assert int(request.headers["Content-Length"]) == len(raw)
    assert "café ☕".encode() in raw  # UTF-8 on the wire, and that is what was digested
    assert json.loads(raw) == {
        "lease_token": "lt_abc",
        "feature_code": "llm.chat",
        "quantity_minor": "1500",
        "labels": {"note": "café ☕", "team": "a"},
        "meters": [{"meter_code": "tokens.in", "quantity_minor": "1000"}],
    }
    verify_request(request)


def test_post_with_body_carries_json_content_type_and_verifies(client, rsps) -> None:
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    client.gate.authorize(
        feature_code="openai.gpt-4o",
        estimated_quantity_minor=1000,
        principal_id="org_123",
        user_id="user_42",
        idempotency_key="authz-7f3a",
    )
    request = rsps.calls[0].request
    assert request.path_url == "/mgt/v1/gate/authorize"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "authz-7f3a"
    assert json.loads(body_bytes(request)) == {"feature_code": "openai.gpt-4o", "estimated_quantity_minor": "1000"}
    verify_request(request)


def test_client_signs_the_reference_layout_end_to_end(client, rsps) -> None:
    """The §3.4 request sent through the client: the signature must be the HMAC of the vector's canonical string
    with only the per-attempt values changed (the client's own ts and nonce, and the digest of the body bytes it
    chose to send)."""
    rsps.add("POST", URL["authorize"], json=ok(AUTHZ_DATA))
    client.gate.authorize(
        feature_code="openai.gpt-4o",
        estimated_quantity_minor="1000",
        principal_id="org_123",
        user_id="user_42",
        idempotency_key="authz-7f3a",
    )
    request = rsps.calls[0].request
    auth = parse_auth(request.headers["Authorization"])
    assert auth["key_id"] == KEY_ID
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", auth["ts"])
    assert re.fullmatch(r"[0-9a-f]{32}", auth["nonce"])
    raw = body_bytes(request)
    assert json.loads(raw) == json.loads(VECTOR_BODY)
    expected_canonical = (
        VECTOR_CANONICAL.replace(f"ts:{VECTOR_TS}", f"ts:{auth['ts']}")
        .replace(f"nonce:{VECTOR_NONCE}", f"nonce:{auth['nonce']}")
        .replace(VECTOR_DIGEST, content_digest(raw))
    )
    assert expected_canonical.count("\n") == 11
    assert auth["sig"] == sign(SECRET_BYTES, expected_canonical)


def test_per_call_bearer_token_replaces_svc_auth(client, rsps) -> None:
    rsps.add("POST", "https://vluna.test/mgt/v1/dat/session/introspect", json=ok({"valid": True}), status=201)
    result = client.dat.introspect_session(access_token="session-token", bearer_token="bootstrap-token-xyz")
    assert result.data.valid is True
    request = rsps.calls[0].request
    assert request.headers["Authorization"] == "Bearer bootstrap-token-xyz"
    assert "SVC-AUTH" not in str(dict(request.headers))


def test_realm_admin_header_is_sent_but_not_signed(client, rsps) -> None:
    rsps.add("POST", "https://vluna.test/mgt/v1/billing-users/bu_1/disable", json=ok(BILLING_USER), status=201)
    rsps.add("POST", "https://vluna.test/mgt/v1/billing-users/bu_1/disable", json=ok(BILLING_USER), status=201)
    client.billing_users.disable(billing_user_id="bu_1", realm_admin=True)
    client.billing_users.disable(billing_user_id="bu_1", realm_admin=False)
    first, second = (c.request for c in rsps.calls)
    assert first.headers["X-Realm-Admin"] == "true"
    assert "X-Realm-Admin" not in second.headers
    verify_request(first)  # §3.2: X-Realm-Admin is not part of the canonical string
    verify_request(second)
