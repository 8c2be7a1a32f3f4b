"""The shape rules CONTRIBUTING states, checked on the source: no import cycles, no long hand-written functions.

Both read the code with :mod:`ast` only (nothing is imported), so they hold for every module, optional extras
included, and they run in the unit tier.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each checked package and the folder that holds it.
PACKAGES = {"vluna_client": ROOT / "src", "codegen": ROOT}
# Hand-written functions stay short enough to read in one screen; generated code is exempt (it is data-shaped).
MAX_FUNCTION_LINES = 60


def _module_files(package: str) -> dict[str, tuple[Path, bool]]:
    """Every module of ``package`` by dotted name, with its file and whether it is a package ``__init__``."""
    found: dict[str, tuple[Path, bool]] = {}
    home = PACKAGES[package]
    for path in sorted((home / package).rglob("*.py")):
        parts = list(path.relative_to(home).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, is_package)
    return found


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.Module, *, annotations: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, function-level ones included; ``if TYPE_CHECKING:`` blocks only when asked."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking_block(node) and not annotations:
            stack.extend(getattr(node, "orelse", []))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _import_graph(package: str, *, annotations: bool) -> dict[str, set[str]]:
    modules = _module_files(package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _import_nodes(tree, annotations=annotations):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _absolute(name, is_package, node)
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
@pytest.mark.parametrize("annotations", [False, True], ids=["runtime", "with-type-checking"])
def test_no_import_cycles(package: str, annotations: bool) -> None:
    assert _cycles(_import_graph(package, annotations=annotations)) == []


def test_cycle_finder_sees_a_cycle() -> None:
    # The checker itself must be able to fail.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _long_functions(root: Path) -> list[str]:
    long: list[str] = []
    for path in sorted(root.rglob("*.py")):
        if "_generated" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    return long


@pytest.mark.parametrize("folder", ["src", "codegen"])
def test_no_long_hand_written_functions(folder: str) -> None:
    assert _long_functions(ROOT / folder) == []
