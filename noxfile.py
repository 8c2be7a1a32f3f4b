"""Every job of the project, each in its own virtualenv built from PyPI.

``nox`` (no arguments) runs the checks CI runs: lint, typecheck, specs, codegen_check, api_diff, docs (strict
build), build (sdist and wheel, installed in a clean venv) and the tests on the oldest and newest supported
Pythons. ``nox -s demo`` runs the quickstart against the bundled emulator; ``nox -s chaos``, ``nox -s bench``,
``nox -s bench_ingest`` and ``nox -s bench_llm`` print figures; ``nox -s e2e`` runs against a deployment;
``nox -s spark`` runs the partition-ingest recipe on PySpark (needs Java) and prints its figures.
"""

from __future__ import annotations

import filecmp
import glob
import os
import re
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
GENERATED = ROOT / "src" / "vluna_client" / "_generated"
API_DOCS = ROOT / "docs" / "api.md"
EMULATOR_DATA = ROOT / "src" / "vluna_client" / "testing" / "_spec_data" / "operations.json"
API_SURFACE = ROOT / "api" / "surface.json"

# Pinned so that generated code is byte-stable whoever runs the generator.
CODEGEN_DEPS = ["datamodel-code-generator==0.89.0", "ruff==0.17.6", "jinja2==3.1.6", "pyyaml==6.0.3"]
LINT_DEPS = ["ruff==0.17.6"]
# mypy 1.19 is the last release that runs on, and checks for, Python 3.9, the oldest Python we support; the session
# runs on 3.9 so that pip also picks the dependency versions a 3.9 user gets (newer ones use 3.10-only syntax).
# responses and hypothesis: the tests are type-checked too (both ship their types).
TYPE_DEPS = [
    "mypy==1.19.1",
    "types-requests",
    "types-PyYAML",
    "jinja2==3.1.6",
    "pytest>=8",
    "responses>=0.25",
    "hypothesis>=6.100",
]
# jinja2, pyyaml: the codegen tests; hypothesis: the hostile-input property test
TEST_DEPS = ["pytest>=8", "responses>=0.25", "pyyaml>=6", "jinja2>=3.1", "hypothesis>=6.100"]
# Scale-out tests: clients pickled with cloudpickle, a Dask LocalCluster of worker processes (Dask needs 3.10+;
# on 3.9 those tests skip).
SCALE_TEST_DEPS = ["cloudpickle>=2.2", "dask[distributed]>=2024.1; python_version >= '3.10'"]
# The framework glue's tests run for real: the flask and django extras, and Celery (tests only: the helper never
# imports it). pip picks versions per interpreter (Django 4.2 on 3.9).
CONTRIB_EXTRAS = "[flask,django,openai,anthropic,langchain]"
# LangGraph is a test dependency only (the adapter needs langchain-core alone); it requires Python 3.10+, where
# its tests are skipped otherwise.
CONTRIB_TEST_DEPS = ["celery>=5.3", "langgraph>=0.2; python_version >= '3.10'"]
DOCS_DEPS = [
    "mkdocs==1.6.1",
    "mkdocs-material==9.8.2",
    "mkdocstrings==1.0.8",
    "mkdocstrings-python==2.0.11",
    "mkdocs-autorefs==1.4.5",
    "pymdown-extensions==13.1.2",
    "ruff==0.17.6",  # mkdocstrings formats the rendered signatures with it
]
BUILD_DEPS = ["build==1.6.1", "twine==7.0.0"]

nox.options.sessions = ["lint", "typecheck", "specs", "codegen_check", "api_diff", "docs", "build", "tests"]
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


def _install_project(session: nox.Session, *deps: str, extras: str = "") -> None:
    """Install deps and this tree (with ``extras``); a reused virtualenv may hold an older build of the same version."""
    session.install(*deps, "." + extras)
    session.install("--force-reinstall", "--no-deps", ".")


