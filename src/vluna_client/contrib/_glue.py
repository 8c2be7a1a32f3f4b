"""Framework-neutral pieces shared by the Flask and Django glue: settings, the client holder, identity, answers."""

from __future__ import annotations

import math
import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from .._client import ServiceClient
from .._errors import APIError, ConfigurationError, PaymentRequiredError, PermissionDeniedError, RateLimitError
from .._retry import Retrier, RetryPolicy
from .._timeout import parse_timeout
from .._transport import Transport
from .llm import MissingGateContextError

if TYPE_CHECKING:
    from .._result import Hint

#: A client, or a callable (no arguments) that builds one, as the Flask and Django glue accept it.
ClientSource = Union[ServiceClient, Callable[[], ServiceClient]]

#: The authorize hint that says the payer's funds do not cover the estimate (the debt is recorded all the same).
SHORTFALL_HINT = "funding.xusd_shortfall"

#: The four settings a service client needs, by their short name; the environment variable is ``VLUNA_<name>``.
REQUIRED_SETTINGS = ("SERVICE_BASE_URL", "REALM_ID", "SERVICE_KEY_ID", "SERVICE_KEY_SECRET")

Identity = tuple[str, str]


def setting(lookup: Callable[[str], Any], name: str) -> Any:
    """One setting: ``lookup(name)``, else the ``VLUNA_<name>`` environment variable; ``None`` when neither is set.

    An empty string counts as unset in both places, so ``VLUNA_REALM_ID=`` does not hide a missing value.
    """
    value = lookup(name)
    if value is None or value == "":
        value = os.environ.get("VLUNA_" + name) or None
    return value


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
        value = setting(lookup, name)
        if value is None:
            if name in REQUIRED_SETTINGS:
                missing.append(name)
            continue
        found[name] = value
    if missing:
        names = ", ".join(missing)
        raise ConfigurationError(f"vluna is not configured: set {names} in {where} or as VLUNA_* environment variables")
    return found


def build_client(
    settings: Mapping[str, Any],
    *,
    retry: Union[RetryPolicy, Retrier, None] = None,
    transport: Optional[Transport] = None,
) -> ServiceClient:
    """A :class:`ServiceClient` from resolved settings (``TIMEOUT`` is seconds, as a number or a numeric string)."""
    timeout = settings.get("TIMEOUT")
    return ServiceClient(
        base_url=settings["SERVICE_BASE_URL"],
        realm_id=settings["REALM_ID"],
        key_id=settings["SERVICE_KEY_ID"],
        key_secret=settings["SERVICE_KEY_SECRET"],
        timeout=None if timeout is None else parse_timeout(timeout, name="TIMEOUT"),
        retry=retry,
        transport=transport,
    )


# Clients handed to the glue by the application: theirs to close, never the glue's.
_GIVEN: weakref.WeakSet[ServiceClient] = weakref.WeakSet()


def client_factory(
    client: Optional[ClientSource],
    from_settings: Callable[[], ServiceClient],
    *,
    retry: Any = None,
    transport: Any = None,
    where: str,
) -> Callable[[], ServiceClient]:
    """How the glue gets its client: the one given, the given factory's, or one built from the settings.

    Raises:
        ConfigurationError: ``client`` is given together with ``retry`` or ``transport`` (those configure the
            client the glue builds itself), or is neither a client nor a callable.
    """
    if client is None:
        return from_settings
    if retry is not None or transport is not None:
        raise ConfigurationError(f"{where}: pass retry/transport to the client you give, or leave out the client")
    if isinstance(client, ServiceClient):
        _GIVEN.add(client)
        given = client
        return lambda: given
    if not callable(client):
        raise ConfigurationError(f"{where}: client must be a ServiceClient or a callable returning one")
    factory = client

    def build() -> ServiceClient:
        built = factory()
        if not isinstance(built, ServiceClient):
            raise ConfigurationError(
                f"{where}: the client factory returned {type(built).__name__}, not a ServiceClient"
            )
        return built

    return build


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
        """Forget the client (closing it, unless the application handed it over); the next :meth:`get` builds anew."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None and client not in _GIVEN:
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


def _hints(hints: Sequence[Hint]) -> list[dict[str, Any]]:
    return [{"type": hint.type, **dict(hint.fields)} for hint in hints]


def refusal_body(exc: APIError) -> dict[str, Any]:
    """The JSON body of a refusal (402, 403, 429): ``{"ok": false, "code", "message", "hints": [{"type", ...}]}``."""
    return {"ok": False, "code": exc.code, "message": exc.message, "hints": _hints(exc.hints)}


def retry_after_header(exc: RateLimitError) -> dict[str, str]:
    """``{"Retry-After": seconds}`` (whole seconds, rounded up) when the server said how long to wait, else ``{}``."""
    seconds = exc.retry_after
    if seconds is None or not math.isfinite(seconds):
        return {}
    return {"Retry-After": str(max(0, math.ceil(seconds)))}


def shortfall_body(hints: Sequence[Hint]) -> Optional[dict[str, Any]]:
    """The 402 body for an authorize whose hints report a funding shortfall, or ``None`` when there is none.

    The server lets such an authorize through (and records the debt if the work is committed); the glue refuses it
    instead only when asked to (``refuse_shortfall``).
    """
    if not any(hint.type == SHORTFALL_HINT for hint in hints):
        return None
    return {
        "ok": False,
        "code": "FUNDING.SHORTFALL",
        "message": "the balance does not cover this request",
        "hints": _hints(hints),
    }


#: Body of the 401 answer a gated view gives when the identity callable says nobody is signed in.
NO_IDENTITY_BODY: dict[str, Any] = {
    "ok": False,
    "code": "AUTH.UNAUTHORIZED",
    "message": "sign in to use this feature",
    "hints": [],
}


#: What the glue answers as JSON instead of letting it become a 500: Vluna's 402, 403 and 429 refusals, and a gated
#: model call that found no payer (nobody signed in).
ANSWERED = (PaymentRequiredError, PermissionDeniedError, RateLimitError, MissingGateContextError)


def refusal_answer(exc: BaseException) -> Optional[tuple[int, dict[str, Any], dict[str, str]]]:
    """``(status, body, headers)`` of the JSON answer for one of :data:`ANSWERED`, or ``None`` for anything else.

    402, 403 and 429 carry the server's code, message and hints (:func:`refusal_body`; 429 adds ``Retry-After``
    when the wait is known); a :class:`~vluna_client.contrib.llm.MissingGateContextError` answers 401 with
    :data:`NO_IDENTITY_BODY`, never with its message (meant for the developer, not for the caller).
    """
    if isinstance(exc, PaymentRequiredError):
        return 402, refusal_body(exc), {}
    if isinstance(exc, PermissionDeniedError):
        return 403, refusal_body(exc), {}
    if isinstance(exc, RateLimitError):
        return 429, refusal_body(exc), retry_after_header(exc)
    if isinstance(exc, MissingGateContextError):
        return 401, dict(NO_IDENTITY_BODY), {}
    return None
