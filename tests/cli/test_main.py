"""The CLI starts without the heavy libraries, and a real run ends with the audit head to keep."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
HEAVY = ("nbformat", "nbconvert", "papermill", "jupyter", "jupyter_client", "jupyter_core", "ipywidgets")


def imported_modules(*argv: str, exit_code: int | None = None) -> set[str]:
    """Top-level packages imported by ``python -X importtime ARGV`` (read from its import log)."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True)
    assert exit_code is None or done.returncode == exit_code, done.stdout + done.stderr[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", done.stderr, re.MULTILINE)
    assert names, done.stderr[-2000:]
    return {name.split(".")[0] for name in names}


def test_importing_the_cli_imports_no_notebook_library() -> None:
    assert not imported_modules("-c", "import octorunbook.cli.main") & set(HEAVY)


def test_octorunbook_help_imports_no_notebook_library_nor_cryptography() -> None:
    found = imported_modules("-m", "octorunbook.cli.main", "--help")
    assert not found & {*HEAVY, "cryptography", "yaml"}


def test_audit_list_imports_no_notebook_library(tmp_path: Path) -> None:
    from tests.audit.test_audit import store_several

    store_several(tmp_path, 2, html=False)
    assert not imported_modules("-m", "octorunbook.cli.main", "audit", "list", str(tmp_path)) & set(HEAVY)


def test_a_run_refused_at_the_parameter_check_imports_no_notebook_library(tmp_path: Path) -> None:
    """The answer to a bad parameter file (exit 2, before anything is written) does not wait ~1.5 s for
    nbformat's schema machinery: the notebook libraries are imported when a notebook is about to run."""
    params = _yaml(tmp_path / "p.yaml", sandbox_dir=str(tmp_path / "sandbox"), https_port=70000)
    found = imported_modules("-m", "octorunbook.cli.main", "run", str(params), exit_code=2)
    assert not found & set(HEAVY)


def test_the_help_of_a_command_is_complete_although_other_commands_are_stubs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from octorunbook.cli.main import main

    with pytest.raises(SystemExit):
        main(["sandbox", "init", "--help"])
    assert "--fail {" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["audit", "verify", "--help"])
    assert "--expect-head" in capsys.readouterr().out


def _yaml(path: Path, **values: Any) -> Path:
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))
    return path


# Among the 20 slowest (--durations, issue 28), by design: a whole `octorunbook run` (three notebooks) and
# its signed head.
def test_octorunbook_run_prints_a_signed_head_that_later_proves_the_trail(
    make_sandbox: Callable[..., Any], tmp_path: Path
) -> None:
    from octorunbook.audit.signing import SIGNING_KEY_ENV, generate_key_pair

    sandbox = make_sandbox()
    private, public, _ = generate_key_pair(tmp_path / "audit.key")
    audit = tmp_path / "audit"
    params = _yaml(tmp_path / "p.yaml", sandbox_dir=str(sandbox.root), audit_dir=str(audit))
    env = {**os.environ, SIGNING_KEY_ENV: str(private)}
    done = subprocess.run(
        [str(BIN / "octorunbook"), "run", str(params)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    head = re.search(r"audit head: ([0-9a-f]{64}) \(3 records", done.stdout)
    assert head, done.stdout
    verify = [str(BIN / "octorunbook"), "audit", "verify", str(audit), "--public-key", str(public)]
    proven = subprocess.run([*verify, "--expect-head", head.group(1)], capture_output=True, text=True)
    assert proven.returncode == 0, proven.stdout
    assert "signatures: all 3 lines signed" in proven.stdout


# Among the 20 slowest (--durations, issue 28), by design: a real run killed mid-change and the next real
# run.
def test_a_run_killed_mid_change_shows_as_interrupted_and_is_chained_by_the_next_run(
    make_sandbox: Callable[..., Any], tmp_path: Path
) -> None:
    from octorunbook.audit.store import prepare_audit_dir

    sandbox = make_sandbox(fail="hang")
    audit = tmp_path / "audit"
    params = _yaml(tmp_path / "p.yaml", sandbox_dir=str(sandbox.root), audit_dir=str(audit))
    runner = subprocess.Popen(
        [str(BIN / "octorunbook"), "run", str(params)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    partial = audit / ".in-progress" / f"03-add-https-binding-{runner.pid}.ipynb"
    try:
        deadline = time.monotonic() + 180
        while not partial.exists() and runner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert partial.exists(), "03 never started"
        time.sleep(1.0)  # into the change: 03 saves after each cell
    finally:
        os.killpg(runner.pid, signal.SIGKILL)  # the runner and its kernel, as a closed terminal would
        runner.wait()
    cli = [str(BIN / "octorunbook"), "audit"]
    listing = subprocess.run([*cli, "list", str(audit)], capture_output=True, text=True)
    assert re.search(r"03-add-https-binding .*interrupted", listing.stdout), listing.stdout
    verify = subprocess.run([*cli, "verify", str(audit)], capture_output=True, text=True)
    assert verify.returncode == 1 and f"interrupted      .in-progress/{partial.name}" in verify.stdout
    prepare_audit_dir(audit)  # what the next run does before it changes anything
    after = subprocess.run([*cli, "verify", str(audit)], capture_output=True, text=True)
    assert after.returncode == 0, after.stdout
    assert re.search(r"interrupted\s+\S+_03-add-https-binding_\S+\.ipynb: chained record", after.stdout)


def test_a_demo_that_fails_after_starting_its_sandbox_stops_it_and_says_so(tmp_path: Path) -> None:
    """Issue 24: NOTEBOOK_NOT_FOUND after `sandbox.init` used to leave the portal running, unsaid."""
    from octorunbook.targets.sandbox import Sandbox

    root = tmp_path / "sandbox"
    try:
        done = subprocess.run(
            [str(BIN / "octorunbook"), "demo", "--dir", str(root), "--audit-dir", str(tmp_path / "audit")],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
            env={**os.environ, "OCTORUNBOOK_NOTEBOOKS": str(tmp_path / "nonexistent")},
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert "✖ NOTEBOOK_NOT_FOUND" in done.stderr
        assert "stopped the sandbox portal it had started" in done.stderr
        assert Sandbox(root).portal_pid() is None
    finally:
        Sandbox(root).stop_all()


def test_a_failed_demo_leaves_a_portal_that_was_already_running_and_says_how_to_stop_it(
    sandbox: Any, tmp_path: Path
) -> None:
    done = subprocess.run(
        [
            str(BIN / "octorunbook"),
            "demo",
            "--dir",
            str(sandbox.root),
            "--audit-dir",
            str(tmp_path / "audit"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "OCTORUNBOOK_NOTEBOOKS": str(tmp_path / "nonexistent")},
    )
    assert done.returncode == 2 and "✖ NOTEBOOK_NOT_FOUND" in done.stderr
    assert f"octorunbook sandbox stop {sandbox.root}" in done.stderr
    assert sandbox.portal_pid() is not None  # it was the operator's, not the demo's
