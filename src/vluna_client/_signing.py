"""SVC-AUTH request signing: the canonical string, the HMAC and the Content-Digest.

The client signs each attempt itself, before the transport sees it: ``PreparedCall.attempt_headers`` (in
``_request``) applies the call's auth to a fresh copy of the headers, over the method, the path and query and
the body bytes that are then handed to ``Transport.send`` unchanged. What a transport adds afterwards must stay out
of the canonical string: ``RequestsTransport`` adds ``Content-Length``, and with your own ``requests.Session``, the
session's default headers that the call does not set itself (a session header named like one of
:data:`SIGNED_HEADERS` would therefore break the signature).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any, Optional

# The key id and secret rules live with the other configuration rules, which the framework checks apply too.
from ._config import check_key_id, decode_secret
from ._secret import Secret

# The headers the server puts in the canonical string, in its order, after method, path, ts and nonce.
SIGNED_HEADERS = (
    "Content-Digest",
    "Content-Type",
    "X-Realm-Id",
    "X-Principal-Id",
    "X-User-Id",
    "X-Billing-Account-Id",
    "X-Billing-User-Id",
    "Idempotency-Key",
)


def content_digest(body: bytes) -> str:
    """``sha-256=:<base64>:`` of the body bytes; an empty body digests zero bytes."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


_SIGNED_LOWER = tuple(name.lower() for name in SIGNED_HEADERS)


def canonical_string(method: str, path_with_query: str, ts: str, nonce: str, headers: Mapping[str, str]) -> str:
    """The twelve LF-joined lines the server recomputes; absent headers give empty values."""
    lookup = {k.lower(): v for k, v in headers.items()}
    lines = [method.upper(), path_with_query, "ts:" + ts, "nonce:" + nonce]
    lines += [name + ":" + lookup.get(name, "") for name in _SIGNED_LOWER]
    return "\n".join(lines)


def signature(secret: bytes, canonical: str) -> str:
    """Base64 HMAC-SHA256 of the canonical string."""
    # hmac.digest is the one-shot form of hmac.new(...).digest() (OpenSSL's HMAC, no Python HMAC object).
    return base64.b64encode(hmac.digest(secret, canonical.encode("utf-8"), "sha256")).decode("ascii")


def utc_timestamp() -> str:
    """ISO-8601 UTC with a ``Z`` suffix and milliseconds (truncated), the form Vluna's documentation uses."""
    # From the clock's nanoseconds rather than a datetime: it runs on every attempt.
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos // 1_000_000:03d}Z"


class ServiceKeySigner:
    """Signs requests with one service key. Its repr never shows the secret."""

    __slots__ = ("_secret", "key_id")

    def __init__(self, key_id: str, secret_b64: str) -> None:
        self.key_id = check_key_id(key_id)
        self._secret = decode_secret(secret_b64)

    def __repr__(self) -> str:
        return f"ServiceKeySigner(key_id={self.key_id!r}, secret=<redacted>)"

    def __reduce__(self) -> tuple[Any, ...]:
        # The secret travels wrapped in a Secret, so even a dump of the pickling state shows no key material.
        return (_rebuilt_signer, (self.key_id, Secret(base64.b64encode(self._secret).decode("ascii"))))

    def authorization(
        self,
        method: str,
        path_with_query: str,
        headers: Mapping[str, str],
        *,
        ts: Optional[str] = None,
        nonce: Optional[str] = None,
    ) -> str:
        """The ``Authorization`` value for a request whose other headers (digest included) are final."""
        ts = ts or utc_timestamp()
        nonce = nonce or secrets.token_hex(16)
        sig = signature(self._secret, canonical_string(method, path_with_query, ts, nonce, headers))
        return f"SVC-AUTH keyId={self.key_id},sig={sig},ts={ts},nonce={nonce},alg=HMAC-SHA256"


def _rebuilt_signer(key_id: str, secret: Secret) -> ServiceKeySigner:
    """A pickled :class:`ServiceKeySigner` on the other side."""
    return ServiceKeySigner(key_id, secret.reveal())
