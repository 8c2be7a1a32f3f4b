"""The tier rule of tests/conftest.py: every folder has a tier, unit tests are marked so and open no sockets."""

from __future__ import annotations

import socket

import pytest

from support.tiers import ROOT, TIERS


def test_every_folder_holding_tests_has_a_tier() -> None:
    folders = {path.relative_to(ROOT).parts[0] for path in ROOT.glob("*/**/test_*.py")}
    assert folders - {"support"} <= set(TIERS)
    assert not any(ROOT.glob("support/**/test_*.py")), "tests/support holds helpers, never tests"


def test_a_unit_test_is_marked_unit_by_its_folder(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is not None
    assert request.node.get_closest_marker("integration") is None


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_a_unit_test_cannot_connect_or_bind_an_inet_socket(family: socket.AddressFamily) -> None:
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        with pytest.raises(pytest.fail.Exception, match="integration folder"):
            sock.bind((host, 0))
        with pytest.raises(pytest.fail.Exception, match="integration folder"):
            sock.connect((host, 9))
    with pytest.raises(pytest.fail.Exception, match="integration folder"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
