"""Every job of the project, each in its own virtualenv built from PyPI.

``nox`` (no arguments) runs the checks CI runs: lint, typecheck, specs, codegen_check and the tests on the oldest
and newest supported Pythons. ``nox -s demo`` runs the quickstart against the bundled emulator.
"""

from __future__ import annotations

import filecmp
import glob
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
GENERATED = ROOT / "src" / "vluna_client" / "_generated"
API_DOCS = ROOT / "docs" / "api.md"

# Pinned so that generated code is byte-stable whoever runs the generator.
CODEGEN_DEPS = ["datamodel-code-generator==0.89.0", "ruff==0.17.6", "jinja2==3.1.6", "pyyaml==6.0.3"]
LINT_DEPS = ["ruff==0.17.6"]
TYPE_DEPS = ["mypy==2.4.1", "types-requests", "pytest>=8"]
TEST_DEPS = ["pytest>=8", "responses>=0.25", "pyyaml>=6"]

nox.options.sessions = ["lint", "typecheck", "specs", "codegen_check", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True


def _python(version: str) -> str:
    """An interpreter for ``version``: on PATH if there, else the newest pyenv build of it."""
    # pyenv shims exist for every installed version but only run the active ones: check it really runs.
    if shutil.which(f"python{version}") and os.system(f"python{version} -c '' >/dev/null 2>&1") == 0:  # noqa: S605
        return f"python{version}"
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"))
    return found[-1] if found else version


TEST_PYTHONS = [_python(v) for v in ("3.9", "3.13")]
DEV_PYTHON = _python("3.11")


def _install_project(session: nox.Session, *deps: str) -> None:
    """Install deps and this tree; a reused virtualenv may hold an older build of the same version."""
    session.install(*deps, ".")
    session.install("--force-reinstall", "--no-deps", ".")


@nox.session(python=DEV_PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff lint and format check over everything we write and generate."""
    session.install(*LINT_DEPS)
    paths = ["src", "tests", "codegen", "noxfile.py", "examples", "benchmarks"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python=DEV_PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package, generated code included."""
    session.install(*TYPE_DEPS, "-e", ".")
    session.run("mypy", "--strict", "src/vluna_client")


@nox.session(python=DEV_PYTHON)
def specs(session: nox.Session) -> None:
    """Validate every OpenAPI document."""
    session.install("openapi-spec-validator==0.9.0")
    session.run("python", "codegen/validate_specs.py")


@nox.session(python=DEV_PYTHON)
def codegen(session: nox.Session) -> None:
    """Regenerate src/vluna_client/_generated and docs/api.md from openapi/."""
    session.install(*CODEGEN_DEPS)
    session.run("python", "codegen/generate.py")


def _diff(a: Path, b: Path) -> list[str]:
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
    out = [f"only in {cmp.left}: {n}" for n in cmp.left_only] + [f"only in {cmp.right}: {n}" for n in cmp.right_only]
    out += [f"differs: {Path(cmp.left) / n}" for n in cmp.diff_files]
    for sub in cmp.common_dirs:
        out += _diff(a / sub, b / sub)
    return out


@nox.session(python=DEV_PYTHON)
def codegen_check(session: nox.Session) -> None:
    """Fail when the committed generated code or docs differ from what the specs produce."""
    session.install(*CODEGEN_DEPS)
    with tempfile.TemporaryDirectory() as tmp:
        out, docs = Path(tmp) / "_generated", Path(tmp) / "api.md"
        session.run("python", "codegen/generate.py", "--out", str(out), "--docs", str(docs))
        problems = _diff(GENERATED, out)
        if not filecmp.cmp(API_DOCS, docs, shallow=False):
            problems.append(f"differs: {API_DOCS}")
    if problems:
        session.error("generated code is out of date; run `nox -s codegen`:\n  " + "\n  ".join(problems))
    session.log("generated code matches the specs")


@nox.session(python=TEST_PYTHONS)
def tests(session: nox.Session) -> None:
    """Unit, API and integration tests (integration runs the emulator on 127.0.0.1)."""
    _install_project(session, *TEST_DEPS)
    # Run from the installed wheel, not the source tree, so packaging mistakes fail here.
    session.run("pytest", "-q", "-p", "no:randomly", *session.posargs, env={"PYTHONPATH": ""})


@nox.session(python=DEV_PYTHON)
def demo(session: nox.Session) -> None:
    """The main job: start the local emulator and run the README quickstart against it."""
    _install_project(session)
    seed = ["--wallet", "org_demo=20000"]  # a small prepaid balance, so the funding hints show
    session.run("python", "-m", "vluna_client.testing", "run", *seed, "--", "python", "examples/quickstart.py")


@nox.session(python=DEV_PYTHON)
def e2e(session: nox.Session) -> None:
    """The integration scenario against the deployment named by VLUNA_* (or `-- --emulator` for a local one)."""
    _install_project(session, *TEST_DEPS)
    if "--emulator" in session.posargs:
        session.run("python", "-m", "vluna_client.testing", "run", "--", "pytest", "-q", "tests/e2e")
    else:
        session.run("pytest", "-q", "-rs", "tests/e2e")


@nox.session(python=DEV_PYTHON)
def bench(session: nox.Session) -> None:
    """Print import time, first-call cost per area and per-call overhead (figures, not pass/fail)."""
    _install_project(session)
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(python=DEV_PYTHON)
def bench_ingest(session: nox.Session) -> None:
    """Bulk ingest figures: naive loop vs `vluna usage ingest` (default and a --workers sweep), 429s, CLI memory."""
    _install_project(session)
    session.run("python", "benchmarks/ingest.py", *session.posargs)


if __name__ == "__main__":
    sys.exit("run with nox")
