"""How an attempt proves who sends it: strategies applied to the final method, target, headers and body bytes."""

from __future__ import annotations

from typing import Optional, Protocol

from ._headers import header_value
from ._secret import Secret
from ._signing import ServiceKeySigner, content_digest


class Auth(Protocol):
    """Adds credentials to one attempt's headers; called again for every retry (fresh timestamp and nonce)."""

    def apply(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        """Set the credential headers for a request to ``target`` (path and query, as sent)."""
        ...


class ServiceKeyAuth:
    """SVC-AUTH: ``Content-Digest`` of the exact body bytes, then an HMAC over the canonical string."""

    __slots__ = ("_signer",)

    def __init__(self, signer: ServiceKeySigner) -> None:
        self._signer = signer

    @property
    def key_id(self) -> str:
        """The service key id (public; the secret never leaves the signer)."""
        return self._signer.key_id

    def apply(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        """Digest and sign; see :class:`Auth`."""
        headers["Content-Digest"] = content_digest(body)
        headers["Authorization"] = self._signer.authorization(method, target, headers)

    def __repr__(self) -> str:
        return f"ServiceKeyAuth(key_id={self._signer.key_id!r})"


class BearerAuth:
    """A platform bearer token from ``client.token.issue``."""

    __slots__ = ("_token",)

    def __init__(self, token: str, *, field: str = "access_token") -> None:
        self._token = Secret(header_value(field, token))

    def apply(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        """Send the token; see :class:`Auth`."""
        headers["Authorization"] = "Bearer " + self._token.reveal()

    def __repr__(self) -> str:
        return "BearerAuth(<redacted>)"


def call_auth(default: Auth, bearer_token: Optional[str]) -> Auth:
    """The strategy for one call: a per-call ``bearer_token`` (routes that take one) replaces the client's own."""
    if bearer_token is None:
        return default
    return BearerAuth(bearer_token, field="bearer_token")
