"""Known-answer SVC-AUTH vectors: every signer and verifier in the project must reproduce these numbers.

``REFERENCE`` is the test vector of wire-protocol.md §3.4 (checked there against the real server), copied here so
the tests never read the reference folder. The others were computed with :mod:`support.svcauth` and accepted by the
emulator's verifier (``vluna_client.testing._svcauth``) and the client's signer when they were written down; they
cover what §3.4 does not: a GET with repeated query keys and the empty-body digest, a UTF-8 body with a reserved
query string, a billing header and a ``+00:00`` timestamp, and a body-less POST with an escaped path and unsigned
headers present.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

from support.svcauth import authorization, decode_secret


@dataclass(frozen=True)
class SigningVector:
    """One signed request and its expected digest, canonical string and signature."""

    name: str
    secret_b64: str
    key_id: str
    method: str
    target: str
    #: Request headers other than Content-Digest and Authorization, as a client would send them.
    headers: Tuple[Tuple[str, str], ...]
    body: bytes
    ts: str
    nonce: str
    digest: str
    canonical: str
    signature: str

    @property
    def secret(self) -> bytes:
        """The raw HMAC key."""
        return decode_secret(self.secret_b64)

    @property
    def authorization(self) -> str:
        """The expected ``Authorization`` header value."""
        return authorization(self.key_id, self.signature, self.ts, self.nonce)

    @property
    def realm_id(self) -> str:
        """The ``X-Realm-Id`` the request carries (the realm its key must be bound to)."""
        return dict(self.headers)["X-Realm-Id"]

    def signed_headers(self) -> Dict[str, str]:
        """The headers with ``Content-Digest`` added: what the signer sees."""
        return {**dict(self.headers), "Content-Digest": self.digest}

    def wire_headers(self) -> Dict[str, str]:
        """Every header of the signed request, ``Authorization`` included."""
        return {**self.signed_headers(), "Authorization": self.authorization}


REFERENCE = SigningVector(
    name="reference-3.4",
    secret_b64="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    key_id="pk-AbCdEfGh12345678",
    method="POST",
    target="/mgt/v1/gate/authorize",
    headers=(
        ("Content-Type", "application/json"),
        ("X-Realm-Id", "realm_demo"),
        ("X-Principal-Id", "org_123"),
        ("X-User-Id", "user_42"),
        ("Idempotency-Key", "authz-7f3a"),
    ),
    body=b'{"feature_code":"openai.gpt-4o","estimated_quantity_minor":"1000"}',
    ts="2026-01-15T10:00:00Z",
    nonce="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    digest="sha-256=:iEoWXoTbpdlOhCQlZmpsqsUPZgDaAJaQ5TruUTyM/BY=:",
    canonical=(
        "POST\n"
        "/mgt/v1/gate/authorize\n"
        "ts:2026-01-15T10:00:00Z\n"
        "nonce:0f1e2d3c4b5a69788796a5b4c3d2e1f0\n"
        "content-digest:sha-256=:iEoWXoTbpdlOhCQlZmpsqsUPZgDaAJaQ5TruUTyM/BY=:\n"
        "content-type:application/json\n"
        "x-realm-id:realm_demo\n"
        "x-principal-id:org_123\n"
        "x-user-id:user_42\n"
        "x-billing-account-id:\n"
        "x-billing-user-id:\n"
        "idempotency-key:authz-7f3a"
    ),
    signature="DURltUiFIyGC01X9DAiecr06I/dJSw9ojR7DdPCzjzc=",
)

GET_REPEATED_QUERY = SigningVector(
    name="get-repeated-query",
    secret_b64="AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",  # bytes 0x01..0x20
    key_id="pk-TestKey00000001",
    method="GET",
    target="/mgt/v1/gate/limits?feature_code=a&feature_code=b&expand=quotas",
    headers=(
        ("X-Realm-Id", "realm_test"),
        ("X-Principal-Id", "org_42"),
        ("X-User-Id", "user_7"),
        ("X-Billing-Account-Id", "ba_9"),
    ),
    body=b"",
    ts="2026-03-01T08:30:00.123Z",
    nonce="00112233445566778899aabbccddeeff",
    digest="sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
    canonical=(
        "GET\n"
        "/mgt/v1/gate/limits?feature_code=a&feature_code=b&expand=quotas\n"
        "ts:2026-03-01T08:30:00.123Z\n"
        "nonce:00112233445566778899aabbccddeeff\n"
        "content-digest:sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:\n"
        "content-type:\n"
        "x-realm-id:realm_test\n"
        "x-principal-id:org_42\n"
        "x-user-id:user_7\n"
        "x-billing-account-id:ba_9\n"
        "x-billing-user-id:\n"
        "idempotency-key:"
    ),
    signature="9UOjuEU6ogJcHo7sXJWvVZq1AnYCNNWjm85WtP4SY3M=",
)

POST_UTF8_RESERVED_QUERY = SigningVector(
    name="post-utf8-body-reserved-query",
    secret_b64="//79/Pv6+fj39vX08/Lx8O/u7ezr6uno5+bl5OPi4eA=",  # bytes 0xff down to 0xe0
    key_id="pk-Zz9Yy8Xx7Ww6Vv5U",
    method="POST",
    target="/mgt/v1/features?x=1&y=a+b%2Fc&z=p&z=q",
    headers=(
        ("Content-Type", "application/json"),
        ("X-Realm-Id", "realm_demo"),
        ("X-Principal-Id", "org_123"),
        ("X-User-Id", "user_42"),
        ("X-Billing-User-Id", "bu_3"),
        ("Idempotency-Key", "5b0c8d1e-2f3a-4b5c-8d6e-7f8091a2b3c4"),
    ),
    body='{"note":"café ☕","n":"1"}'.encode(),
    ts="2026-01-15T10:00:00.123456+00:00",
    nonce="ffeeddccbbaa99887766554433221100",
    digest="sha-256=:DOb55zzGaxdzBMVGwvBngfX8gDZBCYFJC57KyL6XhFo=:",
    canonical=(
        "POST\n"
        "/mgt/v1/features?x=1&y=a+b%2Fc&z=p&z=q\n"
        "ts:2026-01-15T10:00:00.123456+00:00\n"
        "nonce:ffeeddccbbaa99887766554433221100\n"
        "content-digest:sha-256=:DOb55zzGaxdzBMVGwvBngfX8gDZBCYFJC57KyL6XhFo=:\n"
        "content-type:application/json\n"
        "x-realm-id:realm_demo\n"
        "x-principal-id:org_123\n"
        "x-user-id:user_42\n"
        "x-billing-account-id:\n"
        "x-billing-user-id:bu_3\n"
        "idempotency-key:5b0c8d1e-2f3a-4b5c-8d6e-7f8091a2b3c4"
    ),
    signature="v8/IVV/b8xvNUKscJ/AYNa2D7et/Kl/byOTA42M3Cso=",
)

BODYLESS_POST_ESCAPED_PATH = SigningVector(
    name="bodyless-post-escaped-path",
    secret_b64="AAIEBggKDA4QEhQWGBocHiAiJCYoKiwuMDI0Njg6PD4=",  # even bytes 0x00..0x3e
    key_id="pk-Qq1Rr2Ss3Tt4Uu5V",
    method="POST",
    target="/mgt/v1/billing-users/a%2Fb%20c/disable",
    headers=(
        ("X-Realm-Id", "realm_demo"),
        # Sent but not signed (§3.2): they must not change the canonical string.
        ("X-Realm-Admin", "true"),
        ("User-Agent", "vluna-client/test"),
        ("Idempotency-Key", "disable-bu-1"),
    ),
    body=b"",
    ts="1999-12-31T23:59:59Z",
    nonce="n-1",
    digest="sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
    canonical=(
        "POST\n"
        "/mgt/v1/billing-users/a%2Fb%20c/disable\n"
        "ts:1999-12-31T23:59:59Z\n"
        "nonce:n-1\n"
        "content-digest:sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:\n"
        "content-type:\n"
        "x-realm-id:realm_demo\n"
        "x-principal-id:\n"
        "x-user-id:\n"
        "x-billing-account-id:\n"
        "x-billing-user-id:\n"
        "idempotency-key:disable-bu-1"
    ),
    signature="poFgUpNSktYwNyTUnfEfc02EzV4IAGzK4blQKOVEkmo=",
)

VECTORS = (REFERENCE, GET_REPEATED_QUERY, POST_UTF8_RESERVED_QUERY, BODYLESS_POST_ESCAPED_PATH)
