"""What a change of the public API means for CHANGELOG.md: told after a regeneration, checked before a merge.

Commands::

    python -m codegen.api_changes report BEFORE AFTER [--changelog FILE]
    python -m codegen.api_changes check AFTER [--base REF | --base-file FILE] [--changelog FILE]

``report`` runs in ``nox -s codegen``: it prints every change from the snapshot committed before the run (BEFORE) to
the one just written (AFTER), breaking and additive, model fields included, and adds a stub entry for each change
the changelog's Unreleased section does not name yet, for the developer to turn into prose.

``check`` runs in ``nox -s api_diff``: it compares AFTER with a baseline, the snapshot of the last release (the
newest ``v*`` tag) or, before the first release, of the merge base with ``main``; ``--base`` or ``--base-file``
pick another one. It exits 1 when a breaking change is not named in the Unreleased section, and lists additive
changes as a note. A change is named when its place appears as the start of a code span in that section:
```Lease.open``` names a change of ``vluna_client.Lease.open``, ```gate.AuthorizeResponse``` one of the fields of
the model ``models.gate.AuthorizeResponse``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

from .api_surface import Change, classify

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = "api/surface.json"
STUB_HEADING = "### API changes (listed by `nox -s codegen`: say what each means for users, or move it above)"
_UNRELEASED = re.compile(r"^## \[Unreleased\][^\n]*\n(.*?)(?=^## |\Z)", re.M | re.S)


def main(argv: Optional[list[str]] = None) -> int:
    """Command line: ``report`` or ``check``; see the module docstring."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="print the changes from BEFORE to AFTER and add changelog stubs")
    rep.add_argument("before", type=Path)
    rep.add_argument("after", type=Path)
    rep.add_argument("--changelog", type=Path, default=ROOT / "CHANGELOG.md")
    chk = sub.add_parser("check", help="fail on a breaking change since the baseline that the changelog misses")
    chk.add_argument("after", type=Path)
    chk.add_argument("--base", help="a git ref whose api/surface.json is the baseline")
    chk.add_argument("--base-file", type=Path, help="a snapshot file to use as the baseline")
    chk.add_argument("--changelog", type=Path, default=ROOT / "CHANGELOG.md")
    args = parser.parse_args(argv)

    after = json.loads(args.after.read_text(encoding="utf-8"))
    if args.command == "report":
        report(json.loads(args.before.read_text(encoding="utf-8")), after, args.changelog)
        return 0
    if args.base_file is not None:
        base: Optional[dict[str, Any]] = json.loads(args.base_file.read_text(encoding="utf-8"))
        where = str(args.base_file)
    else:
        base, where = baseline(args.base)
    if base is None:
        print(f"note: nothing to compare with ({where}); only the snapshot's freshness was checked")
        return 0
    return check(base, after, args.changelog.read_text(encoding="utf-8"), where)


def subject(change: Change) -> str:
    """The name a changelog entry must show for ``change``: its place without the package prefix or ``()``."""
    where = change.where
    for prefix in ("vluna_client.", "models."):
        if where.startswith(prefix):
            where = where[len(prefix) :]
    return where[:-2] if where.endswith("()") else where


def unreleased(changelog: str) -> str:
    """The text of the changelog's ``## [Unreleased]`` section (empty when there is none)."""
    match = _UNRELEASED.search(changelog)
    return match.group(1) if match else ""


def named(change: Change, section: str) -> bool:
    """Whether the Unreleased section names the change's place in a code span."""
    return "`" + subject(change) in section


def stub_lines(changes: list[Change], section: str) -> list[str]:
    """One entry per change the section does not name yet (each place once)."""
    lines, seen = [], set()
    for change in changes:
        key = subject(change)
        if key in seen or named(change, section):
            continue
        seen.add(key)
        kind = "Breaking" if change.breaking else "Added"
        lines.append(f"- {kind}: `{key}`: {change.what}.")
    return lines


def add_stub(changelog: str, changes: list[Change]) -> str:
    """The changelog with stub entries for the unnamed changes, under the Unreleased section's first heading."""
    match = _UNRELEASED.search(changelog)
    if match is None:
        raise SystemExit("api_changes: CHANGELOG.md has no '## [Unreleased]' section")
    lines = stub_lines(changes, match.group(1))
    if not lines:
        return changelog
    body = match.group(1)
    if STUB_HEADING in body:
        # Below the existing stub heading and its blank line, above the entries already there.
        at = match.start(1) + body.index(STUB_HEADING) + len(STUB_HEADING) + 2
        return changelog[:at] + "\n".join(lines) + "\n" + changelog[at:]
    first = re.search(r"^### ", body, re.M)
    at = match.start(1) + (first.start() if first else len(body))
    return changelog[:at] + STUB_HEADING + "\n\n" + "\n".join(lines) + "\n\n" + changelog[at:]


def _git(*args: str) -> Optional[str]:
    git = shutil.which("git")
    if git is None:
        return None
    done = subprocess.run([git, *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def baseline(ref: Optional[str]) -> tuple[Optional[dict[str, Any]], str]:
    """The baseline snapshot and where it came from; ``None`` (with the reason) when there is none to read."""
    if ref is None:
        tag = _git("describe", "--tags", "--match", "v*", "--abbrev=0")
        if tag:
            ref = tag
        else:
            ref = _git("merge-base", "HEAD", "main")
            if ref is None:
                return None, "no release tag and no main branch to compare with"
    text = _git("show", f"{ref}:{SNAPSHOT}")
    if text is None:
        return None, f"{SNAPSHOT} cannot be read at {ref}"
    return json.loads(text), f"{SNAPSHOT} at {ref}"


def report(before: dict[str, Any], after: dict[str, Any], changelog: Optional[Path]) -> list[str]:
    """Print the changes; add stub entries to ``changelog``. Returns the printed lines."""
    changes = classify(before, after)
    out = [str(change) for change in changes] or ["the public API did not change"]
    if changelog is not None and changes:
        text = changelog.read_text(encoding="utf-8")
        updated = add_stub(text, changes)
        if updated != text:
            changelog.write_text(updated, encoding="utf-8")
            out.append(f"{changelog.name}: stub entries added under [Unreleased]; describe each change there")
    for line in out:
        print(line)
    return out


def check(base: dict[str, Any], after: dict[str, Any], changelog: str, where: str) -> int:
    """Print the changes since ``base``; 1 when a breaking change is not named in the Unreleased section."""
    changes = classify(base, after)
    section = unreleased(changelog)
    missing = [change for change in changes if change.breaking and not named(change, section)]
    breaking = [change for change in changes if change.breaking]
    additive = [change for change in changes if not change.breaking]
    print(f"compared with {where}: {len(breaking)} breaking, {len(additive)} additive")
    for change in breaking:
        print(f"{change}{'' if named(change, section) else '   <- not in CHANGELOG.md [Unreleased]'}")
    for change in additive:
        print(f"{change}{'' if named(change, section) else '   (note: worth a CHANGELOG entry)'}")
    if missing:
        names = ", ".join(f"`{subject(change)}`" for change in missing)
        print(f"breaking changes not acknowledged in CHANGELOG.md [Unreleased]: {names}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
