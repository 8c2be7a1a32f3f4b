"""The process-wide client built from ``settings.VLUNA`` (and the environment), reset when the setting changes.

``VLUNA["CLIENT"]`` (a :class:`ServiceClient`, a callable returning one, or the dotted path of either) replaces the
credentials; ``RETRY`` (a :class:`~vluna_client.RetryPolicy` or :class:`~vluna_client.Retrier`) and ``TRANSPORT``
(a transport, or a dotted path to one or to a class building one) configure the client built from them.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from ..._client import ServiceClient
from ..._errors import ConfigurationError
from .._glue import ClientHolder, Identity, build_client, client_factory, resolve_settings

#: Keys the ``VLUNA`` setting understands.
KNOWN_KEYS = frozenset(
    {
        "SERVICE_BASE_URL",
        "REALM_ID",
        "SERVICE_KEY_ID",
        "SERVICE_KEY_SECRET",
        "IDENTITY",
        "TIMEOUT",
        "CLIENT",
        "RETRY",
        "TRANSPORT",
        "REFUSE_SHORTFALL",
    }
)


def _named(value: Any, key: str) -> Any:
    """A setting's object: the value itself, or what its dotted path names."""
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError as exc:
        raise ImproperlyConfigured(f'settings.VLUNA["{key}"] cannot be imported: {exc}') from None


def vluna_settings() -> dict[str, Any]:
    """The ``VLUNA`` setting as a dict (empty when unset).

    Raises:
        ImproperlyConfigured: ``VLUNA`` is set but is not a dict.
    """
    value = getattr(settings, "VLUNA", None)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ImproperlyConfigured("settings.VLUNA must be a dict")
    return value


def _build() -> ServiceClient:
    configured = vluna_settings()
    retry = _named(configured.get("RETRY"), "RETRY")
    transport = _named(configured.get("TRANSPORT"), "TRANSPORT")
    if isinstance(transport, type) or (callable(transport) and not hasattr(transport, "send")):
        transport = transport()  # a class or a factory named by its dotted path
    try:
        factory = client_factory(
            _named(configured.get("CLIENT"), "CLIENT"),
            lambda: build_client(
                resolve_settings(configured.get, where="settings.VLUNA"), retry=retry, transport=transport
            ),
            retry=retry,
            transport=transport,
            where='settings.VLUNA["CLIENT"]',
        )
        return factory()
    except ConfigurationError as exc:
        raise ImproperlyConfigured(str(exc)) from None


_holder = ClientHolder(_build)


def get_client() -> ServiceClient:
    """The process-wide :class:`ServiceClient`, built on first use (thread-safe; fine across a fork).

    It is rebuilt after ``settings.VLUNA`` changes (``override_settings`` in tests).

    Raises:
        ImproperlyConfigured: a credential is missing from ``settings.VLUNA`` and the environment, or is malformed.
    """
    return _holder.get()


def _reset_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting == "VLUNA":
        _holder.reset()


setting_changed.connect(_reset_on_change, dispatch_uid="vluna_client.contrib.django.reset_client")


def identity_function() -> Callable[[Any], Optional[Identity]]:
    """The callable named by ``settings.VLUNA["IDENTITY"]`` (a dotted path, or the callable itself).

    Raises:
        ImproperlyConfigured: it is not set, cannot be imported or is not callable.
    """
    target = vluna_settings().get("IDENTITY")
    if target is None:
        raise ImproperlyConfigured(
            'a gated view ran but settings.VLUNA["IDENTITY"] is not set: name a function (request) -> '
            "(principal_id, user_id) that reads the signed-in payer from your session or login system"
        )
    if isinstance(target, str):
        try:
            target = import_string(target)
        except ImportError as exc:
            raise ImproperlyConfigured(f'settings.VLUNA["IDENTITY"] cannot be imported: {exc}') from None
    if not callable(target):
        raise ImproperlyConfigured('settings.VLUNA["IDENTITY"] is not callable')
    return target  # type: ignore[no-any-return]
