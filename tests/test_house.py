"""The house's shape, kept: no import circles between the package's modules, no module over the line budget.

Every import counts, including those inside functions and under ``TYPE_CHECKING``: an import hidden
in a function still ties the two modules' designs together.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "octorunbook"
MAX_LINES = 500
# Circles accepted for now (none: keep it that way).
KNOWN_CIRCLES: list[set[str]] = []


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                keep = len(parts) - node.level + (1 if path.name == "__init__.py" else 0)
                base = ".".join(parts[:keep] + ([node.module] if node.module else []))
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    # a module importing its own package (or itself) is no arrow between two modules
    return {t for t in targets if t in known and t != name and not name.startswith(t + ".")}


def circles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative enough for ~100)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_its_way_back_to_itself() -> None:
    known = modules()
    edges = {name: imports(name, path, known) for name, path in known.items()}
    unexpected = [sorted(c) for c in circles(edges) if c not in KNOWN_CIRCLES]
    assert unexpected == []


def test_the_circle_finder_sees_an_import_hidden_in_a_function(tmp_path: Path) -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    probe = tmp_path / "probe.py"
    probe.write_text("def f() -> None:\n    from .b import x\n")
    known = {"octorunbook.probe": probe, "octorunbook.b": probe}
    assert imports("octorunbook.probe", probe, known) == {"octorunbook.b"}


def test_no_module_is_over_the_line_budget() -> None:
    long = {
        name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
