"""System checks for ``settings.VLUNA``: ``manage.py check`` fails on missing or malformed settings.

Every message names the setting, never its value (the secret must not reach a terminal or a CI log).

- ``vluna.E001`` a required setting is missing from ``settings.VLUNA`` and the environment (not checked when
  ``CLIENT`` names the client; under :class:`~vluna_client.contrib.django.testing.EmulatorTestRunner` the
  emulator provides them);
- ``vluna.E002`` ``SERVICE_BASE_URL`` is not an absolute http(s) URL without query or fragment;
- ``vluna.E003`` ``SERVICE_BASE_URL`` does not end in ``/mgt/v1``;
- ``vluna.E004`` ``SERVICE_KEY_SECRET`` is not standard base64 (or is empty);
- ``vluna.E005`` ``IDENTITY`` is missing, cannot be imported or is not callable;
- ``vluna.E006`` ``VLUNA`` is not a dict;
- ``vluna.E007`` ``TIMEOUT`` is not a usable timeout: seconds (or a ``(connect, read)`` pair) that are finite, more
  than 0 and at most 600 (the client's rule, :func:`vluna_client.parse_timeout`);
- ``vluna.E008`` ``REALM_ID`` or ``SERVICE_KEY_ID`` is not usable in an HTTP header (whitespace, control chars);
- ``vluna.W001`` ``VLUNA`` has a key this client does not know (a typo would otherwise be ignored).
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any, Optional
from urllib.parse import urlsplit

from django.core import checks
from django.utils.module_loading import import_string

from ..._errors import ConfigurationError, InputValidationError
from ..._headers import header_value
from ..._timeout import parse_timeout
from .._glue import REQUIRED_SETTINGS
from ._client import KNOWN_KEYS


def _value(configured: dict[str, Any], name: str) -> Optional[Any]:
    value = configured.get(name)
    if value is None or value == "":
        value = os.environ.get("VLUNA_" + name) or None
    return value


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
    parts = urlsplit(url.strip()) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        return [
            checks.Error(
                "SERVICE_BASE_URL must be an absolute http(s) URL without query string or fragment",
                hint="e.g. https://<your-vluna>/mgt/v1",
                id="vluna.E002",
            )
        ]
    if not parts.path.rstrip("/").endswith("/mgt/v1"):
        return [
            checks.Error(
                "SERVICE_BASE_URL must end in /mgt/v1 (the service-key surface)",
                hint="the /api/v1 surface is for end-user bearer tokens, not for a service key",
                id="vluna.E003",
            )
        ]
    return []


def _check_secret(secret: Optional[Any]) -> list[checks.CheckMessage]:
    if secret is None:
        return []
    try:
        valid = isinstance(secret, str) and bool(base64.b64decode(secret.strip(), validate=True))
    except (binascii.Error, ValueError):
        valid = False
    if valid:
        return []
    return [
        checks.Error(
            "SERVICE_KEY_SECRET is not valid standard base64 (or is empty)",
            hint="paste the secret exactly as issued; the value is not shown here",
            id="vluna.E004",
        )
    ]


def _check_headers(configured: dict[str, Any]) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for name in ("REALM_ID", "SERVICE_KEY_ID"):
        value = _value(configured, name)
        if value is None:
            continue
        try:
            header_value(name.lower(), value)
        except InputValidationError:
            errors.append(checks.Error(f"{name} must be a non-empty string usable in an HTTP header", id="vluna.E008"))
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
