"""Shared fixtures: every test runs against its own sandbox hosts, which are always stopped afterwards."""

from __future__ import annotations

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


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SERVER_FIXTURES or any(item.get_closest_marker(m) for m in SERVER_MARKERS):
            item.add_marker(pytest.mark.server)
        # Under pytest-xdist (--dist loadgroup) the tests of a module that share a module- or class-scoped
        # fixture (the rehearsal cluster and its first rollout, ...) run on one worker, which builds it once.
        info = getattr(item, "_fixtureinfo", None)
        definitions = info.name2fixturedefs.values() if info is not None else ()
        if any(d and d[-1].scope in ("module", "class", "package") for d in definitions):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.partition("::")[0]))
    # Longest first, so that no worker starts a long group last while the other one idles: the rehearsal
    # cluster's module (minutes), then the end-to-end campaigns and notebooks, then other tests with a server,
    # then the rest (a stable sort: within each band, and within a module, the order is unchanged).
    items.sort(key=_band)


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
