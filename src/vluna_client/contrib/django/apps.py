"""The Django app config (label ``vluna``): registers the settings checks."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class VlunaConfig(AppConfig):  # type: ignore[misc]  # Django ships no types
    """Registers the ``vluna.E0xx`` system checks of the ``VLUNA`` setting."""

    name = "vluna_client.contrib.django"
    label = "vluna"
    verbose_name = "Vluna billing and usage gate"

    def ready(self) -> None:
        """Register the settings checks with Django's check framework."""
        from ._checks import check_settings

        checks.register(check_settings)
