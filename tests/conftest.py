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
