"""The tests' one SVC-AUTH oracle: signing and verification written from wire-protocol.md §3, nothing else.

It imports neither the client's signer (``vluna_client._signing``) nor the emulator's verifier
(``vluna_client.testing._svcauth``), so a mistake in either shows up as a disagreement with this module; the
known-answer vectors in :mod:`support.svcauth_vectors` pin all three to the same numbers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Any, Dict, Mapping
from urllib.parse import urlsplit

# §3.2: after method, target, ts and nonce, these header values in this order, under lower-case prefixes.
SIGNED_HEADER_LINES = (
    "content-digest",
    "content-type",
    "x-realm-id",
    "x-principal-id",
    "x-user-id",
    "x-billing-account-id",
    "x-billing-user-id",
    "idempotency-key",
)

# §3.1, anchored: the server's grammar is looser, but a client must send exactly this shape.
AUTH_RE = re.compile(
    r"^SVC-AUTH keyId=(?P<key_id>[^,]+),sig=(?P<sig>[^,]+),ts=(?P<ts>[^,]+),nonce=(?P<nonce>[^,]+),alg=HMAC-SHA256$"
)

EMPTY_DIGEST = "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"


def content_digest(body: bytes) -> str:
    """``sha-256=:<base64 of SHA-256>:`` over the raw body bytes (zero bytes when there is no body)."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def decode_secret(secret_b64: str) -> bytes:
    """The HMAC key: the distributed base64 secret decoded (strictly, so a bad test constant fails loudly)."""
    try:
        return base64.b64decode(secret_b64, validate=True)
    except binascii.Error as exc:
        raise ValueError("test secret is not valid base64") from exc


def canonical(method: str, target: str, ts: str, nonce: str, headers: Mapping[str, str]) -> str:
    """The twelve LF-joined lines of §3.2; header names are matched case-insensitively, absent ones sign empty."""
    lower = {str(name).lower(): str(value) for name, value in headers.items()}
    lines = [method.upper(), target, "ts:" + ts, "nonce:" + nonce]
    lines += [f"{name}:{lower.get(name, '')}" for name in SIGNED_HEADER_LINES]
    return "\n".join(lines)


def sign(secret: bytes, text: str) -> str:
    """Padded standard base64 of HMAC-SHA256(secret, UTF-8 text)."""
    return base64.b64encode(hmac.new(secret, text.encode("utf-8"), hashlib.sha256).digest()).decode("ascii")


def authorization(key_id: str, sig: str, ts: str, nonce: str) -> str:
    """The ``Authorization`` value, parameters in the server's order with no spaces (§3.1)."""
    return f"SVC-AUTH keyId={key_id},sig={sig},ts={ts},nonce={nonce},alg=HMAC-SHA256"


def sign_request(
    method: str,
    target: str,
    headers: Mapping[str, str],
    *,
    key_id: str,
    secret: bytes,
    ts: str,
    nonce: str,
) -> str:
    """The ``Authorization`` value for a request whose other headers (``Content-Digest`` included) are final."""
    return authorization(key_id, sign(secret, canonical(method, target, ts, nonce, headers)), ts, nonce)


def parse_auth(value: str) -> Dict[str, str]:
    """The parameters of an SVC-AUTH header (``key_id``, ``sig``, ``ts``, ``nonce``); fails the test if malformed."""
    match = AUTH_RE.match(value)
    assert match, f"Authorization header does not follow the SVC-AUTH grammar: {value!r}"
    return match.groupdict()


def verify_signed(
    method: str, target: str, headers: Mapping[str, str], body: bytes, *, secret: bytes, key_id: str
) -> Dict[str, str]:
    """Check the digest and signature of a request the way the server does; return the Authorization parameters."""
    lower = {str(name).lower(): str(value) for name, value in headers.items()}
    assert lower.get("content-digest") == content_digest(body), "Content-Digest is not over the bytes sent"
    auth = parse_auth(lower.get("authorization", ""))
    assert auth["key_id"] == key_id
    text = canonical(method, target, auth["ts"], auth["nonce"], lower)
    assert len(auth["sig"]) == 44, "a base64 HMAC-SHA256 is 44 characters"
    assert hmac.compare_digest(auth["sig"], sign(secret, text)), f"bad signature over:\n{text}"
    return auth


def body_bytes(request: Any) -> bytes:
    """The body a ``requests.PreparedRequest`` (or look-alike) carries, as bytes."""
    body = request.body
    if body is None:
        return b""
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def request_target(url: str) -> str:
    """Path plus ``?query`` exactly as sent: what the server signs (``request.originalUrl``)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def verify_request(request: Any, *, secret: bytes, key_id: str) -> Dict[str, str]:
    """:func:`verify_signed` for a captured request (``requests.PreparedRequest``: method, url, headers, body)."""
    return verify_signed(
        request.method, request_target(request.url), request.headers, body_bytes(request), secret=secret, key_id=key_id
    )
