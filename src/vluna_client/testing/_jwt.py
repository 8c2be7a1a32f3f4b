"""Minimal HS256 JSON Web Tokens for the emulator's platform bearer tokens (standard library only)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, Dict, Mapping

__all__ = ["TokenError", "decode_hs256", "encode_hs256"]


class TokenError(Exception):
    """The token is malformed, badly signed, or uses another algorithm."""


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if any(ch not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for ch in text):
        raise TokenError("invalid base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _compact(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_hs256(header: Mapping[str, Any], payload: Mapping[str, Any], secret: bytes) -> str:
    """Sign ``payload`` with HMAC-SHA256 and return the compact JWS serialisation."""
    signing_input = _b64url_encode(_compact(header)) + "." + _b64url_encode(_compact(payload))
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64url_encode(signature)


def decode_hs256(token: str, secret: bytes) -> tuple[Dict[str, Any], Dict[str, Any]]:
    """Verify an HS256 token's signature and return ``(header, payload)``.

    Claims (expiry, issuer, audience) are left to the caller, which knows what it expects.

    Raises:
        TokenError: when the token is not a well-formed HS256 JWS signed with ``secret``.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("not a compact JWS")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        payload = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError("undecodable token") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise TokenError("token parts are not JSON objects")
    if header.get("alg") != "HS256":
        raise TokenError("unexpected algorithm")
    expected = hmac.new(secret, (parts[0] + "." + parts[1]).encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise TokenError("signature mismatch")
    return header, payload
