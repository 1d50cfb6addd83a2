"""nbval over the runbook templates (``pytest notebooks --nbval-lax``) with the same isolation as tests/.

* Audit records written by interactive runs land in ``notebooks/audit/`` (``audit_dir: audit``, relative
  to the kernel's folder); they are executed notebooks, not templates, so nbval must not collect them.
* Under pytest-xdist a notebook's cells stay together on one worker (``--dist loadgroup``).
* Run alone, this folder does not load ``tests/conftest.py``: without a home of its own, nbval's kernels
  would create (and leave running) a sandbox in ``~/.octorunbook``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

collect_ignore_glob = ["audit/*", "**/audit/*"]

_OWN_HOME: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _OWN_HOME
    if "OCTORUNBOOK_HOME" not in os.environ:  # tests/conftest.py (or the operator) already chose one
        _OWN_HOME = Path(tempfile.mkdtemp(prefix="octorunbook-nbval-home-"))
        os.environ["OCTORUNBOOK_HOME"] = str(_OWN_HOME)
        os.environ.setdefault("OCTORUNBOOK_WAIT_SECONDS", "8")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A notebook's cells run in order in one kernel: under pytest-xdist (``--dist loadgroup``, ``make test``)
    they all go to the same worker, one group per notebook; other tests are spread one by one."""
    for item in items:
        notebook = item.nodeid.partition("::")[0]
        if notebook.endswith(".ipynb"):
            item.add_marker(pytest.mark.xdist_group(Path(notebook).stem))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN_HOME is None:
        return
    from octorunbook.targets.sandbox import Sandbox

    for meta in _OWN_HOME.rglob("sandbox.json"):
        Sandbox(meta.parent).stop()
    shutil.rmtree(_OWN_HOME, ignore_errors=True)
