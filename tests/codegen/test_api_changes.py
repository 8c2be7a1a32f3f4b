"""Regeneration that tells: ``nox -s codegen`` reports the API changes and stubs CHANGELOG entries for them, and
``nox -s api_diff`` fails on a breaking change the changelog does not acknowledge (additive ones pass, noted).

The sessions run ``python -m codegen.api_changes report|check``; these tests run the same commands on snapshots
derived from the committed ``api/surface.json``, with a copy of the changelog.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from support import codegen_tools

ROOT = Path(__file__).resolve().parents[2]
changes_tool = codegen_tools.load("api_changes")

CHANGELOG = """# Changelog

## [Unreleased]

### Added

- Something older.

## [0.0.9]

- `gate.AuthorizeResponse.lease_token` was renamed long ago (outside Unreleased, so it does not count).
"""


@pytest.fixture
def snapshots(tmp_path: Path) -> tuple[Path, Path]:
    """The committed snapshot, and one with a model field removed, another added and a public method removed."""
    before = json.loads((ROOT / "api" / "surface.json").read_text(encoding="utf-8"))
    after = copy.deepcopy(before)
    fields = after["models"]["gate.AuthorizeResponse"]["fields"]
    del fields["lease_token"]
    fields["lease_priority"] = {"default": None, "required": False, "type": "Optional[int]"}
    del after["public"]["Lease"]["members"]["cancel"]
    paths = tmp_path / "before.json", tmp_path / "after.json"
    for path, data in zip(paths, (before, after)):
        path.write_text(json.dumps(data), encoding="utf-8")
    return paths


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codegen.api_changes", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_report_prints_every_change_and_stubs_the_changelog(snapshots: tuple[Path, Path], tmp_path: Path) -> None:
    before, after = snapshots
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text(CHANGELOG, encoding="utf-8")
    done = run("report", str(before), str(after), "--changelog", str(changelog))
    assert done.returncode == 0, done.stderr
    assert "breaking: models.gate.AuthorizeResponse: field lease_token removed" in done.stdout
    assert "additive: models.gate.AuthorizeResponse: new optional field lease_priority" in done.stdout
    assert "breaking: vluna_client.Lease.cancel: method removed" in done.stdout
    text = changelog.read_text(encoding="utf-8")
    unreleased = text.split("## [0.0.9]")[0]
    assert changes_tool.STUB_HEADING in unreleased
    assert unreleased.index(changes_tool.STUB_HEADING) < unreleased.index("### Added")  # first, where it is seen
    assert "- Breaking: `gate.AuthorizeResponse`: field lease_token removed." in unreleased
    assert "- Breaking: `Lease.cancel`: method removed." in unreleased
    assert "- Something older." in unreleased
    # A second run adds nothing: every change is named now.
    run("report", str(before), str(after), "--changelog", str(changelog))
    assert changelog.read_text(encoding="utf-8") == text


def test_check_fails_on_an_unacknowledged_breaking_change(snapshots: tuple[Path, Path], tmp_path: Path) -> None:
    before, after = snapshots
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text(CHANGELOG, encoding="utf-8")
    done = run("check", str(after), "--base-file", str(before), "--changelog", str(changelog))
    assert done.returncode == 1
    assert "breaking changes not acknowledged" in done.stdout
    assert "`Lease.cancel`" in done.stdout
    assert "`gate.AuthorizeResponse`" in done.stdout  # the mention under 0.0.9 does not count

    # The developer describes them (here: the stubs codegen wrote, reworded around the same names).
    changelog.write_text(
        CHANGELOG.replace(
            "- Something older.",
            "- Something older.\n- `Lease.cancel` is gone: leave the block instead.\n"
            "- `gate.AuthorizeResponse` lost `lease_token` (use `lease_id`).",
        ),
        encoding="utf-8",
    )
    done = run("check", str(after), "--base-file", str(before), "--changelog", str(changelog))
    assert done.returncode == 0, done.stdout
    assert "2 breaking, 1 additive" in done.stdout


def test_check_passes_additive_changes_with_a_note(snapshots: tuple[Path, Path], tmp_path: Path) -> None:
    before, _ = snapshots
    grown = json.loads(before.read_text(encoding="utf-8"))
    grown["models"]["gate.AuthorizeResponse"]["fields"]["lease_priority"] = {
        "default": None,
        "required": False,
        "type": "Optional[int]",
    }
    after = tmp_path / "grown.json"
    after.write_text(json.dumps(grown), encoding="utf-8")
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text(CHANGELOG, encoding="utf-8")
    done = run("check", str(after), "--base-file", str(before), "--changelog", str(changelog))
    assert done.returncode == 0
    assert "new optional field lease_priority   (note: worth a CHANGELOG entry)" in done.stdout


def test_check_against_git_compares_with_the_merge_base_before_a_release() -> None:
    done = run("check", "api/surface.json")
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith("compared with api/surface.json at ") or done.stdout.startswith("note:")
