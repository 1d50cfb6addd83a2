"""Shared fixtures: every test runs against its own sandbox hosts, which are always stopped afterwards."""

from __future__ import annotations

import ast
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The shared kits beside this file (nginxkit, certcorpus, tlsserver, fakes, ...) are imported by their bare names.
# tests/ is a package, so that tests in different folders may share a basename (tests/targets/nginx/test_store.py,
# tests/targets/windows/test_store.py); pytest then puts the repository root on sys.path, not tests/. tests/ goes
# last, so that a test folder named after a library (tests/acme) never shadows the library.
_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.append(_TESTS)

pytest_plugins = ("nginxkit",)  # the nginx fixtures: a real nginx under a private prefix

_HOME = Path(tempfile.mkdtemp(prefix="octorunbook-test-home-"))
_STARTED: list[Path] = []


def pytest_configure(config: pytest.Config) -> None:
    # Isolate every run (and nbval's kernels, which inherit the environment) from ~/.octorunbook.
    os.environ["OCTORUNBOOK_HOME"] = str(_HOME)
    os.environ.setdefault("OCTORUNBOOK_WAIT_SECONDS", "8")
    os.environ["OCTORUNBOOK_CHECK_RECORDS"] = (
        "1"  # every record a test produces must fit the published schema
    )
    os.environ.pop("OCTORUNBOOK_PFX_PASSWORD", None)


