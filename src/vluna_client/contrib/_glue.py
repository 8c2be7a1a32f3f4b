"""Framework-neutral pieces shared by the Flask and Django glue: settings, the client holder, identity, 402 body."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any, Callable, Optional

from .._client import ServiceClient
from .._errors import ConfigurationError, PaymentRequiredError
from .._transport import parse_timeout

#: The four settings a service client needs, by their short name; the environment variable is ``VLUNA_<name>``.
REQUIRED_SETTINGS = ("SERVICE_BASE_URL", "REALM_ID", "SERVICE_KEY_ID", "SERVICE_KEY_SECRET")

Identity = tuple[str, str]


def resolve_settings(
    lookup: Callable[[str], Any], *, where: str, optional: tuple[str, ...] = ("TIMEOUT",)
) -> dict[str, Any]:
    """Collect the client settings: ``lookup(name)`` first, then the ``VLUNA_<name>`` environment variable.

    Args:
        lookup: Returns the framework's value for a short name (``"REALM_ID"``), or ``None`` when unset.
        where: How the framework's own settings are named in messages, e.g. ``"app.config"``.
        optional: Short names that are read when present but never required.

    Raises:
        ConfigurationError: naming every missing setting at once (values are never shown).
    """
    found: dict[str, Any] = {}
    missing: list[str] = []
    for name in (*REQUIRED_SETTINGS, *optional):
        value = lookup(name)
        if value is None or value == "":
            value = os.environ.get("VLUNA_" + name) or None
        if value is None:
            if name in REQUIRED_SETTINGS:
                missing.append(name)
            continue
        found[name] = value
    if missing:
        names = ", ".join(missing)
        raise ConfigurationError(f"vluna is not configured: set {names} in {where} or as VLUNA_* environment variables")
    return found


def build_client(settings: Mapping[str, Any]) -> ServiceClient:
    """A :class:`ServiceClient` from resolved settings (``TIMEOUT`` is seconds, as a number or a numeric string)."""
    timeout = settings.get("TIMEOUT")
    return ServiceClient(
        base_url=settings["SERVICE_BASE_URL"],
        realm_id=settings["REALM_ID"],
        key_id=settings["SERVICE_KEY_ID"],
        key_secret=settings["SERVICE_KEY_SECRET"],
        timeout=None if timeout is None else parse_timeout(timeout, name="TIMEOUT"),
    )


class ClientHolder:
    """One lazily built :class:`ServiceClient` shared by every thread of the process.

    The client is thread-safe and drops pooled connections in a forked child by itself, so one per process (built
    before or after a ``gunicorn --preload`` fork) is right; building one per request would waste connections.
    """

    def __init__(self, factory: Callable[[], ServiceClient]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._client: Optional[ServiceClient] = None

    def get(self) -> ServiceClient:
        """The client, built on first use."""
        client = self._client
        if client is None:
            with self._lock:
                client = self._client
                if client is None:
                    client = self._client = self._factory()
        return client

    def reset(self) -> None:
        """Close and forget the client; the next :meth:`get` builds a new one from the current settings."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def check_identity(value: Any, *, source: str) -> Optional[Identity]:
    """Validate what an identity callable returned: ``(principal_id, user_id)`` or ``None`` (nobody signed in).

    Raises:
        ConfigurationError: the callable returned something else (a programming error, not a user error).
    """
    if value is None:
        return None
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(part, str) and part.strip() for part in value):
        return value[0], value[1]
    raise ConfigurationError(
        f"{source} must return (principal_id, user_id) as two non-empty strings, or None when nobody is signed in; "
        f"got {type(value).__name__}"
    )


def refusal_body(exc: PaymentRequiredError) -> dict[str, Any]:
    """The JSON body of a 402 answer: ``{"ok": false, "code", "message", "hints": [{"type", ...}]}``."""
    return {
        "ok": False,
        "code": exc.code,
        "message": exc.message,
        "hints": [{"type": hint.type, **dict(hint.fields)} for hint in exc.hints],
    }


#: Body of the 401 answer a gated view gives when the identity callable says nobody is signed in.
NO_IDENTITY_BODY: dict[str, Any] = {
    "ok": False,
    "code": "AUTH.UNAUTHORIZED",
    "message": "sign in to use this feature",
    "hints": [],
}