@nox.session(python=DEV_PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff lint and format check over everything we write and generate."""
    session.install(*LINT_DEPS)
    paths = ["src", "tests", "codegen", "noxfile.py", "examples", "benchmarks", "docs/_hooks"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python=TEST_PYTHONS[0])
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package (generated code included) and the code generator, then the tests, for 3.9.

    The tests are checked loosely (tests/mypy.ini: no annotations required, every body checked).
    """
    session.install(*TYPE_DEPS, "-e", "." + CONTRIB_EXTRAS)
    session.run("mypy", "--strict", "src/vluna_client", "codegen")
    session.run("mypy", "--config-file", "tests/mypy.ini", "tests")


@nox.session(python=DEV_PYTHON)
def specs(session: nox.Session) -> None:
    """Validate every OpenAPI document."""
    session.install("openapi-spec-validator==0.9.0")
    session.run("python", "-m", "codegen.validate_specs")


@nox.session(python=DEV_PYTHON)
def codegen(session: nox.Session) -> None:
    """Regenerate _generated/, docs/api.md, the API snapshot api/surface.json and the emulator's spec data."""
    # The snapshot imports the package, so its runtime dependencies are needed too.
    _install_project(session, *CODEGEN_DEPS)
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "surface.json"
        shutil.copy(API_SURFACE, before)
        session.run("python", "-m", "codegen.generate")
        session.run("python", "-m", "codegen.emulator_spec")
        # What the regeneration changed in the public API (breaking and additive, model fields included), with a
        # stub entry in CHANGELOG.md's Unreleased section for each change it does not name yet.
        session.run("python", "-m", "codegen.api_changes", "report", str(before), str(API_SURFACE))


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
    # The generator imports the package: the binding header names (codegen.spec) and the emulator data's TypedDicts
    # (codegen.emulator_spec, from vluna_client.testing._spec_data.spec_types).
    _install_project(session, *CODEGEN_DEPS)
    with tempfile.TemporaryDirectory() as tmp:
        out, docs = Path(tmp) / "_generated", Path(tmp) / "api.md"
        session.run("python", "-m", "codegen.generate", "--out", str(out), "--docs", str(docs))
        problems = _diff(GENERATED, out)
        if not filecmp.cmp(API_DOCS, docs, shallow=False):
            problems.append(f"differs: {API_DOCS}")
        emulator_data = Path(tmp) / "operations.json"
        session.run("python", "-m", "codegen.emulator_spec", "--out", str(emulator_data))
        if not filecmp.cmp(EMULATOR_DATA, emulator_data, shallow=False):
            problems.append(f"differs: {EMULATOR_DATA} (run `python -m codegen.emulator_spec`)")
    if problems:
        session.error("generated code is out of date; run `nox -s codegen`:\n  " + "\n  ".join(problems))
    session.log("generated code matches the specs")


@nox.session(python=DEV_PYTHON)
def api_diff(session: nox.Session) -> None:
    """Fail on a stale api/surface.json, or on a breaking API change that CHANGELOG.md does not acknowledge.

    First the surface is rebuilt from the specs and the hand-written code in a temporary tree and must equal the
    committed api/surface.json (else: run `nox -s codegen`). Then the committed snapshot is compared with the last
    release's (the newest v* tag; before the first release, the merge base with main; `-- --base REF` picks
    another): every breaking change must be named in a code span of the Unreleased section (the stubs `nox -s
    codegen` writes do it); additive changes pass, listed as a note.
    """
    _install_project(session, *CODEGEN_DEPS)
    with tempfile.TemporaryDirectory() as tmp:
        out, docs, surface = Path(tmp) / "_generated", Path(tmp) / "api.md", Path(tmp) / "surface.json"
        session.run(
            "python", "-m", "codegen.generate", "--out", str(out), "--docs", str(docs), "--surface", str(surface)
        )
        stale = session.run(
            "python",
            "-m",
            "codegen.api_surface",
            "diff",
            str(API_SURFACE),
            str(surface),
            silent=True,
            success_codes=[0, 1],
        )
    if stale and stale.strip():
        session.error(
            f"{API_SURFACE.relative_to(ROOT)} is out of date (run `nox -s codegen` and commit it):\n{stale.rstrip()}"
        )
    session.log("api/surface.json matches the code")
    session.run("python", "-m", "codegen.api_changes", "check", str(API_SURFACE), *session.posargs)


@nox.session(python=TEST_PYTHONS)
def tests(session: nox.Session) -> None:
    """Unit, API, integration and framework-glue tests (integration runs the emulator on 127.0.0.1)."""
    _install_project(session, *TEST_DEPS, *CONTRIB_TEST_DEPS, *SCALE_TEST_DEPS, extras=CONTRIB_EXTRAS)
    # Run from the installed wheel, not the source tree, so packaging mistakes fail here.
    session.run("pytest", "-q", "-p", "no:randomly", *session.posargs, env={"PYTHONPATH": ""})


@nox.session(python=DEV_PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site in strict mode: a broken link or API reference fails the build.

    The site goes to a temporary folder; `nox -s docs -- --site-dir site` keeps it, `nox -s docs -- serve` previews.
    """
    # The package and its flask/django extras, so the framework glue's reference pages can resolve what they use.
    _install_project(session, *DOCS_DEPS, extras=CONTRIB_EXTRAS)
    env = {"NO_MKDOCS_2_WARNING": "1"}
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", "--strict", *session.posargs[1:], env=env)
        return
    with tempfile.TemporaryDirectory() as site:
        session.run("mkdocs", "build", "--strict", "--site-dir", site, *session.posargs, env=env)


# Nothing that belongs to a checkout, a test run or a tool's cache may ship in a wheel.
_NOT_IN_WHEEL = re.compile(
    r"(^|/)(tests?|benchmarks|__pycache__|\.[a-z_]*cache|\.nox)(/|$)|\.py[co]$|(^|/)test_[^/]*\.py$"
)
_IN_SDIST = [
    "pyproject.toml",
    "README.md",
    "CHANGELOG.md",
    "LICENSE",
    "mkdocs.yml",
    "docs/index.md",
    "src/vluna_client/py.typed",
]
_SDIST_LIMIT = 5_000_000  # bytes: the sdist is source and specs, never data


def _check_dist(session: nox.Session, wheel: Path, sdist: Path, version: str) -> None:
    problems: list[str] = []
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    problems += [f"wheel holds {n}" for n in names if _NOT_IN_WHEEL.search(n)]
    if "vluna_client/py.typed" not in names:
        problems.append("wheel lacks vluna_client/py.typed")
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        problems.append("wheel lacks the LICENSE file")
    with tarfile.open(sdist) as tf:
        members = [m.name.split("/", 1)[1] for m in tf.getmembers() if "/" in m.name]
    problems += [f"sdist lacks {n}" for n in _IN_SDIST if n not in members]
    problems += [f"sdist holds {n}" for n in members if re.search(r"__pycache__|\.py[co]$|\.[a-z_]*cache(/|$)", n)]
    if sdist.stat().st_size > _SDIST_LIMIT:
        problems.append(f"sdist is {sdist.stat().st_size} bytes (limit {_SDIST_LIMIT})")
    for built in (wheel, sdist):
        if f"-{version}" not in built.name:
            problems.append(f"{built.name} does not carry __version__ {version}")
    if problems:
        session.error("the distributions are wrong:\n  " + "\n  ".join(problems))
    session.log(f"{wheel.name}: {len(names)} files; {sdist.name}: {len(members)} files, {sdist.stat().st_size} bytes")


def _console_scripts(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        entry_points = next((n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")), None)
        text = zf.read(entry_points).decode() if entry_points else ""
    section = re.search(r"^\[console_scripts\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    return [line.split("=")[0].strip() for line in section.group(1).splitlines() if "=" in line] if section else []


@nox.session(python=DEV_PYTHON)
def build(session: nox.Session) -> None:
    """Build the sdist and wheel into dist/, check their metadata and contents, and install the wheel cleanly."""
    session.install(*BUILD_DEPS)
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT))
    wheel, sdist = next(dist.glob("*.whl")), next(dist.glob("*.tar.gz"))
    session.run("twine", "check", "--strict", str(wheel), str(sdist))
    init = (ROOT / "src" / "vluna_client" / "_version.py").read_text()
    version = re.search(r'^__version__ = "([^"]+)"', init, re.M).group(1)  # type: ignore[union-attr]
    _check_dist(session, wheel, sdist, version)
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        session.run("python", "-m", "venv", str(venv))
        bin_dir = venv / ("Scripts" if sys.platform == "win32" else "bin")
        session.run(str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel), external=True)
        # From an empty folder, so nothing can be imported from the checkout by accident.
        with session.chdir(tmp):
            probe = f"import vluna_client; assert vluna_client.__version__ == {version!r}; print(vluna_client.__file__)"
            session.run(str(bin_dir / "python"), "-c", probe, external=True)
            for script in _console_scripts(wheel):
                session.run(str(bin_dir / script), "--help", external=True, silent=True)
                session.log(f"console script {script} --help works")


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
    # -rsxX: say why each test was skipped or expected to fail (known server issues, emulator gaps).
    pytest_args = ["pytest", "-q", "-p", "no:randomly", "-rsxX", "tests/e2e"]
    if "--emulator" in session.posargs:
        session.run("python", "-m", "vluna_client.testing", "run", "--", *pytest_args)
    else:
        session.run(*pytest_args)


@nox.session(python=DEV_PYTHON)
def differential(session: nox.Session) -> None:
    """The money scenario on the deployment named by VLUNA_* and on a fresh emulator: equal figures or a diff."""
    _install_project(session, *TEST_DEPS)
    session.run("pytest", "-q", "-p", "no:randomly", "-rs", "tests/e2e/test_differential.py", *session.posargs)


@nox.session(python=DEV_PYTHON)
def chaos(session: nox.Session) -> None:
    """2,000 gate loops on 16 threads under 20% random faults, then the ledger is checked (prints the figures).

    A small seeded run of the same scenario is part of the default tests; pass e.g. `-- --loops 5000 --rate 0.3`.
    `-- --deployment` runs it against the server named by VLUNA_* through a fault proxy and checks the server's
    database with psql (VLUNA_CHAOS_DSN); never in the default run. See CONTRIBUTING.md.
    """
    _install_project(session, "attrs")
    session.run("python", "tests/chaos/chaos_engine.py", *session.posargs)


@nox.session(python=DEV_PYTHON)
def bench(session: nox.Session) -> None:
    """Print the two speed targets' figures beside their baselines, then import and per-area costs and trickle times.

    Figures, not pass/fail. ``targets.py`` checks that the client and each bare baseline send the same request,
    alternates their samples and prints medians (see benchmarks/percall.py and benchmarks/coldstart.py).
    """
    _install_project(session)
    session.run("python", "benchmarks/targets.py", *session.posargs)
    session.run("python", "benchmarks/run.py")
    session.run("python", "benchmarks/trickle.py")


@nox.session(python=DEV_PYTHON)
def bench_llm(session: nox.Session) -> None:
    """LLM adapter figures: client CPU per gated call and per streamed chunk, beside the bare openai SDK."""
    _install_project(session, extras="[openai]")
    session.run("python", "benchmarks/llm.py", *session.posargs)


@nox.session(python=DEV_PYTHON)
def bench_ingest(session: nox.Session) -> None:
    """Bulk ingest figures: naive loop vs `vluna usage ingest` (default and a --workers sweep), 429s, CLI memory."""
    _install_project(session)
    session.run("python", "benchmarks/ingest.py", *session.posargs)


SPARK_DEPS = ["pyspark>=3.5", "pytest>=8"]


def _java(session: nox.Session) -> bool:
    """Whether a Java runtime is on PATH; as root on Debian, install the headless JRE first when it is not."""
    if shutil.which("java"):
        return True
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        session.log("no java on PATH: installing Debian's headless JRE (default-jre-headless)")
        session.run("apt-get", "update", "-q", external=True, success_codes=[0, 100])
        session.run("apt-get", "install", "-y", "-q", "default-jre-headless", external=True, success_codes=[0, 100])
    return shutil.which("java") is not None


@nox.session(python=DEV_PYTHON)
def spark(session: nox.Session) -> None:
    """PySpark in local mode: the partition-ingest recipe's tests (exactly once), then rows/s by partition count.

    Not in the default run: it needs a Java runtime (installed with apt when missing and run as root, else the
    session is skipped) and a PySpark download. `-- --rows 20000` sets the figures' row count.
    """
    if not _java(session):
        session.skip(
            "PySpark needs a Java runtime (java on PATH): install a JRE, e.g. apt-get install default-jre-headless"
        )
    _install_project(session, *SPARK_DEPS)
    # The installed package, and tests/ so Spark's Python workers can import the test jobs (support.scale_jobs).
    env = {"PYTHONPATH": str(ROOT / "tests"), "PYSPARK_PYTHON": session.virtualenv.bin + "/python"}
    session.run("pytest", "-q", "-p", "no:randomly", "-rsx", "tests/spark", env=env)
    session.run("python", "benchmarks/spark_ingest.py", *session.posargs, env=env)


if __name__ == "__main__":
    sys.exit("run with nox")
