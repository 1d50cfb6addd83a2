"""The wheel is the product: built from this tree, installed into a fresh virtual environment in a folder
outside the repository, ``octorunbook demo`` and ``octorunbook run`` work there — the runbooks come from
the package (``importlib.resources``), never from a checkout. This is what a Windows administrator does
with ``py -m pip install octorunbook-….whl`` or ``pipx install``; dependencies come from the package
index (pip's cache makes a second run quick)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from octorunbook.headless.runner import notebooks_dir

REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.wheel,
    pytest.mark.skipif(
        sys.platform != "linux", reason="a POSIX venv layout (bin/) and the sandbox's stand-ins"
    ),
]


def _clean_env(home: Path) -> dict[str, str]:
    """No hint of the checkout: no OCTORUNBOOK_NOTEBOOKS, no PYTHONPATH, no virtualenv of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCTORUNBOOK_", "PYTHON", "VIRTUAL_ENV"))}
    env["HOME"] = env.get("HOME", str(home))
    return env


def _run(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(argv)} → {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def test_the_package_finds_its_runbooks_through_importlib_resources() -> None:
    found = notebooks_dir()
    assert sorted(p.name for p in found.glob("0*.ipynb")) == [
        "01-import-certificate.ipynb",
        "02-verify-certificate.ipynb",
        "03-add-https-binding.ipynb",
        "04-renew-certificate.ipynb",
        "05-harden-tls.ipynb",
    ]
    # in a checkout the package's copy is the repository's notebooks/ itself: one source, no second copy
    assert (REPO / "octorunbook" / "notebooks").resolve() == (REPO / "notebooks").resolve()


# Among the 20 slowest (--durations, issue 28), by design: builds the wheel and installs it into a fresh
# venv outside the repository, then runs demo and run there: the point is a cold install, so nothing can be
# shared or kept warm.
def test_the_wheel_installed_outside_the_repository_runs_demo_and_run(tmp_path: Path) -> None:
    env = _clean_env(tmp_path)
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)], tmp_path, env)
    (wheel,) = dist.glob("octorunbook-*.whl")
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    _run(
        # --no-compile: pip would byte-compile every module of every dependency (JupyterLab's thousands) up
        # front; Python compiles the few a run imports as it imports them. The install is otherwise as is.
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", str(wheel)],
        tmp_path,
        env,
        timeout=1800,
    )
    where = _run(
        [str(venv / "bin" / "python"), "-c", "import octorunbook; print(octorunbook.__file__)"], work, env
    )
    assert where.stdout.strip().startswith(str(venv)), where.stdout

    octorunbook = str(venv / "bin" / "octorunbook")
    demo = _run(
        [octorunbook, "demo", "--dir", str(work / "sandbox"), "--audit-dir", str(work / "audit")], work, env
    )
    assert "NOTEBOOK_NOT_FOUND" not in demo.stdout + demo.stderr
    try:
        params = work / "params.yaml"
        params.write_text(
            yaml.safe_dump({"sandbox_dir": str(work / "sandbox"), "audit_dir": str(work / "audit-run")})
        )
        _run([octorunbook, "run", str(params)], work, env)
        executed = sorted(p.name for p in (work / "audit-run").rglob("*.ipynb"))
        assert any("_03-add-https-binding_" in name for name in executed), executed
    finally:
        subprocess.run(
            [octorunbook, "sandbox", "stop", str(work / "sandbox")],
            cwd=work,
            env=env,
            check=False,
            capture_output=True,
            timeout=120,
        )
