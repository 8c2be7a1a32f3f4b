"""Every ```python example in README.md and docs/**/*.md runs, as written, against a fresh local emulator.

Each run (one example, or several joined with ``<!-- continues -->``) is a separate Python process whose
environment holds the ``VLUNA_*`` variables of its own emulator, so ``ServiceClient.from_env()`` works in it.
Examples marked ``<!-- fragment: REASON -->`` are reported as skipped with their reason; see
tests/support/markdown_examples.py for the markers.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from support.markdown_examples import Example, MarkerError, examples, runs
from vluna_client.testing import Emulator, FakeLLM

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# Modules that come with an optional extra: an example importing one runs only where it is installed.
OPTIONAL_MODULES = {
    "flask",
    "django",
    "celery",
    "tqdm",
    "rich",
    "openai",
    "anthropic",
    "langchain_core",
    "langgraph",
    "dask",
    "distributed",
    "pyspark",
}
TIMEOUT = 120


def _all_runs() -> list[list[Example]]:
    return [group for page in PAGES for group in runs(page)]


RUNS = _all_runs()


def _id(group: list[Example]) -> str:
    return group[0].where(ROOT)


def _imported_modules(code: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _skip_unless_importable(group: list[Example]) -> None:
    for example in group:
        wanted = set(example.requires) | (_imported_modules(example.code) & OPTIONAL_MODULES)
        for module in sorted(wanted):
            if importlib.util.find_spec(module) is None:
                pytest.skip(f"{example.where(ROOT)} needs {module}, which is not installed")


def _plugin_registered() -> bool:
    eps = entry_points()
    group = eps.select(group="pytest11") if hasattr(eps, "select") else eps.get("pytest11", [])
    return any(ep.value == "vluna_client.testing.pytest_plugin" for ep in group)


def _run(cmd: list[str], cwd: Path, env: dict[str, str], label: str) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        pytest.fail(f"the example at {label} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def _clean_env() -> dict[str, str]:
    # The example must not pick up a developer's real deployment, token or provider key.
    return {k: v for k, v in os.environ.items() if not k.startswith(("VLUNA_", "OPENAI_", "ANTHROPIC_", "AZURE_"))}


@pytest.mark.parametrize("group", RUNS, ids=[_id(g) for g in RUNS])
def test_example_runs_as_written(group: list[Example], tmp_path: Path) -> None:
    first = group[0]
    if first.fragment:
        pytest.skip(f"fragment at {first.where(ROOT)}: {first.fragment}")
    _skip_unless_importable(group)
    # Join the run's examples in page order: later ones see the names earlier ones defined.
    script = "\n".join(f"# --- {e.where(ROOT)}\n{e.code}" for e in group)
    env = _clean_env()
    if first.pytest:
        module = tmp_path / "test_doc_example.py"
        module.write_text(script, encoding="utf-8")
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(module)]
        if not _plugin_registered():  # running from a source tree without the package installed
            cmd[3:3] = ["-p", "vluna_client.testing.pytest_plugin"]
        _run(cmd, tmp_path, env, _id(group))
        return
    program = tmp_path / "example.py"
    program.write_text(script, encoding="utf-8")
    # The provider SDKs read their endpoint from the environment: examples calling OpenAI or Anthropic as written
    # reach the fake provider (its default answer) instead of the internet.
    with Emulator() as emulator, FakeLLM() as provider:
        llm_env = {
            "OPENAI_BASE_URL": provider.openai_base_url,
            "OPENAI_API_KEY": "test-key",
            "ANTHROPIC_BASE_URL": provider.url,
            "ANTHROPIC_API_KEY": "test-key",
        }
        _run([sys.executable, str(program)], tmp_path, {**env, **emulator.env(), **llm_env}, _id(group))


def test_the_pages_have_examples_and_every_fragment_says_why() -> None:
    runnable = [g for g in RUNS if not g[0].fragment]
    fragments = [g[0] for g in RUNS if g[0].fragment]
    readme = [g for g in runnable if g[0].path.name == "README.md" and g[0].path.parent == ROOT]
    print(f"\n{sum(len(g) for g in runnable)} examples in {len(runnable)} runs; {len(fragments)} fragments")
    for example in fragments:
        print(f"  fragment {example.where(ROOT)}: {example.fragment}")
    # A parser that silently found nothing would make the parametrised test above pass vacuously.
    assert len(readme) >= 3
    assert len(runnable) - len(readme) >= 5
    assert all(e.fragment and e.fragment.strip() for e in fragments)


def test_markers_are_checked(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- fragment: needs a running Django project -->\n```python\nimport django\n```\n\n"
        "```python\nx = 1\n```\n<!-- continues -->\n```python\nassert x == 1\n```\n"
        "<!-- requires: flask -->\n<!-- pytest -->\n\n```py\ndef test_it(): pass\n```\n"
        "```sh\necho not python\n```\n",
        encoding="utf-8",
    )
    found = examples(page)
    assert [(e.line, e.fragment, e.continues, e.pytest, e.requires) for e in found] == [
        (2, "needs a running Django project", False, False, []),
        (6, None, False, False, []),
        (10, None, True, False, []),
        (16, None, False, True, ["flask"]),
    ]
    assert [len(g) for g in runs(page)] == [1, 2, 1]
    page.write_text("<!-- fragment -->\n```python\npass\n```\n", encoding="utf-8")
    with pytest.raises(MarkerError, match="must say why"):
        examples(page)
    page.write_text("<!-- fragmnet: typo -->\n```python\npass\n```\n", encoding="utf-8")
    with pytest.raises(MarkerError, match="unknown example marker"):
        examples(page)
