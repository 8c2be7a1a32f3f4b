"""``manage.py test`` against the bundled emulator, with no Vluna credentials in the test environment.

In ``settings.py`` (or a test settings module)::

    TEST_RUNNER = "vluna_client.contrib.django.testing.EmulatorTestRunner"

The runner starts an :class:`~vluna_client.testing.Emulator` on 127.0.0.1 before anything else (the system checks
included, so ``vluna.E001`` cannot stop the run), points ``settings.VLUNA`` at it for the whole run (``IDENTITY``
and your other keys are kept; ``CLIENT`` and the credentials are replaced), and stops it afterwards. Tests reach
the emulator (its ledger, wallets, faults) with :func:`emulator`::

    from django.test import SimpleTestCase
    from vluna_client.contrib.django.testing import emulator

    class SummarizeTests(SimpleTestCase):
        def test_charges_once(self):
            self.client.post("/summarize", ...)
            self.assertEqual(len(emulator().ledger.commits()), 1)

``VLUNA_EMULATOR`` (a dict) in the settings is passed to the emulator as keyword arguments (e.g.
``{"price_per_unit_xusd": 5}``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from django.conf import settings
from django.test.runner import DiscoverRunner
from django.test.utils import override_settings

if TYPE_CHECKING:
    from ...testing import Emulator

__all__ = ["EmulatorTestRunner", "emulator"]

_running: list[Emulator] = []


def emulator() -> Emulator:
    """The emulator of the test run in progress.

    Raises:
        RuntimeError: no :class:`EmulatorTestRunner` is running (check ``TEST_RUNNER``).
    """
    if not _running:
        raise RuntimeError(
            'no Vluna emulator is running: set TEST_RUNNER = "vluna_client.contrib.django.testing.EmulatorTestRunner"'
        )
    return _running[-1]


class EmulatorTestRunner(DiscoverRunner):  # type: ignore[misc]  # Django ships no types
    """Django's test runner, with the Vluna emulator started first and ``settings.VLUNA`` pointed at it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._emulator: Optional[Emulator] = None
        self._override: Optional[override_settings] = None

    def setup_test_environment(self, **kwargs: Any) -> None:
        """Start the emulator and point ``settings.VLUNA`` at it (before the system checks run)."""
        super().setup_test_environment(**kwargs)
        from ...testing import Emulator

        options = getattr(settings, "VLUNA_EMULATOR", None) or {}
        self._emulator = Emulator(**options).start()
        _running.append(self._emulator)
        configured = getattr(settings, "VLUNA", None)
        kept = {k: v for k, v in (configured if isinstance(configured, dict) else {}).items() if k != "CLIENT"}
        credentials = {
            "SERVICE_BASE_URL": self._emulator.service_base_url,
            "REALM_ID": self._emulator.realm_id,
            "SERVICE_KEY_ID": self._emulator.key_id,
            "SERVICE_KEY_SECRET": self._emulator.key_secret,
        }
        # override_settings sends setting_changed, which makes get_client() build its client anew, for the emulator.
        self._override = override_settings(VLUNA={**kept, **credentials})
        self._override.enable()

    def teardown_test_environment(self, **kwargs: Any) -> None:
        """Put ``settings.VLUNA`` back and stop the emulator."""
        if self._override is not None:
            self._override.disable()
            self._override = None
        if self._emulator is not None:
            _running.remove(self._emulator)
            self._emulator.stop()
            self._emulator = None
        super().teardown_test_environment(**kwargs)
