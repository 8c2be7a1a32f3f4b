"""System checks for ``settings.VLUNA``: ``manage.py check`` fails on missing or malformed settings.

Every message names the setting, never its value (the secret must not reach a terminal or a CI log).

- ``vluna.E001`` a required setting is missing from ``settings.VLUNA`` and the environment (not checked when
  ``CLIENT`` names the client; under :class:`~vluna_client.contrib.django.testing.EmulatorTestRunner` the
  emulator provides them);
- ``vluna.E002`` ``SERVICE_BASE_URL`` is not an absolute ASCII http(s) URL without whitespace, control characters,
  query or fragment;
- ``vluna.E003`` ``SERVICE_BASE_URL`` ends in ``/api/v1`` (the bearer-token surface; a path ending in neither
  prefix, such as a proxy's, is accepted);
- ``vluna.E004`` ``SERVICE_KEY_SECRET`` is not standard base64 (or is empty);
- ``vluna.E005`` ``IDENTITY`` is missing, cannot be imported or is not callable;
- ``vluna.E006`` ``VLUNA`` is not a dict;
- ``vluna.E007`` ``TIMEOUT`` is not a usable timeout: seconds (or a ``(connect, read)`` pair) that are finite, more
  than 0 and at most 600 (the client's rule, :func:`vluna_client.parse_timeout`);
- ``vluna.E008`` ``REALM_ID`` is not usable in an HTTP header (surrounding whitespace, control characters), or
  ``SERVICE_KEY_ID`` is not printable ASCII without commas or whitespace;
- ``vluna.W001`` ``VLUNA`` has a key this client does not know (a typo would otherwise be ignored).

E002, E003, E004, E007 and E008 call the rules the client's constructor applies (``vluna_client._config`` and
:func:`vluna_client.parse_timeout`), so the checks pass exactly when ``ServiceClient(...)`` would accept the value.
"""

from __future__ import annotations

from typing import Any, Optional

from django.core import checks
from django.utils.module_loading import import_string

from ..._config import check_key_id, config_header, decode_secret, normalize_base_url, refuse_other_surface
from ..._errors import ConfigurationError
from ..._timeout import parse_timeout
from .._glue import REQUIRED_SETTINGS, setting
from ._client import KNOWN_KEYS


def _value(configured: dict[str, Any], name: str) -> Optional[Any]:
    # The lookup the client built from these settings uses (resolve_settings): the checks see what it will see.
    return setting(configured.get, name)


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check ``settings.VLUNA`` (with the ``VLUNA_*`` environment as fallback); see the module docstring."""
    from django.conf import settings

    configured = getattr(settings, "VLUNA", None)
    if configured is None:
        configured = {}
    if not isinstance(configured, dict):
        return [checks.Error("settings.VLUNA must be a dict", id="vluna.E006")]
    errors: list[checks.CheckMessage] = []
    unknown = sorted(str(key) for key in configured if key not in KNOWN_KEYS)
    if unknown:
        errors.append(
            checks.Warning(
                f"settings.VLUNA has unknown keys: {', '.join(unknown)}",
                hint=f"known keys: {', '.join(sorted(KNOWN_KEYS))}",
                id="vluna.W001",
            )
        )
    # A client handed over in settings.VLUNA["CLIENT"] brings its own credentials.
    has_client = configured.get("CLIENT") is not None
    missing = [] if has_client else [name for name in REQUIRED_SETTINGS if _value(configured, name) is None]
    if missing:
        errors.append(
            checks.Error(
                f"vluna is not configured: {', '.join(missing)} missing",
                hint="set them in settings.VLUNA or as VLUNA_<NAME> environment variables",
                id="vluna.E001",
            )
        )
    errors += _check_url(_value(configured, "SERVICE_BASE_URL"))
    errors += _check_secret(_value(configured, "SERVICE_KEY_SECRET"))
    errors += _check_headers(configured)
    errors += _check_timeout(_value(configured, "TIMEOUT"))
    errors += _check_identity(configured.get("IDENTITY"))
    return errors


def _check_url(url: Optional[Any]) -> list[checks.CheckMessage]:
    if url is None:
        return []
    try:
        base_url = normalize_base_url(url, name="SERVICE_BASE_URL")
    except ConfigurationError as exc:
        return [checks.Error(str(exc), hint="e.g. https://<your-vluna>/mgt/v1", id="vluna.E002")]
    try:
        refuse_other_surface(base_url, "service", client="ServiceClient", name="SERVICE_BASE_URL")
    except ConfigurationError as exc:
        hint = "the /api/v1 surface is for end-user bearer tokens, not for a service key"
        return [checks.Error(str(exc), hint=hint, id="vluna.E003")]
    return []


def _check_secret(secret: Optional[Any]) -> list[checks.CheckMessage]:
    if secret is None:
        return []
    try:
        decode_secret(secret, name="SERVICE_KEY_SECRET")
    except ConfigurationError as exc:
        hint = "paste the secret exactly as issued; the value is not shown here"
        return [checks.Error(str(exc), hint=hint, id="vluna.E004")]
    return []


def _check_headers(configured: dict[str, Any]) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    realm_id, key_id = _value(configured, "REALM_ID"), _value(configured, "SERVICE_KEY_ID")
    try:
        if realm_id is not None:
            config_header("REALM_ID", realm_id)
    except ConfigurationError as exc:
        errors.append(checks.Error(str(exc), id="vluna.E008"))
    try:
        if key_id is not None:
            check_key_id(key_id, name="SERVICE_KEY_ID")
    except ConfigurationError as exc:
        errors.append(checks.Error(str(exc), id="vluna.E008"))
    return errors


def _check_timeout(timeout: Optional[Any]) -> list[checks.CheckMessage]:
    if timeout is None:
        return []
    try:
        parse_timeout(timeout, name="TIMEOUT")
    except ConfigurationError as exc:
        return [checks.Error(str(exc), id="vluna.E007")]
    return []


def _check_identity(target: Optional[Any]) -> list[checks.CheckMessage]:
    hint = "name a function (request) -> (principal_id, user_id) or None, reading your session or login system"
    if target is None:
        return [checks.Error('settings.VLUNA["IDENTITY"] is not set', hint=hint, id="vluna.E005")]
    if isinstance(target, str):
        try:
            target = import_string(target)
        except ImportError as exc:
            return [checks.Error(f'settings.VLUNA["IDENTITY"] cannot be imported: {exc}', hint=hint, id="vluna.E005")]
    if not callable(target):
        return [checks.Error('settings.VLUNA["IDENTITY"] is not callable', hint=hint, id="vluna.E005")]
    return []
