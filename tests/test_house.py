"""The house's shape, kept: rooms by role with their rule on the door, a small ground floor, no import
circles, no module over the line budget, and nobody reaching into another room's private parts.

Every import counts, including those inside functions and under ``TYPE_CHECKING``: an import hidden
in a function still ties the two modules' designs together.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "octorunbook"
MAX_LINES = 500
MAX_ROOT_MODULES = 9  # the ground floor: findings, commands, redaction, files, emit, ... (with __init__)
# Each room's rule, the first line of its ``__init__`` docstring. A new room is a decision: give it a rule here.
RULES = {
    "params": "Parameters: one parser for every door, one module per provider's fields; checks shape only, imports no target.",
    "certificates": "Certificates, pure: load, generate, inspect, judge and export with cryptography alone, knowing no target.",
    "acme": "ACME (RFC 8555) over certbot's `acme`: the protocol only; challenges are answered through a target part.",
    "targets": "Targets: the only code that knows a machine (drivers, hosts, the registry, the state home).",
    "evidence": "Evidence: read-only proofs from outside the target (TLS, the expiry check, posture); nothing here changes it.",
    "runbooks": "One module per runbook over the target protocols, the Run and its typed record, the undo engine.",
    "audit": "The audit directory: executed notebooks as tamper-evident records that never hold a secret.",
    "headless": "The papermill seam: runner, engine, redacting saves, the papermill hook, the kernel watch.",
    "ops": "Operations outside a run: schedule, fleet summary, node drain, doctor; no runbook imports them.",
    "ui": "The notebook face (forms, the reporter): the only code that imports ipywidgets or IPython.",
    "cli": "The command line: the verb table (main.py) and one module per verb, named after the verb.",
}
# params/ and certificates/ sit below every room that acts on a machine or drives a run: they import none of these.
PURE_ROOMS = ("params", "certificates")
UPSTAIRS = ("targets", "runbooks", "headless", "ui", "cli")
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


def _is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _base(name: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names, relative imports resolved against ``name``."""
    if not node.level:
        return node.module or ""
    parts = name.split(".")
    keep = len(parts) - node.level + (1 if path.name == "__init__.py" else 0)
    return ".".join(parts[:keep] + ([node.module] if node.module else []))


def _folder(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]


def private_reaches(name: str, path: Path, known: dict[str, Path]) -> list[str]:
    """Every place ``name`` reaches into another module's privates, as ``"<kind> <what>"``.

    A private module (any part of its name starts with ``_``) may be imported from inside its folder,
    subfolders included; a private name (``_x``, not ``__x__``) may not be imported from another module
    at all, nor reached as an attribute of an imported module (``certificates._new_key``).
    """
    found: list[str] = []
    aliases: dict[str, str] = {}
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            aliases.update({alias.asname: alias.name for alias in node.names if alias.asname})
        elif isinstance(node, ast.ImportFrom):
            base = _base(name, path, node)
            modules = [base]
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in known:
                    modules.append(target)
                    aliases[alias.asname or alias.name] = target
                elif _is_private(alias.name) and base in known and base != name:
                    found.append(f"private name {target}")
        for module in modules:
            parts = module.split(".")
            private = [i for i, part in enumerate(parts) if _is_private(part)]
            if module in known and private:
                room = ".".join(parts[: private[0]])
                if _folder(name, path) != room and not _folder(name, path).startswith(room + "."):
                    found.append(f"private module {module}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr) and isinstance(node.value, ast.Name):
            module = aliases.get(node.value.id)
            if module is not None and module != name:
                found.append(f"private name {module}.{node.attr}")
    return sorted(set(found))


def test_the_package_root_keeps_only_the_ground_floor() -> None:
    root = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(root) <= MAX_ROOT_MODULES, root


def test_no_module_reaches_into_another_modules_private_parts() -> None:
    known = modules()
    reaches = {name: found for name, path in known.items() if (found := private_reaches(name, path, known))}
    assert reaches == {}


def test_the_private_finder_sees_names_modules_and_attributes_but_lets_a_folder_use_its_own(
    tmp_path: Path,
) -> None:
    (tmp_path / "room").mkdir()
    (tmp_path / "room" / "sub").mkdir()
    files = {
        "room/__init__.py": "from ._inner import thing\n",
        "room/_inner.py": "_secret = 1\n",
        "room/sub/user.py": "from .._inner import thing\n",
        "room/load.py": "def _read() -> None: ...\n",
        "other.py": (
            "from room import load\n"
            "def f() -> None:\n"
            "    from room.load import _read\n"
            "    from room import _inner\n"
            "    load._read()\n"
        ),
    }
    known = {}
    for relative, text in files.items():
        path = tmp_path / relative
        path.write_text(text)
        known[".".join(Path(relative).with_suffix("").parts).removesuffix(".__init__")] = path

    found = {name: private_reaches(name, known[name], known) for name in known}

    assert found == {
        "room": [],
        "room._inner": [],
        "room.sub.user": [],
        "room.load": [],
        "other": ["private module room._inner", "private name room.load._read"],
    }


def test_every_room_states_its_rule_in_the_first_line_of_its_docstring() -> None:
    rooms = {path.parent.name: path for path in PACKAGE.glob("*/__init__.py")}
    first_lines = {
        room: (ast.get_docstring(ast.parse(path.read_text())) or "").splitlines()[:1]
        for room, path in rooms.items()
    }
    assert first_lines == {room: [rule] for room, rule in RULES.items()}


def test_params_and_certificates_import_nothing_from_the_rooms_above_them() -> None:
    known = modules()
    upstairs = tuple(f"octorunbook.{room}" for room in UPSTAIRS)
    reaches = {
        name: sorted(t for t in imports(name, path, known) if t.startswith(upstairs))
        for name, path in known.items()
        if name.split(".")[1:2] and name.split(".")[1] in PURE_ROOMS
    }
    assert {name: found for name, found in reaches.items() if found} == {}
