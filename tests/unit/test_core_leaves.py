"""The core's leaf modules stay leaves, so the request builder, auth and transport form no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vluna_client

PACKAGE = Path(vluna_client.__file__).parent


def _imports(module: str) -> set[str]:
    """Every intra-package module ``module`` imports, at any level (function-level and TYPE_CHECKING included)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module] if node.module else [a.name for a in node.names])
    return found


@pytest.mark.parametrize("leaf", ["_secret", "_headers", "_timeout", "_keys", "_attrs_methods"])
def test_leaves_import_nothing_but_the_error_types(leaf: str) -> None:
    # _attrs_methods holds the shared methods of the attrs classes and imports nothing of ours.
    assert _imports(leaf) <= {"_errors", "_attrs_methods"}
    assert not _imports("_attrs_methods")


def test_the_configuration_rules_need_only_the_error_types_and_the_header_rules() -> None:
    # The Django checks import them without the request builder, the transport or the client.
    assert _imports("_config") <= {"_errors", "_headers"}


def test_auth_and_signing_do_not_reach_back_into_the_request_builder() -> None:
    assert "_request" not in _imports("_auth")
    assert "_request" not in _imports("_signing")
    assert "_transport" not in _imports("_retry") | _imports("_call") | _imports("_lease")
