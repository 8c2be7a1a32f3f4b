"""Server-side SVC-AUTH verification, written independently of the client's signer.

This module deliberately shares no code with ``vluna_client``'s signing module: the emulator exists to catch
signing bugs in the client, which a shared implementation would silently agree with. It follows the verifier of the
real server step by step (see ``wire-protocol.md`` §3): an unanchored header regex with a fixed parameter order,
the twelve-line canonical string built from raw header values and the raw request target, a base64 HMAC-SHA256
compared in constant time, and a ``Content-Digest`` over the raw body bytes that is required on every request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Mapping, Optional

__all__ = [
    "EMPTY_BODY_DIGEST",
    "ParsedServiceAuthorization",
    "ServiceAuthFailure",
    "ServiceKey",
    "VerifiedServiceRequest",
    "canonical_request",
    "content_digest",
    "parse_service_authorization",
    "verify_service_request",
]

# Same shape as the server: unanchored (re.search), literal upper-case scheme, parameters in this exact order,
# separated by bare commas, values without commas, and only HMAC-SHA256.
_AUTH_HEADER = re.compile(r"\s*SVC-AUTH\s+keyId=([^,]+),sig=([^,]+),ts=([^,]+),nonce=([^,]+),alg=(HMAC-SHA256)\s*")

EMPTY_BODY_DIGEST = "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
"""``Content-Digest`` of a request without a body (SHA-256 of zero bytes)."""


@dataclass(frozen=True)
class ParsedServiceAuthorization:
    """The five parameters of an ``Authorization: SVC-AUTH ...`` header."""

    key_id: str
    signature: str
    timestamp: str
    nonce: str
    algorithm: str


@dataclass(frozen=True)
class ServiceKey:
    """A service key the emulator accepts: its id, the raw HMAC key bytes and the one realm it is bound to."""

    key_id: str
    secret: bytes
    realm_id: str


@dataclass(frozen=True)
class VerifiedServiceRequest:
    """What a successful verification established (used by strict mode for skew and nonce checks)."""

    key_id: str
    timestamp: str
    nonce: str
    canonical: str


class ServiceAuthFailure(Exception):
    """Verification failed; carries the HTTP status, error code and message the server would send."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def parse_service_authorization(header: str) -> Optional[ParsedServiceAuthorization]:
    """Parse an SVC-AUTH header value, or return ``None`` when it does not match the server's grammar."""
    match = _AUTH_HEADER.search(header)
    if match is None:
        return None
    return ParsedServiceAuthorization(
        key_id=match.group(1),
        signature=match.group(2),
        timestamp=match.group(3),
        nonce=match.group(4),
        algorithm=match.group(5),
    )


def content_digest(body: bytes) -> str:
    """Return the ``Content-Digest`` value for raw body bytes: ``sha-256=:<base64 digest>:``."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def canonical_request(
    *,
    method: str,
    path_with_query: str,
    timestamp: str,
    nonce: str,
    headers: Mapping[str, str],
) -> str:
    """Build the twelve-line canonical string the signature covers.

    Args:
        method: HTTP method as received (upper-cased here).
        path_with_query: the request target exactly as received, query string untouched.
        timestamp: ``ts`` from the Authorization header (opaque).
        nonce: ``nonce`` from the Authorization header (opaque).
        headers: header values keyed by lower-case name; absent headers sign as empty values.
    """

    def value(name: str) -> str:
        return headers.get(name, "")

    return "\n".join(
        (
            method.upper(),
            path_with_query,
            f"ts:{timestamp}",
            f"nonce:{nonce}",
            f"content-digest:{value('content-digest')}",
            f"content-type:{value('content-type')}",
            f"x-realm-id:{value('x-realm-id')}",
            f"x-principal-id:{value('x-principal-id')}",
            f"x-user-id:{value('x-user-id')}",
            f"x-billing-account-id:{value('x-billing-account-id')}",
            f"x-billing-user-id:{value('x-billing-user-id')}",
            f"idempotency-key:{value('idempotency-key')}",
        )
    )


def _constant_time_equal(left: str, right: str) -> bool:
    # hmac.compare_digest refuses non-ASCII str, and attackers control `left`: compare UTF-8 bytes instead.
    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))


def _invalid(message: str) -> ServiceAuthFailure:
    return ServiceAuthFailure(401, "AUTH.INVALID_SERVICE_SIGNATURE", message)


def _realm_key(key_id: str, headers: Mapping[str, str], keys: Mapping[str, ServiceKey]) -> ServiceKey:
    """The accepted key ``key_id`` names, if it belongs to the request's realm."""
    key = keys.get(key_id)
    if key is None:
        raise ServiceAuthFailure(401, "AUTH.SERVICE_KEY_NOT_FOUND", "Service API key not recognized")
    # Key constraints use the raw realm header (the realm guard before it compared a trimmed value).
    if headers.get("x-realm-id", "") != key.realm_id:
        raise ServiceAuthFailure(403, "AUTH.SERVICE_KEY_REALM_FORBIDDEN", "Service API key not authorized for realm")
    return key


def _check_content_digest(headers: Mapping[str, str], body: bytes) -> None:
    """The ``Content-Digest`` header must be present and match the body's SHA-256."""
    digest_header = headers.get("content-digest", "")
    if not digest_header:
        raise _invalid("Content-Digest header missing")
    if not _constant_time_equal(digest_header, content_digest(body)):
        raise _invalid("Content-Digest mismatch")


def verify_service_request(
    *,
    method: str,
    path_with_query: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, ServiceKey],
) -> VerifiedServiceRequest:
    """Verify an SVC-AUTH request the way the server's guard does, in the server's order.

    The caller has already checked ``X-Realm-Id`` (the realm guard runs first on the server).

    Args:
        method: HTTP method as received.
        path_with_query: the raw request target.
        headers: header values keyed by lower-case name, as the server sees them.
        body: the raw body bytes that the server digests (empty when it does not read a body, e.g. on GET).
        keys: accepted service keys by key id.

    Raises:
        ServiceAuthFailure: with the status, code and message the server would answer.
    """
    authorization = headers.get("authorization", "")
    if not authorization:
        raise ServiceAuthFailure(401, "AUTH.MISSING_SERVICE_SIGNATURE", "Authorization header missing")
    parsed = parse_service_authorization(authorization)
    if parsed is None:
        raise _invalid("Authorization header malformed")

    key = _realm_key(parsed.key_id, headers, keys)
    _check_content_digest(headers, body)

    canonical = canonical_request(
        method=method,
        path_with_query=path_with_query,
        timestamp=parsed.timestamp,
        nonce=parsed.nonce,
        headers=headers,
    )
    expected = base64.b64encode(hmac.new(key.secret, canonical.encode("utf-8"), hashlib.sha256).digest()).decode()
    if not _constant_time_equal(parsed.signature, expected):
        raise _invalid("Signature mismatch")

    if not headers.get("x-realm-id", "").strip():
        raise ServiceAuthFailure(400, "AUTH.MISSING_REALM", "realm_id missing in request")
    return VerifiedServiceRequest(
        key_id=key.key_id,
        timestamp=parsed.timestamp,
        nonce=parsed.nonce,
        canonical=canonical,
    )
