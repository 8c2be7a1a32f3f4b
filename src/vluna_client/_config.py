"""The rules a client's configuration must meet: base URL, realm and header values, service key id and secret.

The client constructors apply them, and the Django system checks call the same functions (naming the setting
instead of the argument), so ``manage.py check`` refuses exactly what ``ServiceClient(...)`` would. A leaf: it
depends on the error types and the header rules only.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal
from urllib.parse import urlsplit

from ._errors import ConfigurationError, InputValidationError
from ._headers import header_value

#: The API surface a client talks to: ``service`` (service keys, ``/mgt/v1``) or ``bearer`` (``/api/v1``).
Surface = Literal["service", "bearer"]

#: The path every base URL of a surface normally ends in.
SURFACE_PREFIX: dict[Surface, str] = {"service": "/mgt/v1", "bearer": "/api/v1"}
_OTHER: dict[Surface, tuple[Surface, str]] = {
    "service": ("bearer", "BearerClient"),
    "bearer": ("service", "ServiceClient"),
}


def config_header(name: str, value: object) -> str:
    """A header value given as configuration (realm, user agent): the header rules, as a ConfigurationError."""
    try:
        return header_value(name, value)  # type: ignore[arg-type]  # header_value reports a non-string itself
    except InputValidationError as exc:
        raise ConfigurationError(exc.message) from None


def normalize_base_url(value: object, *, name: str = "base_url") -> str:
    """``value`` without surrounding spaces and trailing slashes, once it is an absolute http(s) URL.

    Args:
        value: The base URL as given.
        name: How it is named in the error (``"base_url"``, ``"SERVICE_BASE_URL"``).

    Raises:
        ConfigurationError: it is empty, has whitespace or control characters, is not ASCII, is not an absolute
            http(s) URL, or carries a query string or fragment. The message never shows the value.
    """
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{name} is required")
    url = value.strip(" ").rstrip("/")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        # urlsplit would silently drop CR, LF and tabs: a URL built from tainted input is refused instead.
        raise ConfigurationError(f"{name} must not contain whitespace or control characters")
    if not url.isascii():
        raise ConfigurationError(f"{name} must be ASCII (write an international domain name in its xn-- form)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{name} must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"{name} must not carry a query string or fragment")
    return url


def refuse_other_surface(base_url: str, surface: Surface, *, client: str, name: str = "base_url") -> None:
    """Refuse a normalized base URL that ends in the other surface's prefix (a key used against the wrong API).

    A base URL ending in neither prefix (a proxy path) is accepted: only the known mistake is refused.

    Args:
        base_url: What :func:`normalize_base_url` returned.
        surface: The surface of the client being configured.
        client: The client's class name, for the message.
        name: How the URL is named in the message.

    Raises:
        ConfigurationError: naming the client to use instead.
    """
    other, other_client = _OTHER[surface]
    if urlsplit(base_url).path.endswith(SURFACE_PREFIX[other]):
        raise ConfigurationError(
            f"{client} talks to {SURFACE_PREFIX[surface]}, but {name} ends in {SURFACE_PREFIX[other]}: "
            f"use {other_client} for it"
        )


def root_url(base_url: str, surface: Surface) -> str:
    """The deployment's root (where ``/health`` lives): a normalized base URL minus the surface prefix."""
    parts = urlsplit(base_url)
    prefix = SURFACE_PREFIX[surface]
    root_path = parts.path[: -len(prefix)] if parts.path.endswith(prefix) else ""
    return f"{parts.scheme}://{parts.netloc}{root_path}"


def check_key_id(key_id: object, *, name: str = "the service key id") -> str:
    """A service key id as the signature's ``keyId`` parameter can carry it.

    Raises:
        ConfigurationError: it is not non-empty printable ASCII without commas or whitespace.
    """
    if (
        not isinstance(key_id, str)
        or not key_id
        or not key_id.isascii()
        or not key_id.isprintable()
        or any(c in key_id for c in ", ")
    ):
        raise ConfigurationError(
            f"{name} must be non-empty printable ASCII without commas, whitespace or control characters"
        )
    return key_id


def decode_secret(secret_b64: object, *, name: str = "the service key secret") -> bytes:
    """Decode the distributed base64 secret strictly: a typo must fail here, not as a 401 later.

    Raises:
        ConfigurationError: it is not a string of standard base64, or decodes to nothing; the message never shows
            the value.
    """
    if not isinstance(secret_b64, str):
        raise ConfigurationError(f"{name} must be base64 text")
    try:
        raw = base64.b64decode(secret_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{name} is not valid base64") from None
    if not raw:
        raise ConfigurationError(f"{name} is empty")
    return raw
