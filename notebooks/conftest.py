"""nbval over the runbook templates (``pytest notebooks --nbval-lax``) with the same isolation as tests/.

* Audit records written by interactive runs land in ``notebooks/audit/`` (``audit_dir: audit``, relative
  to the kernel's folder); they are executed notebooks, not templates, so nbval must not collect them.
* Under pytest-xdist the notebooks' cells stay together, in order, on one worker (tests/conftest.py;
  ``make unit`` collects both folders).
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


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN_HOME is None:
        return
    from octorunbook.targets.sandbox import Sandbox

    for meta in _OWN_HOME.rglob("sandbox.json"):
        Sandbox(meta.parent).stop()
    shutil.rmtree(_OWN_HOME, ignore_errors=True)