# `make check` (the edit loop) leaves out every test that starts a server or a long-lived process: these
# fixtures start one (a sandbox portal, nginx, pebble, JupyterLab, a rehearsal cluster), and the campaign
# markers below mean one. `make test` runs everything.
SERVER_FIXTURES = frozenset({"make_sandbox", "nginx", "make_pebble", "lab", "windows_host", "cluster"})
SERVER_MARKERS = ("slow", "browser", "nginx", "acme", "crash", "wheel")
# Modules whose tests start one without those fixtures (the slowest of `-m "not server"` before they were
# listed, --durations): papermill and its kernels, runbooks run inline, a portal of their own, TLS servers
# on loopback, the documentation site built with --strict, every read-only script of the doctor.
SERVER_MODULES = frozenset(
    {
        "tests/headless/test_papermill_hook.py",
        "tests/headless/test_runner.py",
        "tests/cli/test_posture.py",
        "tests/cli/test_main.py",
        "tests/evidence/test_check.py",
        "tests/evidence/posture/test_posture.py",
        "tests/test_redaction.py",
        "tests/test_docs.py",
        "tests/ops/test_doctor.py",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        module = item.nodeid.partition("::")[0]
        server = module in SERVER_MODULES or any(item.get_closest_marker(m) for m in SERVER_MARKERS)
        if server or fixtures & SERVER_FIXTURES:
            item.add_marker(pytest.mark.server)
    # Longest first, so that no pytest-xdist worker starts a long unit last while the other one idles: the
    # rehearsal cluster's module (minutes), then the end-to-end campaigns and notebooks, then other tests
    # with a server, then the rest (a stable sort: within each band, and within a module, the order holds).
    items.sort(key=_band)


@functools.cache
def _sharing_tests(root: Path, path: str) -> frozenset[str]:
    """The tests of a module that use (directly or through its other fixtures) a module- or class-scoped
    fixture of that module: they share what it builds, so they stay together. A class counts as a whole."""
    try:
        tree = ast.parse((root / path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return frozenset()

    def scoped(node: ast.FunctionDef) -> bool:
        return any(
            kw.arg == "scope" and isinstance(kw.value, ast.Constant) and kw.value.value in ("module", "class")
            for dec in node.decorator_list
            if isinstance(dec, ast.Call)
            for kw in dec.keywords
        )

    def uses(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
        return {a.arg for a in node.args.args + node.args.kwonlyargs}

    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    shared = {n.name for n in functions if isinstance(n, ast.FunctionDef) and scoped(n)}
    fixtures = {n.name: uses(n) for n in functions if not n.name.startswith("test")}
    grew = True
    while grew:  # fixtures that use a shared fixture are shared too
        more = {name for name, needs in fixtures.items() if needs & shared} - shared
        shared |= more
        grew = bool(more)
    if not shared:
        return frozenset()
    tests = {n.name for n in functions if n.name.startswith("test") and uses(n) & shared}
    tests |= {n.name for n in tree.body if isinstance(n, ast.ClassDef)}  # a class keeps its own fixtures
    return frozenset(tests)


@pytest.hookimpl(optionalhook=True)  # the sslyze step runs without pytest-xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under pytest-xdist, every test is its own unit of work, except two kinds that must stay on one worker:
    the notebooks' nbval cells (each notebook's cells run in order in one kernel, and 01 → 05 run in order on
    the default sandbox of ``OCTORUNBOOK_HOME``, as they do without xdist) and the tests of a module that use its module-
    or class-scoped fixture (the rehearsal cluster is built once, not once per worker; the module's other tests, with
    clusters of their own, go to whichever worker is free). pytest-xdist's own
    ``--dist loadgroup`` cannot do this with pytest 9: it renames ``item._nodeid``, which pytest 9 no longer
    reads, so its groups are silently ignored. Units go out in collection order (``--no-loadscope-reorder``
    keeps the longest-first order above)."""
    if config.getvalue("dist") not in ("load", "loadscope", "loadgroup", "loadfile"):
        return None  # each, worksteal: as asked
    from xdist.scheduler import LoadScopeScheduling

    class Grouped(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.partition("::")[0]
            if path.endswith(".ipynb"):  # 01 → 05 in order, on the one default sandbox of the worker's home
                return str(Path(path).parent)
            test = nodeid.partition("::")[2].partition("::")[0].partition("[")[0]
            return path if test in _sharing_tests(self.config.rootpath, path) else nodeid

    return Grouped(config, log)


def _band(item: pytest.Item) -> int:
    if "cluster" in getattr(item, "fixturenames", ()):
        return 0
    if item.nodeid.partition("::")[0].endswith(".ipynb") or any(
        item.get_closest_marker(m) for m in ("slow", "browser", "wheel", "crash")
    ):
        return 1
    return 2 if item.get_closest_marker("server") else 3


def pytest_unconfigure(config: pytest.Config) -> None:
    from octorunbook.targets.sandbox import Sandbox

    for meta in list(_HOME.rglob("sandbox.json")) + [p / "sandbox.json" for p in _STARTED]:
        if meta.is_file():
            Sandbox(meta.parent).stop_all()
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Create sandbox hosts (portal started); all are stopped when the test ends, pass or fail."""
    from octorunbook.targets.sandbox import Sandbox

    made: list[Sandbox] = []

    def factory(name: str = "sandbox", **kwargs: Any) -> Sandbox:
        sandbox = Sandbox(tmp_path / name)
        _STARTED.append(sandbox.root)
        made.append(sandbox)
        sandbox.init(**kwargs)
        return sandbox

    yield factory
    for sandbox in made:
        sandbox.stop_all()  # the portal, and nginx for the nginx front


@pytest.fixture
def sandbox(make_sandbox: Callable[..., Any]) -> Any:
    return make_sandbox()


@pytest.fixture
def params_for(tmp_path: Path) -> Callable[..., Any]:
    from octorunbook.params.core import Parameters

    def build(sandbox: Any, **overrides: Any) -> Parameters:
        base: dict[str, Any] = {"sandbox_dir": str(sandbox.root), "audit_dir": str(tmp_path / "audit")}
        base.update(overrides)
        return Parameters(**base)

    return build


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Each test starts with an empty secret registry (a test's password must not mask another's argv)."""
    from octorunbook.redaction import SECRETS

    SECRETS.clear()
    yield
    SECRETS.clear()


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Stand-in Windows executables (tests/fakes) installed, the environment pointing at them."""
    try:
        from fakes import install
    except ImportError:  # tests/ imported as a package
        from tests.fakes import install
    return install(tmp_path, monkeypatch)


@pytest.fixture
def runner() -> Any:
    from octorunbook.commands import CommandRunner

    return CommandRunner(timeout=60)
