"""Test tiers by folder: each test is marked ``unit``, ``integration`` or ``e2e`` from the folder it lives in.

The folder decides (``support/tiers.py``), never a hand-written marker: ``-m unit`` runs what needs no network,
``-m "not e2e"`` what needs no deployment. A unit test that opens a network socket fails (move it to an
integration folder); a test marked with another tier than its folder's, or in a folder ``TIERS`` does not list,
fails collection. CONTRIBUTING.md ("Where a test goes") describes each folder.
"""

from __future__ import annotations

import socket
from typing import Any, Iterator

import pytest

from support.tiers import TIER_MARKERS, tier_of

# Fixtures every folder may use: debug_logs (a DEBUG log capture for the leak tests).
pytest_plugins = ["support.leaks"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item.path)
        declared = {mark.name for mark in item.iter_markers() if mark.name in TIER_MARKERS} - {tier}
        if declared:
            raise pytest.UsageError(
                f"{item.nodeid} is marked {', '.join(sorted(declared))} but lives in a {tier} folder: move it"
            )
        item.add_marker(tier)


_INET = (socket.AF_INET, socket.AF_INET6)


@pytest.fixture(autouse=True)
def _unit_tests_open_no_sockets(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In a unit folder, connecting or binding an inet socket fails the test (``responses`` mocks need none)."""
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    for name in ("connect", "connect_ex", "bind"):
        original = getattr(socket.socket, name)

        def refuse(sock: socket.socket, address: Any, *, _name: str = name, _original: Any = original) -> Any:
            if sock.family in _INET:
                # Closed here, since callers close only on OSError; pytest.fail raises a BaseException, which the
                # client's own error handling cannot swallow.
                sock.close()
                pytest.fail(f"a unit test called socket.{_name}({address!r}): put it in an integration folder")
            return _original(sock, address)

        monkeypatch.setattr(socket.socket, name, refuse)
    yield
