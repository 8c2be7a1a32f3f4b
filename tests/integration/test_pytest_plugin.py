"""The pytest plugin works for a user's suite: installed, its fixtures need no import or conftest."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest


def _plugin_registered() -> bool:
    eps = entry_points()
    group = eps.select(group="pytest11") if hasattr(eps, "select") else eps.get("pytest11", [])
    return any(ep.value == "vluna_client.testing.pytest_plugin" for ep in group)


@pytest.mark.skipif(not _plugin_registered(), reason="vluna-client is not installed (run through nox)")
def test_a_users_suite_gets_the_fixtures_from_the_entry_point(tmp_path: Path) -> None:
    (tmp_path / "test_user_app.py").write_text(
        textwrap.dedent(
            """
            def test_charges_once(vluna_emulator, vluna_service_client):
                gate = vluna_service_client.bind(principal_id="org", user_id="u")
                vluna_emulator.faults.fail_next(1, status=503)
                with gate.lease(feature_code="llm.chat") as lease:
                    lease.commit(quantity_minor=3)
                assert len(vluna_emulator.ledger.commits()) == 1
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
