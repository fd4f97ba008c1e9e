"""The package's import structure, read from the source: every dependency between our own modules is
stated at the top of the importing module, nothing catches ImportError of our own code, there are no
import cycles, and the layers point one way (core code never imports the UI; what stands in for
Terraform never imports the benchmark that uses it).

Read with `ast`, not by importing: a function-local import is exactly what an import test would miss.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

from iacdemo.settings import REPO_ROOT

PROJECT_ROOTS = ("iacdemo", "train", "bench", "app")
SOURCES = sorted([*(REPO_ROOT / "iacdemo").rglob("*.py"), *(REPO_ROOT / "train").rglob("*.py"), REPO_ROOT / "app.py"])


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in SOURCES}


def is_project(name: str | None) -> bool:
    return bool(name) and name.split(".")[0] in PROJECT_ROOTS


def imports(tree: ast.AST) -> list[tuple[ast.stmt, str, bool]]:
    """(node, imported project module, inside a function?) for every import of our own code."""
    found: list[tuple[ast.stmt, str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((child, a.name, in_function) for a in child.names if is_project(a.name))
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and is_project(child.module):
                found.append((child, child.module, in_function))
                for alias in child.names:  # `from iacdemo.terraform import schema` imports a module too
                    if f"{child.module}.{alias.name}" in MODULES:
                        found.append((child, f"{child.module}.{alias.name}", in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


@lru_cache(maxsize=None)
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def where(path: Path, node: ast.stmt) -> str:
    shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    return f"{shown}:{node.lineno}: {ast.unparse(node)}"


def test_sources_are_found():
    assert len(MODULES) > 80 and "iacdemo.terraform.expressions" in MODULES and "app" in MODULES


def test_no_function_local_imports_of_project_modules():
    """A dependency stated inside a function hides it from the reader and hides import cycles."""
    local = [where(path, node) for path in SOURCES for node, _, in_function in imports(parsed(path)) if in_function]
    assert not local, "Import these at module top level:\n" + "\n".join(local)


def test_no_import_error_fallbacks_for_project_code():
    """Our own modules are always there: a fallback for a missing one is dead code that hides breakage."""
    guarded = []
    for path in SOURCES:
        for node in ast.walk(parsed(path)):
            if not isinstance(node, ast.Try):
                continue
            catches = {n.id for h in node.handlers for n in ast.walk(h.type or ast.Name("BaseException"))
                       if isinstance(n, ast.Name)}
            if catches & {"ImportError", "ModuleNotFoundError", "BaseException", "Exception"} and any(
                    imports(ast.Module(body=node.body, type_ignores=[]))):
                guarded.append(where(path, node.body[0]))
    assert not guarded, "ImportError fallbacks around our own modules:\n" + "\n".join(guarded)


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules importing it runs: the module itself and its packages' __init__s
    (a package's own parents are already being imported, so those edges are left out)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = set()
        for _, imported, _ in imports(parsed(path)):
            for candidate in [*_ancestors(imported), imported]:
                if candidate in MODULES and candidate != name and candidate not in _ancestors(name):
                    targets.add(candidate)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "Import cycles (move the shared values to a module both can import):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def _layer_violations(package: str, forbidden: str, modules: dict[str, Path] = MODULES) -> list[str]:
    bad = []
    for name, path in modules.items():
        if name == package or name.startswith(package + "."):
            bad += [where(path, node) for node, imported, _ in imports(parsed(path))
                    if imported == forbidden or imported.startswith(forbidden + ".")]
    return bad


def test_layer_check_sees_a_hidden_ui_import(tmp_path):
    source = tmp_path / "runner.py"
    source.write_text("def f():\n    from iacdemo.ui.state import AppContext\n    return AppContext\n")
    found = _layer_violations("iacdemo.training", "iacdemo.ui", {"iacdemo.training.runner": source})
    assert found == [f"{source}:2: from iacdemo.ui.state import AppContext"]
    assert not _layer_violations("iacdemo.ui", "iacdemo.evaluation", {"iacdemo.training.runner": source})


def test_core_packages_do_not_import_the_ui():
    """UI code only wires components to core functions, so nothing below it may need Gradio's layer."""
    core = sorted({name.split(".")[1] for name in MODULES if name.startswith("iacdemo.") and name != "iacdemo"}
                  - {"ui"})
    assert "training" in core and "evaluation" in core
    bad = [v for package in core for v in _layer_violations(f"iacdemo.{package}", "iacdemo.ui")]
    assert not bad, "Core modules importing the UI:\n" + "\n".join(bad)


def test_terraform_does_not_import_evaluation():
    """What stands in for Terraform is used by the benchmark harness, never the other way round."""
    bad = _layer_violations("iacdemo.terraform", "iacdemo.evaluation")
    assert not bad, "iacdemo.terraform importing iacdemo.evaluation:\n" + "\n".join(bad)
